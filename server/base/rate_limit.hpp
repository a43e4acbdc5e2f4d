// Abuse limits that count over time or across connections: token buckets
// (per connection, per identity) and open connections per client address.
//
// Hand-written: a token bucket is a dozen lines, and none of the Debian
// packages we use has one. Everything here counts on this node only: the
// limits that hold over every node are in budgets.hpp (which falls back on
// these while Redis is unavailable).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace hearth {

using Clock = std::chrono::steady_clock;

// `rate` tokens a second, holding at most `burst`; starts full.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}

  // Takes a token if there is one (nullopt); otherwise takes nothing and
  // says how long until there will be one.
  std::optional<std::chrono::milliseconds> take(Clock::time_point now);
  // Whether the bucket is full at `now` (an idle key can be forgotten).
  bool full(Clock::time_point now) const;

 private:
  void refill(Clock::time_point now);

  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_{};
};

// One bucket per key (a user id), shared by every connection on this node.
// Thread-safe: the keys are spread over kStripes maps, each with its own
// lock, so that shards taking for different people rarely wait for each
// other (every frame takes). Buckets that have filled up again are
// forgotten now and then, so memory follows the active keys only.
class KeyedBuckets {
 public:
  static constexpr std::size_t kStripes = 64;

  KeyedBuckets(double rate, double burst) : rate_(rate), burst_(burst) {}
  std::optional<std::chrono::milliseconds> take(const std::string& key, Clock::time_point now);
  std::size_t size() const;

 private:
  struct alignas(64) Stripe {  // a cache line each: no false sharing between locks
    mutable std::mutex mutex;
    std::unordered_map<std::string, TokenBucket> buckets;
    std::size_t takes_since_sweep = 0;
  };

  double rate_;
  double burst_;
  std::array<Stripe, kStripes> stripes_;
};

// Open connections per client address. Thread-safe.
class ConnectionCounter {
 public:
  // Counts one more connection from `address`, unless `max` (0: no limit)
  // are open already.
  bool try_add(const std::string& address, std::size_t max);
  void remove(const std::string& address);
  std::size_t count(const std::string& address) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> open_;
};

}  // namespace hearth
