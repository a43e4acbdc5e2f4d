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
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace hearth {

struct Budget {
  std::string key;  // names no one: callers hash what identifies a person or address
  double rate = 1;  // a second
  double burst = 1;
};

class SharedBudgets {
 public:
  // An error (storage unavailable), or how long to wait (nullopt: taken).
  using Handler = std::function<void(std::error_code, std::optional<std::chrono::milliseconds> wait)>;
  virtual ~SharedBudgets() = default;
  // Takes one from each of `budgets` if every one has one left; otherwise
  // takes nothing and says how long until all will. `handler` may run on
  // any thread.
  virtual void take(std::vector<Budget> budgets, Handler handler) = 0;
  // Returns one to each of `budgets` (taken for something that turned out
  // not to count). Best effort: nothing is said of a failure.
  virtual void give_back(std::vector<Budget> budgets) = 0;
};

// GCRA's step for one key, in milliseconds: the key's "full again" time
// `tat` (0 when unknown) at `now`. Returns the new tat and the wait (0: the
// take fits). LocalBudgets uses it; RedisEngine's Lua does the same sums.
struct GcraStep {
  std::int64_t new_tat = 0;
  std::int64_t wait = 0;  // > 0: refused
};
GcraStep gcra_step(std::int64_t tat, std::int64_t now, const Budget& budget);
// The interval between two tokens of `budget`, in whole milliseconds (at least 1).
std::int64_t gcra_interval(const Budget& budget);

// In this process only: for the memory engine, which has one node.
// Thread-safe; keys that are full again are forgotten now and then.
class LocalBudgets final : public SharedBudgets {
 public:
  void take(std::vector<Budget> budgets, Handler handler) override;
  void give_back(std::vector<Budget> budgets) override;
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::int64_t> tats_;
  std::size_t takes_since_sweep_ = 0;
};

}  // namespace hearth
