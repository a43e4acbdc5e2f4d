// Rate budgets that every node shares: "at most B at once, then one every
// 1/R seconds" per key, however many nodes and connections the spending
// comes through.
//
// The algorithm is GCRA (the generic cell rate algorithm, a token bucket kept
// as one number: the time the bucket will be full again), so a key costs one
// value in Redis, with an expiry that forgets it once it is full. With the
// Redis engine a take is one Lua call (RedisEngine::take); with the memory
// engine (one node) it is LocalBudgets, the same arithmetic in this process.
// Hand-written: nothing packaged for Debian 12 offers a shared rate limiter,
// and the algorithm is twenty lines.
//
// Built on them: LeasedBudgets, which spends a person's message budget
// without a round trip per frame, and ConnectionCap, open connections per
// address counted over every node (SharedCounts).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/rate_limit.hpp"

namespace hearth {

struct Budget {
  std::string key;  // names no one: callers hash what identifies a person or address
  double rate = 1;  // a second
  double burst = 1;
};

// A Redis key for a budget of `kind` ("guess:address", "message"...) that
// names `value` (an address, a user id) by its HMAC under `secret`: Redis
// holds no address or user id, and the names cannot be reversed by trying
// addresses without the secret.
std::string budget_key(std::string_view secret, std::string_view kind, std::string_view value);

class SharedBudgets {
 public:
  // An error (storage unavailable), or how long to wait (nullopt: taken).
  using Handler = std::function<void(std::error_code, std::optional<std::chrono::milliseconds> wait)>;
  // Up to `want` taken at once: how many (at least one), and how long
  // until the budget would be full again had nothing else been taken (what
  // was taken is worth nothing after that: the budget has refilled); or,
  // when none could be, how long until one can.
  struct Grant {
    std::int64_t granted = 0;
    std::chrono::milliseconds wait{0};
    std::chrono::milliseconds full_in{0};
  };
  using GrantHandler = std::function<void(std::error_code, Grant)>;
  virtual ~SharedBudgets() = default;
  // Takes one from each of `budgets` if every one has one left; otherwise
  // takes nothing and says how long until all will. `handler` may run on
  // any thread.
  virtual void take(std::vector<Budget> budgets, Handler handler) = 0;
  // Takes as many of `budget` as it has, up to `want`. `handler` may run
  // on any thread.
  virtual void take_up_to(Budget budget, std::int64_t want, GrantHandler handler) = 0;
  // Returns `count` to each of `budgets` (taken for something that turned
  // out not to count, or not spent). Best effort: nothing is said of a
  // failure.
  virtual void give_back(std::vector<Budget> budgets, std::int64_t count) = 0;
  // A turn at something every node may do but one should (a room's
  // retention sweep): taken, unless anyone took `key`'s turn less than
  // `every` ago (by this caller's `every`: nodes may differ). `handler`:
  // nullopt when taken, or how long until it can be. May run on any thread.
  virtual void take_turn(std::string key, std::chrono::milliseconds every, Handler handler) = 0;
};

// GCRA's step for one key, in milliseconds: the key's "full again" time
// `tat` (0 when unknown) at `now`. Returns the new tat and the wait (0: the
// take fits). LocalBudgets uses it; RedisEngine's Lua does the same sums.
struct GcraStep {
  std::int64_t new_tat = 0;
  std::int64_t wait = 0;  // > 0: refused
};
GcraStep gcra_step(std::int64_t tat, std::int64_t now, const Budget& budget);
// The same for up to `want` at once: as many as fit (none: `wait` > 0).
struct GcraGrant {
  std::int64_t new_tat = 0;
  std::int64_t granted = 0;
  std::int64_t wait = 0;
};
GcraGrant gcra_take_up_to(std::int64_t tat, std::int64_t now, const Budget& budget, std::int64_t want);
// The interval between two tokens of `budget`, in whole milliseconds (at least 1).
std::int64_t gcra_interval(const Budget& budget);

// In this process only: for the memory engine, which has one node.
// Thread-safe; keys that are full again are forgotten now and then.
class LocalBudgets final : public SharedBudgets {
 public:
  void take(std::vector<Budget> budgets, Handler handler) override;
  void take_up_to(Budget budget, std::int64_t want, GrantHandler handler) override;
  void give_back(std::vector<Budget> budgets, std::int64_t count) override;
  void take_turn(std::string key, std::chrono::milliseconds every, Handler handler) override;
  std::size_t size() const;

 private:
  void sweep(std::int64_t now);  // under mutex_
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::int64_t> tats_;
  std::unordered_map<std::string, std::int64_t> turns_;  // when each key's turn was last taken
  std::size_t takes_since_sweep_ = 0;
};

// One shared budget per key (a person's user id), spent on this node from a
// lease: a few tokens taken from SharedBudgets at once (an eighth of the
// burst), so that a frame costs no round trip to Redis while the lease
// lasts. The next lease is asked for in the background once half of this
// one is spent, so a steady sender never waits; a key with nothing leased
// (its first frame here, or a budget nearly spent) waits for one round trip.
//
// Precision: tokens are taken before they are spent, and a node holds no
// more of them than the shared budget still counts as spent (as time
// refills the budget, unspent tokens lapse: at most one per interval left
// until the lease's "full again" time), so no key gets more than its budget
// over all nodes together. A node holds at most a lease and a half unspent,
// which the key cannot spend on another node until they lapse or are given
// back (idle for kLeaseIdle, at the next sweep()): someone on N nodes at
// once may be refused up to (N - 1) × 1.5 leases early. While SharedBudgets
// fails (Redis unavailable), each node counts on its own.
class LeasedBudgets {
 public:
  static constexpr auto kLeaseIdle = std::chrono::seconds(2);
  using Wait = std::optional<std::chrono::milliseconds>;  // nullopt: taken
  using Handler = std::function<void(Wait)>;
  // `key_of` names a key in SharedBudgets (budget_key).
  LeasedBudgets(SharedBudgets& shared, std::function<std::string(const std::string&)> key_of, double rate,
                double burst);
  struct Answer {
    enum class Kind { taken, refused, later } kind = Kind::taken;
    std::chrono::milliseconds wait{0};  // refused: how long until one
  };
  // Takes one for `key`. `later`: nothing is leased yet; `then` runs (once,
  // on any thread) with the answer. Otherwise `then` is not called.
  Answer take(const std::string& key, Handler then);
  // Gives back what leases idle for kLeaseIdle hold, and forgets them (as
  // take() does now and then, for the keys it meets).
  void sweep();
  std::int64_t lease_size() const { return lease_; }
  std::size_t size() const;

 private:
  struct Entry {
    std::int64_t tokens = 0;  // leased, not yet spent
    Clock::time_point full_at{};  // the last lease's "full again" time
    bool asking = false;      // a take_up_to is on its way
    std::vector<Handler> waiting;
    Clock::time_point refused_until{};
    Clock::time_point last_used{};
  };
  struct alignas(64) Stripe {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Entry> entries;
    std::size_t takes_since_sweep = 0;
  };
  Stripe& stripe_of(const std::string& key);
  // The tokens `entry` may still hold at `now`: the rest have lapsed (see
  // Precision).
  std::int64_t held(const Entry& entry, Clock::time_point now) const;
  void ask(const std::string& key);  // a lease for `key`; its entry has asking set
  void answered(const std::string& key, std::error_code error, SharedBudgets::Grant grant);
  // Forgets keys idle for kLeaseIdle; returns what their leases held.
  std::vector<std::pair<Budget, std::int64_t>> sweep(Stripe& stripe, Clock::time_point now);  // under its mutex

  SharedBudgets& shared_;
  const std::function<std::string(const std::string&)> key_of_;
  const double rate_;
  const double burst_;
  const std::int64_t lease_;
  const std::chrono::milliseconds interval_;  // between two tokens
  KeyedBuckets fallback_;
  std::array<Stripe, 16> stripes_;
  // What a lease's answer reaches: gone with this object (first, being
  // declared last), so that an answer after it (a Redis connection failing
  // what is in flight as the process ends) does nothing.
  std::shared_ptr<LeasedBudgets*> self_ = std::make_shared<LeasedBudgets*>(this);
};

// Counts every node shares: how many of something (open connections) each
// node holds per key. A node's count of a key lasts a while unless it is
// said again (renewed), so the counts of a node that died are forgotten.
class SharedCounts {
 public:
  using Handler = std::function<void(std::error_code, bool admitted)>;
  virtual ~SharedCounts() = default;
  // Sets this node's count of `key` to `count`, unless the other nodes'
  // counts of it and `count` together are more than `max`. `handler` may
  // run on any thread.
  virtual void claim(const std::string& key, std::size_t count, std::size_t max, Handler handler) = 0;
  // Sets (0: drops) and renews this node's counts; no answer.
  virtual void report(std::vector<std::pair<std::string, std::size_t>> counts) = 0;
  // How often a count must be renewed to last.
  virtual std::chrono::milliseconds renew_interval() const = 0;
};

// Reports in one room (docs/protocol.md 2.25), over every node: by one
// identity, `per_hour` at once and then one every hour / per_hour; from one
// client address, three times that (a household or a clinic behind one
// address), so that someone who comes back anonymous as a new person still
// reports from the same address. 0: no cap.
class ReportMeter {
 public:
  ReportMeter(SharedBudgets& budgets, std::string secret, std::uint32_t per_hour);
  void take(const std::string& room_id, const std::string& address, const std::string& user_id,
            SharedBudgets::Handler handler);

 private:
  SharedBudgets& budgets_;
  std::string secret_;
  std::uint32_t per_hour_;
};

// Open connections per client address, capped over every node. This
// node's count decides first (no round trip when this node alone is at the
// cap); then one claim in SharedCounts says whether the other nodes' leave
// room. Counts are set, not added, and every change is sent in the order it
// happened, so a lost answer is mended by the next change or renewal. While
// SharedCounts fails (Redis unavailable), this node's count alone decides.
class ConnectionCap {
 public:
  // At most `max` connections per address (0: no limit, and nothing
  // shared). `shared` null: this node alone (the memory engine). `key_of`
  // names an address in SharedCounts (budget_key).
  ConnectionCap(SharedCounts* shared, std::size_t max, std::function<std::string(const std::string&)> key_of);
  // Counts one more connection from `address` unless `max` are open
  // already; `admitted` runs once, on any thread (before this returns when
  // this node decides alone). Admitted, the connection is remove()d when it
  // ends.
  void try_add(const std::string& address, std::function<void(bool admitted)> admitted);
  void remove(const std::string& address);
  // Renews every count this node holds in SharedCounts: call it every
  // SharedCounts::renew_interval().
  void renew();
  std::size_t count(const std::string& address) const;

 private:
  struct Open {
    std::size_t count = 0;
    std::string key;  // in SharedCounts
  };
  // One down for `address`, and the new count said; under mutex_.
  void lower(const std::string& address);
  SharedCounts* const shared_;
  const std::size_t max_;
  const std::function<std::string(const std::string&)> key_of_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Open> open_;
  std::shared_ptr<ConnectionCap*> self_ = std::make_shared<ConnectionCap*>(this);  // as LeasedBudgets'
};

}  // namespace hearth
