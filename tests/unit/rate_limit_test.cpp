// The budgets: a node's token buckets (rate_limit.hpp), taken from every
// shard at once, the GCRA every node shares, and the leases that spend it
// without a round trip per frame (budgets.hpp).
#include "base/rate_limit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/budgets.hpp"

namespace hearth {
namespace {

// Four threads (as four shards) take from one person's bucket and from
// others' at once: the one bucket gives exactly its burst, and each other
// key its own.
TEST(KeyedBuckets, ThreadsTakingAtOnceGetExactlyTheBurst) {
  KeyedBuckets buckets(0.001, 100);
  const auto now = Clock::now();
  std::atomic<int> shared_taken{0}, own_taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        if (!buckets.take("pat", now)) ++shared_taken;
        if (!buckets.take("thread-" + std::to_string(t) + "-" + std::to_string(i % 50), now)) ++own_taken;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(shared_taken.load(), 100);
  EXPECT_EQ(own_taken.load(), 4000) << "200 keys of 20 takes each, all within their burst";
  EXPECT_EQ(buckets.size(), 201u);
}

TEST(Gcra, ABurstThenOneEveryInterval) {
  const Budget budget{"k", 1.0 / 12, 5};  // 5 at once, then one every 12 s
  std::int64_t tat = 0;
  const std::int64_t now = 1'000'000;
  for (int i = 0; i < 5; ++i) {
    const auto step = gcra_step(tat, now, budget);
    ASSERT_EQ(step.wait, 0) << i;
    tat = step.new_tat;
  }
  const auto refused = gcra_step(tat, now, budget);
  EXPECT_EQ(refused.wait, 12'000);
  EXPECT_EQ(gcra_step(tat, now + 12'000, budget).wait, 0);
  EXPECT_EQ(gcra_step(tat, now + 11'999, budget).wait, 1);
}

TEST(LocalBudgets, TakesFromAllOrNoneAndGivesBack) {
  LocalBudgets budgets;
  const Budget room{"room", 0.001, 3}, address{"address", 0.001, 1};
  std::optional<std::chrono::milliseconds> wait;
  const auto take = [&](std::vector<Budget> which) {
    budgets.take(std::move(which), [&](std::error_code error, std::optional<std::chrono::milliseconds> w) {
      EXPECT_FALSE(error);
      wait = w;
    });
    return !wait;
  };
  EXPECT_TRUE(take({room, address}));
  EXPECT_FALSE(take({room, address})) << "the address's one is spent";
  EXPECT_GT(wait->count(), 0);
  // The refusal took nothing from the room: two more are left.
  EXPECT_TRUE(take({room}));
  EXPECT_TRUE(take({room}));
  EXPECT_FALSE(take({room}));
  budgets.give_back({room, address}, 1);
  EXPECT_TRUE(take({room, address}));
}

TEST(Gcra, UpToSomeAtOnceTakesWhatIsLeft) {
  const Budget budget{"k", 10, 6};  // 6 at once, then one every 100 ms
  const std::int64_t now = 1'000'000;
  auto grant = gcra_take_up_to(0, now, budget, 4);
  EXPECT_EQ(grant.granted, 4);
  EXPECT_EQ(grant.wait, 0);
  grant = gcra_take_up_to(grant.new_tat, now, budget, 4);
  EXPECT_EQ(grant.granted, 2) << "two were left";
  const auto none = gcra_take_up_to(grant.new_tat, now, budget, 4);
  EXPECT_EQ(none.granted, 0);
  EXPECT_EQ(none.wait, 100);
  EXPECT_EQ(gcra_take_up_to(grant.new_tat, now + 250, budget, 4).granted, 2) << "refilled, one every 100 ms";
}

// SharedBudgets as Redis would be: this process's, counting the calls
// (round trips) and answering on another thread.
class CountingBudgets final : public SharedBudgets {
 public:
  void take(std::vector<Budget> budgets, Handler handler) override { local_.take(std::move(budgets), std::move(handler)); }
  void take_up_to(Budget budget, std::int64_t want, GrantHandler handler) override {
    ++round_trips;
    if (fail) return handler(std::make_error_code(std::errc::connection_refused), {});
    std::thread([this, budget = std::move(budget), want, handler = std::move(handler)]() mutable {
      local_.take_up_to(std::move(budget), want, std::move(handler));
    }).join();
  }
  void give_back(std::vector<Budget> budgets, std::int64_t count) override { local_.give_back(std::move(budgets), count); }
  void take_turn(std::string key, std::chrono::milliseconds every, Handler handler) override {
    local_.take_turn(std::move(key), every, std::move(handler));
  }
  std::atomic<int> round_trips{0};
  bool fail = false;

 private:
  LocalBudgets local_;
};

// Takes one for `key`, waiting for the answer if it comes later: whether
// it was taken.
bool take_one(LeasedBudgets& budgets, const std::string& key) {
  std::optional<LeasedBudgets::Wait> later;
  const auto answer = budgets.take(key, [&](LeasedBudgets::Wait wait) { later = wait; });
  if (answer.kind == LeasedBudgets::Answer::Kind::later) {
    EXPECT_TRUE(later) << "CountingBudgets answers before take_up_to returns";
    return later && !*later;
  }
  return answer.kind == LeasedBudgets::Answer::Kind::taken;
}

std::string same_name(const std::string& key) { return "hearth:budget:message:" + key; }

TEST(LeasedBudgets, AFrameCostsNoRoundTripWhileTheLeaseLasts) {
  CountingBudgets shared;
  LeasedBudgets budgets(shared, same_name, 0.001, 60);  // 60 at once, then hardly any
  ASSERT_EQ(budgets.lease_size(), 7);
  int taken = 0;
  for (int i = 0; i < 60; ++i) taken += take_one(budgets, "pat");
  EXPECT_EQ(taken, 60) << "the whole burst, lease by lease";
  EXPECT_LE(shared.round_trips.load(), 60 / 7 + 2) << "one round trip a lease, not one a frame";
  EXPECT_FALSE(take_one(budgets, "pat")) << "the 61st";
  const int after_refusal = shared.round_trips.load();
  const auto refused = budgets.take("pat", [](LeasedBudgets::Wait) { ADD_FAILURE() << "answered now"; });
  EXPECT_EQ(refused.kind, LeasedBudgets::Answer::Kind::refused);
  EXPECT_GT(refused.wait.count(), 0);
  EXPECT_EQ(shared.round_trips.load(), after_refusal) << "a refusal is remembered until its wait is over";
  EXPECT_TRUE(take_one(budgets, "someone else"));
}

TEST(LeasedBudgets, TokensLeasedLongAgoLapseAsTheBudgetRefills) {
  CountingBudgets shared;
  LeasedBudgets budgets(shared, same_name, 10, 160);  // 160 at once, then one every 100 ms
  ASSERT_EQ(budgets.lease_size(), 20);
  ASSERT_TRUE(take_one(budgets, "pat"));  // a lease of 20: 19 left here
  // Once the shared budget is full again (the lease's 20 refilled after 2 s),
  // the 19 still held here are worth nothing: spending them too would give
  // 179 at once.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  int taken = 0;
  while (take_one(budgets, "pat")) ++taken;
  EXPECT_LE(taken, 161) << "the burst, and at most one refilled meanwhile";
  EXPECT_GE(taken, 160);
}

TEST(LeasedBudgets, NodesSharingOneBudgetGetNoMoreThanItTogether) {
  CountingBudgets shared;
  // Three nodes, one person spread over them, taking in turn.
  std::vector<std::unique_ptr<LeasedBudgets>> nodes;
  for (int n = 0; n < 3; ++n) nodes.push_back(std::make_unique<LeasedBudgets>(shared, same_name, 0.001, 60));
  int taken = 0;
  for (int i = 0; i < 300; ++i) taken += take_one(*nodes[static_cast<std::size_t>(i % 3)], "pat");
  EXPECT_EQ(taken, 60) << "not 60 a node";
}

TEST(LeasedBudgets, WithoutTheSharedBudgetEachNodeCountsOnItsOwn) {
  CountingBudgets shared;
  shared.fail = true;
  LeasedBudgets budgets(shared, same_name, 0.001, 5);
  int taken = 0;
  for (int i = 0; i < 20; ++i) taken += take_one(budgets, "pat");
  EXPECT_EQ(taken, 5) << "this node's own bucket: the burst, then nothing";
}

}  // namespace
}  // namespace hearth
