// Checking guesses of room passcodes (the hash itself: passcode_hash.hpp).
//
// Guessing is what a passcode has to survive. PasscodeChecker makes each
// guess spend from three budgets every node shares (budgets.hpp): the
// room's, the client address's and the identity's, so that neither
// reconnecting (a new anonymous identity each time) nor spreading over nodes
// buys more guesses; and it runs the key derivation on a few worker threads
// of its own, never on a shard's, so that guessing slows no other room.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/budgets.hpp"
#include "domain/passcode_hash.hpp"

namespace hearth {

// Passcode guesses (docs/protocol.md 1.12): per client address and per
// identity, five at once and then one every 12 seconds; per room, twenty at
// once and then one every 3 seconds.
inline constexpr double kGuessRate = 1.0 / 12;
inline constexpr double kGuessBurst = 5;
inline constexpr double kGuessRoomRate = 1.0 / 3;
inline constexpr double kGuessRoomBurst = 20;
// Derivations queued or running at once; past it a guess is refused
// (RATE_LIMITED) rather than waited for.
inline constexpr std::size_t kMaxQueuedDerivations = 32;

class PasscodeChecker {
 public:
  enum class Verdict { match, wrong, limited, busy, unavailable, failed };
  using Done = std::function<void(Verdict, std::chrono::milliseconds retry_after)>;

  // `workers` threads derive keys; 0 derives on the calling thread (for the
  // fuzzers, which must stay on one thread). `secret` keys the hashes that
  // stand for addresses and identities in the budgets' names.
  PasscodeChecker(SharedBudgets& budgets, unsigned workers, std::string secret);
  ~PasscodeChecker();
  PasscodeChecker(const PasscodeChecker&) = delete;
  PasscodeChecker& operator=(const PasscodeChecker&) = delete;

  // Spends a guess for room `room_id` from `address` by `user_id`; if one is
  // left, compares `guess` with `stored` (hash_passcode's output). `done`
  // runs once, on any thread.
  void check(const std::string& room_id, const std::string& address, const std::string& user_id, std::string guess,
             std::string stored, Done done);
  // Waits for the derivations under way. For shutdown.
  void stop();

 private:
  void derive(std::string guess, std::string stored, Done done);
  std::string key(std::string_view kind, std::string_view value) const;

  SharedBudgets& budgets_;
  std::unique_ptr<boost::asio::thread_pool> pool_;
  const std::string secret_;
  std::atomic<std::size_t> queued_{0};
};

}  // namespace hearth
