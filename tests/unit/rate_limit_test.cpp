// The budgets: a node's token buckets (rate_limit.hpp), taken from every
// shard at once, and the GCRA every node shares (budgets.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "budgets.hpp"
#include "rate_limit.hpp"

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
  budgets.give_back({room, address});
  EXPECT_TRUE(take({room, address}));
}

}  // namespace
}  // namespace hearth
