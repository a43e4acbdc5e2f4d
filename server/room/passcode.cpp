#include "room/passcode.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "base/fault.hpp"

namespace hearth {

PasscodeChecker::PasscodeChecker(SharedBudgets& budgets, unsigned workers, std::string secret)
    : budgets_(budgets),
      pool_(workers > 0 ? std::make_unique<boost::asio::thread_pool>(workers) : nullptr),
      secret_(std::move(secret)) {}

PasscodeChecker::~PasscodeChecker() { stop(); }

void PasscodeChecker::stop() {
  if (pool_) pool_->join();
}

std::string PasscodeChecker::key(std::string_view kind, std::string_view value) const {
  return budget_key(secret_, "guess:" + std::string(kind), value);
}

void PasscodeChecker::check(const std::string& room_id, const std::string& address, const std::string& user_id,
                            std::string guess, std::string stored, Done done) {
  std::vector<Budget> budgets{{key("room", room_id), kGuessRoomRate, kGuessRoomBurst},
                              {key("address", address), kGuessRate, kGuessBurst},
                              {key("identity", user_id), kGuessRate, kGuessBurst}};
  // Taken before the derivation, so that parallel guesses cannot all pass;
  // given back for the right passcode, so that only wrong guesses count
  // (a group behind one address all joining at once is not guessing).
  budgets_.take(budgets, [this, budgets, guess = std::move(guess), stored = std::move(stored),
                          done = std::move(done)](std::error_code error,
                                                  std::optional<std::chrono::milliseconds> wait) mutable {
    if (error) return done(Verdict::unavailable, {});
    if (wait) return done(Verdict::limited, *wait);
    derive(std::move(guess), std::move(stored), [this, budgets, done = std::move(done)](Verdict verdict,
                                                                                        std::chrono::milliseconds retry) {
      if (verdict == Verdict::match || verdict == Verdict::busy) budgets_.give_back(budgets, 1);
      done(verdict, retry);
    });
  });
}

void PasscodeChecker::derive(std::string guess, std::string stored, Done done) {
  auto work = [this, guess = std::move(guess), stored = std::move(stored), done = std::move(done)] {
    Verdict verdict = Verdict::failed;
    fault::contain(fault::Where::loop, [&] { verdict = passcode_matches(guess, stored) ? Verdict::match : Verdict::wrong; },
                   [] {});
    if (pool_) queued_.fetch_sub(1, std::memory_order_relaxed);
    done(verdict, {});
  };
  if (!pool_) return work();
  if (queued_.fetch_add(1, std::memory_order_relaxed) >= kMaxQueuedDerivations) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    return done(Verdict::busy, std::chrono::milliseconds(1000));
  }
  boost::asio::post(*pool_, std::move(work));
}

}  // namespace hearth
