// The log follower's state machine (server/domain/log_follower.hpp), driven without
// an engine or sockets: each input's actions, written as short words.
#include "domain/log_follower.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hearth {
namespace {

using Words = std::vector<std::string>;

std::string word(const LogFollower::Action& action) {
  using F = LogFollower;
  if (const auto* read = std::get_if<F::Read>(&action)) return "read after " + std::to_string(read->after);
  if (const auto* apply = std::get_if<F::Apply>(&action)) return "apply " + std::to_string(apply->entry.seq);
  if (const auto* skip = std::get_if<F::Skip>(&action)) {
    return "skip to " + std::to_string(skip->to) +
           (skip->why == F::Skip::Why::gap_not_in_log ? " (gap)" : " (log starts later)");
  }
  if (std::holds_alternative<F::LoadCheckpoint>(action)) return "load checkpoint";
  if (std::holds_alternative<F::AdoptCheckpoint>(action)) return "adopt checkpoint";
  if (std::holds_alternative<F::RetryLater>(action)) return "retry later";
  if (std::holds_alternative<F::Ready>(action)) return "ready";
  return "reset";
}

Words words(const LogFollower::Actions& actions) {
  Words out;
  for (const auto& action : actions) out.push_back(word(action));
  return out;
}

SequencedEntry at(std::uint64_t seq) {
  return {seq, std::make_shared<v1::LogEntry>(), ""};
}

std::vector<SequencedEntry> page(std::uint64_t first, std::uint64_t last) {
  std::vector<SequencedEntry> entries;
  for (auto seq = first; seq <= last; ++seq) entries.push_back(at(seq));
  return entries;
}

// A follower that has read entries 1 to 3 and is ready.
LogFollower ready_at_three() {
  LogFollower follower;
  follower.start();
  follower.read_done(page(1, 3));
  EXPECT_TRUE(follower.ready());
  return follower;
}

TEST(LogFollower, ReadsFromTheStartAndIsReadyAtTheLogsEnd) {
  LogFollower follower;
  EXPECT_EQ(words(follower.start()), Words{"read after 0"});
  EXPECT_FALSE(follower.ready());
  EXPECT_EQ(words(follower.read_done(page(1, 3))), (Words{"apply 1", "apply 2", "apply 3", "ready"}));
  EXPECT_EQ(follower.position(), 3u);
  EXPECT_EQ(words(follower.live(at(4))), Words{"apply 4"});
}

TEST(LogFollower, LiveEntriesWaitForTheReadAndDuplicatesGo) {
  LogFollower follower;
  follower.start();
  EXPECT_EQ(words(follower.live(at(5))), Words{});
  EXPECT_EQ(words(follower.live(at(3))), Words{});
  // The read has 1 to 4; the held 3 is one of them, 5 follows.
  EXPECT_EQ(words(follower.read_done(page(1, 4))),
            (Words{"apply 1", "apply 2", "apply 3", "apply 4", "apply 5", "ready"}));
  EXPECT_EQ(words(follower.live(at(5))), Words{}) << "delivered twice";
  EXPECT_EQ(words(follower.live(at(2))), Words{}) << "read already";
}

TEST(LogFollower, AGapInLiveEntriesIsFilledFromTheLog) {
  LogFollower follower = ready_at_three();
  EXPECT_EQ(words(follower.live(at(5))), Words{"read after 3"});
  EXPECT_EQ(words(follower.live(at(6))), Words{}) << "waits for the read";
  EXPECT_EQ(words(follower.read_done(page(4, 4))), (Words{"apply 4", "apply 5", "apply 6"}));
  EXPECT_EQ(follower.position(), 6u);
}

TEST(LogFollower, AGapTheLogCannotFillIsPassedOnlyByAReadIssuedAfterIt) {
  LogFollower follower = ready_at_three();
  // A resync's read starts before entry 6 comes: its empty answer may only
  // predate entries 4 and 5, so it reads again.
  EXPECT_EQ(words(follower.resync()), Words{"read after 3"});
  EXPECT_EQ(words(follower.live(at(6))), Words{});
  EXPECT_EQ(words(follower.read_done({})), Words{"read after 3"});
  // This read was issued with 6 held: the log has no 4 and 5.
  EXPECT_EQ(words(follower.read_done({})), (Words{"skip to 5 (gap)", "apply 6"}));
  EXPECT_EQ(words(follower.live(at(7))), Words{"apply 7"});
}

TEST(LogFollower, AFullPageOrAResyncDuringTheReadReadsAgain) {
  LogFollower follower(2);
  follower.start();
  EXPECT_EQ(words(follower.read_done(page(1, 2))), (Words{"apply 1", "apply 2", "read after 2"}));
  EXPECT_EQ(words(follower.resync()), Words{}) << "one read at a time";
  EXPECT_EQ(words(follower.read_done(page(3, 3))), (Words{"apply 3", "read after 3"}))
      << "the resync may have come after the read started";
  EXPECT_EQ(words(follower.read_done({})), Words{"ready"});
}

TEST(LogFollower, ALogThatStartsLaterIsContinuedFromItsCheckpoint) {
  LogFollower follower;
  follower.start();
  EXPECT_EQ(words(follower.read_done(page(5, 6))), Words{"load checkpoint"});
  EXPECT_EQ(words(follower.live(at(7))), Words{}) << "live entries wait for the checkpoint too";
  EXPECT_EQ(words(follower.checkpoint_loaded(4)), (Words{"adopt checkpoint", "read after 4"}));
  EXPECT_EQ(follower.position(), 4u);
  EXPECT_EQ(words(follower.read_done(page(5, 6))), (Words{"apply 5", "apply 6", "apply 7", "ready"}));
}

TEST(LogFollower, WithoutACheckpointItGoesOnFromWhatTheLogHas) {
  LogFollower follower;
  follower.start();
  EXPECT_EQ(words(follower.read_done(page(5, 5))), Words{"load checkpoint"});
  EXPECT_EQ(words(follower.checkpoint_loaded(std::nullopt)), Words{"read after 0"});
  EXPECT_EQ(words(follower.read_done(page(5, 5))),
            (Words{"skip to 4 (log starts later)", "apply 5", "ready"}));
}

TEST(LogFollower, ALogTrimmedPastWhatMembersSawResets) {
  LogFollower follower = ready_at_three();
  EXPECT_EQ(words(follower.live(at(10))), Words{"read after 3"});
  EXPECT_EQ(words(follower.read_done(page(8, 10))), Words{"reset"});
  EXPECT_EQ(words(follower.live(at(11))), Words{}) << "nothing after a reset";
  EXPECT_EQ(words(follower.resync()), Words{});
}

TEST(LogFollower, StorageFailuresAreRetriedOneAtATime) {
  LogFollower follower;
  follower.start();
  EXPECT_EQ(words(follower.read_failed()), Words{"retry later"});
  EXPECT_EQ(words(follower.resync()), Words{}) << "the retry reads";
  EXPECT_EQ(words(follower.retry()), Words{"read after 0"});
  EXPECT_EQ(words(follower.read_done(page(3, 3))), Words{"load checkpoint"});
  EXPECT_EQ(words(follower.checkpoint_failed()), Words{"retry later"});
  EXPECT_EQ(words(follower.retry()), Words{"load checkpoint"});
  EXPECT_EQ(words(follower.checkpoint_loaded(2)), (Words{"adopt checkpoint", "read after 2"}));
  EXPECT_EQ(words(follower.read_done(page(3, 3))), (Words{"apply 3", "ready"}));
}

TEST(LogFollower, HeldLiveEntriesAreBoundedAndTheLogHasThem) {
  LogFollower follower(LogFollower::kReadPage, 2);
  follower.start();
  follower.live(at(2));
  follower.live(at(3));
  follower.live(at(4));  // past the bound: 2 and 3 go
  EXPECT_EQ(words(follower.read_done(page(1, 1))), (Words{"apply 1", "read after 1"}))
      << "4 waits past a gap the log fills";
  EXPECT_EQ(words(follower.read_done(page(2, 3))), (Words{"apply 2", "apply 3", "apply 4", "ready"}));
}

}  // namespace
}  // namespace hearth
