// The engine's guarantees (engine.hpp), held against the memory engine. The
// Redis engine will run the same cases.
#include "engine_memory.hpp"

#include <gtest/gtest.h>

#include <mutex>

namespace hearth {
namespace {

struct Recorder final : EngineSubscriber {
  std::mutex mutex;
  std::vector<std::uint64_t> seqs;
  void on_entry(const std::string&, SequencedEntry entry) override {
    std::lock_guard lock(mutex);
    seqs.push_back(entry.seq);
  }
};

v1::LogEntry entry_with_text(const std::string& text) {
  v1::LogEntry entry;
  entry.mutable_say()->set_text(text);
  return entry;
}

std::uint64_t append_sync(Engine& engine, const std::string& room, const std::string& text) {
  std::uint64_t result = 0;
  engine.append(room, entry_with_text(text), [&](std::error_code error, std::uint64_t seq) {
    EXPECT_FALSE(error);
    result = seq;
  });
  return result;
}

TEST(MemoryEngine, SequencesGrowPerRoom) {
  MemoryEngine engine;
  const auto a1 = append_sync(engine, "a", "1");
  const auto a2 = append_sync(engine, "a", "2");
  const auto b1 = append_sync(engine, "b", "1");
  EXPECT_GT(a1, 0u);
  EXPECT_GT(a2, a1);
  EXPECT_GT(b1, 0u);
}

TEST(MemoryEngine, ReadReturnsEntriesAfterInOrderWithLimit) {
  MemoryEngine engine;
  for (int i = 1; i <= 5; ++i) append_sync(engine, "r", std::to_string(i));
  std::vector<SequencedEntry> got;
  engine.read("r", 2, 2, [&](std::error_code error, std::vector<SequencedEntry> entries) {
    EXPECT_FALSE(error);
    got = std::move(entries);
  });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 3u);
  EXPECT_EQ(got[0].entry->say().text(), "3");
  EXPECT_EQ(got[1].seq, 4u);
  engine.read("none", 0, 10, [](std::error_code error, std::vector<SequencedEntry> entries) {
    EXPECT_FALSE(error);
    EXPECT_TRUE(entries.empty());
  });
}

TEST(MemoryEngine, SubscribersGetLaterEntriesInOrderOnce) {
  MemoryEngine engine;
  append_sync(engine, "r", "before");
  auto recorder = std::make_shared<Recorder>();
  engine.subscribe("r", recorder);
  engine.subscribe("r", recorder);  // twice is harmless
  const auto s1 = append_sync(engine, "r", "x");
  const auto s2 = append_sync(engine, "r", "y");
  append_sync(engine, "other", "z");
  EXPECT_EQ(recorder->seqs, (std::vector<std::uint64_t>{s1, s2}));
  engine.unsubscribe("r", recorder.get());
  append_sync(engine, "r", "after");
  EXPECT_EQ(recorder->seqs.size(), 2u);
}

TEST(MemoryEngine, DestroyedSubscriberIsDropped) {
  MemoryEngine engine;
  auto recorder = std::make_shared<Recorder>();
  engine.subscribe("r", recorder);
  recorder.reset();
  EXPECT_GT(append_sync(engine, "r", "x"), 0u);
}

}  // namespace
}  // namespace hearth
