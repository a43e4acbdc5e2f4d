// The engine's guarantees (server/engine/engine.hpp), held against every engine:
// the memory engine, and the Redis engine against a real redis-server.
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "domain/command.hpp"
#include "domain/room_state.hpp"
#include "domain/transcript.hpp"
#include "engine/memory/engine_memory.hpp"
#include "engine/redis/engine_redis.hpp"
#include "room/retention.hpp"
#include "support/redis_process.hpp"

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;

// Records what a subscriber hears; waits for it with a timeout.
struct Recorder final : EngineSubscriber {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<SequencedEntry> entries;
  int resyncs = 0;

  void on_entry(const std::string&, SequencedEntry entry) override {
    std::lock_guard lock(mutex);
    entries.push_back(std::move(entry));
    changed.notify_all();
  }
  void on_resync(const std::string&) override {
    std::lock_guard lock(mutex);
    ++resyncs;
    changed.notify_all();
  }
  int deletions = 0;
  void on_deleted(const std::string&) override {
    std::lock_guard lock(mutex);
    ++deletions;
    changed.notify_all();
  }
  bool wait_for_deletion(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return deletions > 0; });
  }
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return entries.size() >= count; });
  }
  // Waits until more than `seen` resyncs have been heard.
  bool wait_for_resync(std::chrono::milliseconds timeout = 5s, int seen = 0) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return resyncs > seen; });
  }
  int resync_count() {
    std::lock_guard lock(mutex);
    return resyncs;
  }
  // A copy of what was heard so far (the engine's thread may add more).
  std::vector<SequencedEntry> heard() {
    std::lock_guard lock(mutex);
    return entries;
  }
  std::uint64_t last_seq() {
    std::lock_guard lock(mutex);
    return entries.empty() ? 0 : entries.back().seq;
  }
};

// One engine under test, with an io_context thread for the Redis one.
class EngineTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      engine_ = std::make_unique<MemoryEngine>();
      thread_ = std::thread([this] { io_.run(); });
    } else {
      redis_ = std::make_unique<RedisProcess>();
      auto engine = std::make_unique<RedisEngine>(io_.get_executor(), *RedisAddress::parse(redis_->url()), 15s);
      engine->start({});
      engine_ = std::move(engine);
      thread_ = std::thread([this] { io_.run(); });
      wait_ready();
    }
  }
  void TearDown() override {
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    engine_.reset();
  }
  void wait_ready() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    // ready() has no event to await; it turns true within a few ms of start.
    while (!engine_->ready() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(engine_->ready());
  }

  std::pair<std::error_code, std::uint64_t> append(const std::string& room, const std::string& epoch,
                                                   v1::LogEntry entry, std::uint64_t known_seq = 0) {
    std::promise<std::pair<std::error_code, std::uint64_t>> done;
    engine_->append(room, epoch, known_seq, std::move(entry),
                    [&](std::error_code error, std::uint64_t seq) { done.set_value({error, seq}); });
    auto future = done.get_future();
    if (future.wait_for(5s) != std::future_status::ready) throw std::runtime_error("append timed out");
    return future.get();
  }
  std::uint64_t say(const std::string& room, const std::string& text, const std::string& epoch = "e1") {
    v1::LogEntry entry;
    entry.mutable_say()->set_text(text);
    const auto [error, seq] = append(room, epoch, std::move(entry));
    EXPECT_FALSE(error) << error.message();
    return seq;
  }
  std::error_code create(const std::string& room, const std::string& epoch = "e1") {
    v1::LogEntry entry;
    entry.mutable_room_created()->set_epoch(epoch);
    return append(room, epoch, std::move(entry)).first;
  }
  std::pair<std::error_code, std::vector<SequencedEntry>> read(const std::string& room, std::uint64_t after,
                                                               std::size_t limit) {
    std::promise<std::pair<std::error_code, std::vector<SequencedEntry>>> done;
    engine_->read(room, after, limit, [&](std::error_code error, std::vector<SequencedEntry> entries) {
      done.set_value({error, std::move(entries)});
    });
    auto future = done.get_future();
    if (future.wait_for(5s) != std::future_status::ready) throw std::runtime_error("read timed out");
    return future.get();
  }

  template <typename T, typename Call>
  T await(Call call) {
    std::promise<T> done;
    call(done);
    auto future = done.get_future();
    if (future.wait_for(10s) != std::future_status::ready) throw std::runtime_error("engine call timed out");
    return future.get();
  }
  std::error_code store(const std::string& room, const std::string& epoch, std::uint64_t seq, std::uint64_t base_seq) {
    v1::RoomCheckpoint checkpoint;
    checkpoint.set_seq(seq);
    checkpoint.set_base_seq(base_seq);
    return await<std::error_code>([&](auto& done) {
      engine_->store_checkpoint(room, epoch, checkpoint, [&done](std::error_code error) { done.set_value(error); });
    });
  }
  std::optional<v1::RoomCheckpoint> load(const std::string& room) {
    using Result = std::optional<v1::RoomCheckpoint>;
    return await<Result>([&](auto& done) {
      engine_->load_checkpoint(room, [&done](std::error_code error, Result checkpoint) {
        EXPECT_FALSE(error);
        done.set_value(std::move(checkpoint));
      });
    });
  }
  std::vector<std::string> rooms() {
    auto ids = await<std::vector<std::string>>([&](auto& done) {
      engine_->list_rooms([&done](std::error_code error, std::vector<std::string> found) {
        EXPECT_FALSE(error);
        done.set_value(std::move(found));
      });
    });
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{io_.get_executor()};
  std::thread thread_;
  std::unique_ptr<RedisProcess> redis_;
  std::unique_ptr<Engine> engine_;
};

TEST_P(EngineTest, SequencesStartAtOneAndGrowByOnePerRoom) {
  ASSERT_FALSE(create("a"));
  ASSERT_FALSE(create("b"));
  EXPECT_EQ(say("a", "1"), 2u);
  EXPECT_EQ(say("a", "2"), 3u);
  EXPECT_EQ(say("b", "1"), 2u);
}

TEST_P(EngineTest, ReadReturnsEntriesAfterASequenceInOrderWithALimit) {
  ASSERT_FALSE(create("r"));
  for (int i = 2; i <= 6; ++i) say("r", std::to_string(i));
  auto [error, entries] = read("r", 2, 2);
  ASSERT_FALSE(error);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].seq, 3u);
  EXPECT_EQ(entries[0].entry->say().text(), "3");
  EXPECT_EQ(entries[1].seq, 4u);
  std::tie(error, entries) = read("r", 0, 100);
  EXPECT_EQ(entries.size(), 6u);
  EXPECT_TRUE(entries[0].entry->has_room_created());
  std::tie(error, entries) = read("nowhere", 0, 10);
  EXPECT_FALSE(error);
  EXPECT_TRUE(entries.empty());
}

TEST_P(EngineTest, EpochGuardsTheLog) {
  ASSERT_FALSE(create("r", "epoch-1"));
  EXPECT_EQ(create("r", "epoch-2"), EngineError::room_exists) << "one creating entry per log";
  v1::LogEntry entry;
  entry.mutable_say()->set_text("from a node that knows another log");
  EXPECT_EQ(append("r", "epoch-2", entry).first, EngineError::epoch_mismatch);
  EXPECT_EQ(append("missing", "epoch-1", entry).first, EngineError::epoch_mismatch) << "no log at all";
  EXPECT_EQ(append("r", "epoch-1", entry, /*known_seq=*/5).first, EngineError::epoch_mismatch)
      << "a log shorter than the caller has read was rolled back";
  EXPECT_FALSE(append("r", "epoch-1", entry, /*known_seq=*/1).first);
  const auto [error, entries] = read("r", 0, 10);
  EXPECT_EQ(entries.size(), 2u) << "refused entries were not written";
}

TEST_P(EngineTest, SubscribersHearLaterEntriesInOrder) {
  ASSERT_FALSE(create("r"));
  auto recorder = std::make_shared<Recorder>();
  engine_->subscribe("r", recorder);
  engine_->subscribe("r", recorder);  // twice is harmless
  if (GetParam() == "redis") {
    ASSERT_TRUE(recorder->wait_for_resync()) << "told when the subscription took effect";
  }
  std::vector<std::uint64_t> sent;
  for (int i = 0; i < 50; ++i) sent.push_back(say("r", "m" + std::to_string(i)));
  ASSERT_FALSE(create("other", "x"));
  say("other", "elsewhere", "x");
  ASSERT_TRUE(recorder->wait_for(50));
  const auto entries = recorder->heard();
  std::vector<std::uint64_t> heard;
  for (const auto& entry : entries) heard.push_back(entry.seq);
  EXPECT_EQ(heard, sent);
  EXPECT_EQ(entries[7].entry->say().text(), "m7");
  engine_->unsubscribe("r", recorder.get());
  const auto last = say("r", "after");
  // A fresh subscriber proves "after" was published; the old one must not hear it.
  auto probe = std::make_shared<Recorder>();
  engine_->subscribe("r", probe);
  if (GetParam() == "redis") {
    ASSERT_TRUE(probe->wait_for_resync());
  }
  say("r", "probe");
  ASSERT_TRUE(probe->wait_for(1));
  EXPECT_EQ(recorder->heard().size(), 50u);
  EXPECT_GT(last, sent.back());
}

TEST_P(EngineTest, DeletingARoomRemovesItsLogAndTellsSubscribers) {
  ASSERT_FALSE(create("r"));
  say("r", "soon gone");
  auto recorder = std::make_shared<Recorder>();
  engine_->subscribe("r", recorder);
  if (GetParam() == "redis") {
    ASSERT_TRUE(recorder->wait_for_resync());
  }
  std::promise<std::error_code> done;
  engine_->delete_room("r", [&](std::error_code error) { done.set_value(error); });
  ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  ASSERT_TRUE(recorder->wait_for_deletion());
  EXPECT_TRUE(read("r", 0, 10).second.empty());
  if (GetParam() == "redis") {
    EXPECT_EQ(redis_->cli({"EXISTS", redis_keys::log("r"), redis_keys::epoch("r")}), "0\n");
  }
  v1::LogEntry entry;
  entry.mutable_say()->set_text("from a node that missed the deletion");
  EXPECT_EQ(append("r", "e1", entry).first, EngineError::epoch_mismatch);
  EXPECT_FALSE(create("r", "e2")) << "the id can be used again, with a new epoch";
}

TEST_P(EngineTest, CheckpointStandsInForTheEntriesItTrims) {
  ASSERT_FALSE(create("r"));
  for (int i = 2; i <= 5; ++i) say("r", std::to_string(i));
  ASSERT_FALSE(create("other", "x"));
  EXPECT_EQ(rooms(), (std::vector<std::string>{"other", "r"}));
  EXPECT_FALSE(load("r"));

  ASSERT_FALSE(store("r", "e1", 5, 3));
  auto [error, entries] = read("r", 0, 100);
  ASSERT_FALSE(error);
  ASSERT_EQ(entries.size(), 2u) << "entries up to the base are gone";
  EXPECT_EQ(entries[0].seq, 4u);
  ASSERT_TRUE(load("r"));
  EXPECT_EQ(load("r")->seq(), 5u);
  EXPECT_EQ(load("r")->base_seq(), 3u);

  EXPECT_FALSE(store("r", "e1", 4, 4)) << "an older checkpoint is no error...";
  EXPECT_EQ(load("r")->seq(), 5u) << "...but is not stored";
  EXPECT_EQ(read("r", 0, 100).second.size(), 2u) << "and trims nothing";
  EXPECT_EQ(store("r", "other-epoch", 6, 4), EngineError::epoch_mismatch);
  EXPECT_EQ(store("r", "e1", 6, 4), EngineError::conflict) << "the log ends at 5: the checkpoint has not seen all";
  EXPECT_EQ(say("r", "6"), 6u) << "the sequence goes on after a trim";
  EXPECT_EQ(read("r", 3, 100).second.front().seq, 4u);

  std::promise<std::error_code> deleted;
  engine_->delete_room("r", [&](std::error_code e) { deleted.set_value(e); });
  ASSERT_EQ(deleted.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(load("r")) << "deleting a room removes its checkpoint";
  EXPECT_EQ(rooms(), (std::vector<std::string>{"other"}));
  ASSERT_FALSE(create("r", "e2"));
  EXPECT_EQ(read("r", 0, 10).second.front().seq, 1u) << "a room created again starts afresh";
}

// "Erase my data": stored entries are copied with their stand-ins a page at
// a time while the log stays as it was; the copy, the checkpoint's stand-in
// and the erasure go in in one step, and only if the copy is of the log as
// it is then.
TEST_P(EngineTest, ARewriteCopiesPagesThenReplacesEntriesAndTheCheckpointInOneStep) {
  ASSERT_FALSE(create("r"));
  for (int i = 2; i <= 5; ++i) say("r", "secret " + std::to_string(i));
  ASSERT_FALSE(store("r", "e1", 5, 2));  // entries 3..5 stay; a checkpoint at 5
  auto recorder = std::make_shared<Recorder>();
  engine_->subscribe("r", recorder);
  if (GetParam() == "redis") {
    ASSERT_TRUE(recorder->wait_for_resync());
  }

  auto stand_in = [](std::uint64_t seq) {
    auto entry = std::make_shared<v1::LogEntry>();
    entry->mutable_say()->set_text("erased " + std::to_string(seq));
    return SequencedEntry{seq, std::move(entry), {}};
  };
  auto copy = [&](Engine::Rewrite& rewrite, std::uint64_t after, std::uint64_t up_to,
                  std::vector<SequencedEntry> stand_ins) {
    const auto [error, generation] = await<std::pair<std::error_code, std::uint64_t>>([&](auto& done) {
      engine_->rewrite_page("r", rewrite, after, up_to, std::move(stand_ins),
                            [&done](std::error_code failure, std::uint64_t seen) {
                              done.set_value({failure, seen});
                            });
    });
    if (!error) {
      rewrite.generation = generation;
      rewrite.copied += up_to - after;
    }
    return error;
  };
  auto finish = [&](const Engine::Rewrite& rewrite, std::uint64_t last_seq, std::uint64_t checkpoint_seq) {
    v1::RoomCheckpoint checkpoint;
    checkpoint.set_seq(5);
    checkpoint.set_base_seq(2);
    checkpoint.mutable_state()->set_title("rewritten");
    v1::LogEntry erase;
    erase.mutable_erase();
    return await<std::pair<std::error_code, std::uint64_t>>([&](auto& done) {
      engine_->finish_rewrite("r", "e1", rewrite, last_seq, checkpoint_seq, checkpoint, erase,
                              [&done](std::error_code error, std::uint64_t seq) {
                                done.set_value({error, seq});
                              });
    });
  };

  Engine::Rewrite rewrite{"first", "pat", std::nullopt, 0};
  ASSERT_FALSE(copy(rewrite, 2, 4, {stand_in(3)}));
  Engine::Rewrite late{"late", "pat", std::nullopt, 0};
  ASSERT_FALSE(copy(late, 2, 3, {}));
  EXPECT_EQ(finish(rewrite, 5, 5).first, EngineError::conflict) << "a copy of part of the log";
  ASSERT_FALSE(copy(rewrite, 4, 5, {stand_in(5)}));
  EXPECT_EQ(finish(rewrite, 5, 0).first, EngineError::conflict) << "a checkpoint the caller did not read";
  // Entries appended since the copy go in as they are only if none can be
  // the person's (none holds their user id).
  EXPECT_EQ(say("r", "pat, from another tab"), 6u);
  EXPECT_EQ(finish(rewrite, 5, 5).first, EngineError::conflict) << "the person wrote since the copy";
  auto [error, entries] = read("r", 0, 100);
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].entry->say().text(), "secret 3") << "copying and refused finishes change nothing";
  ASSERT_FALSE(copy(rewrite, 5, 6, {stand_in(6)}));
  EXPECT_EQ(say("r", "someone else"), 7u);

  const auto [rewrite_error, seq] = finish(rewrite, 6, 5);
  ASSERT_FALSE(rewrite_error) << rewrite_error.message();
  EXPECT_EQ(seq, 8u);
  std::tie(error, entries) = read("r", 0, 100);
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(entries[0].seq, 3u);
  EXPECT_EQ(entries[0].entry->say().text(), "erased 3");
  EXPECT_EQ(entries[1].entry->say().text(), "secret 4");
  EXPECT_EQ(entries[2].entry->say().text(), "erased 5");
  EXPECT_EQ(entries[3].entry->say().text(), "erased 6");
  EXPECT_EQ(entries[4].entry->say().text(), "someone else") << "taken as it was at the swap";
  EXPECT_TRUE(entries[5].entry->has_erase());
  EXPECT_EQ(load("r")->state().title(), "rewritten");
  ASSERT_TRUE(recorder->wait_for(3)) << "the erasure is published like any entry";
  EXPECT_EQ(recorder->heard().at(2).seq, 8u);
  EXPECT_EQ(say("r", "after"), 9u) << "the sequence goes on";

  // A copy begun before that rewrite holds what it replaced: refused.
  EXPECT_EQ(copy(late, 3, 9, {}), EngineError::conflict);
  EXPECT_EQ(finish(late, 9, 5).first, EngineError::conflict);
  std::tie(error, entries) = read("r", 0, 100);
  ASSERT_EQ(entries.size(), 7u);
  EXPECT_EQ(entries[0].entry->say().text(), "erased 3");
}

// The retention sweep over each engine: entries older than the room's
// retention go from the log; a node that followed the room all along and one
// that opens it from the checkpoint end in the same state.
TEST_P(EngineTest, RetentionTrimsOldEntriesAndEveryFoldAgrees) {
  using google::protobuf::util::TimeUtil;
  const Membership host{"host-1", "Dr. Ada", v1::ROLE_HOST};
  const Membership alice{"user-a", "Alice", v1::ROLE_PARTICIPANT};
  const auto long_ago = TimeUtil::GetCurrentTime() - TimeUtil::HoursToDuration(24 * 40);
  std::vector<v1::LogEntry> log;
  auto add = [&](const Membership& who, bool old) {
    v1::LogEntry entry = new_entry(who);
    if (old) *entry.mutable_at() = long_ago;
    return entry;
  };
  auto built = add(host, true);
  built.mutable_room_created()->set_kind(v1::ROOM_KIND_AMA);
  built.mutable_room_created()->set_epoch("e1");
  built.mutable_room_created()->mutable_settings()->set_retention_days(7);
  log.push_back(built);
  built = add(host, true);
  built.mutable_joined()->set_connection_id("c-host");
  log.push_back(built);
  built = add(alice, true);
  built.mutable_joined()->set_connection_id("c-alice");
  log.push_back(built);
  built = add(alice, true);
  built.mutable_ask()->set_text("an old question");  // 4
  log.push_back(built);
  built = add(host, true);
  built.mutable_mute()->set_user_id(alice.user_id);
  built.mutable_mute()->set_muted(true);
  log.push_back(built);
  built = add(host, true);
  built.mutable_mute()->set_user_id(alice.user_id);  // 6: unmuted
  log.push_back(built);
  built = add(host, false);
  built.mutable_ask()->set_text("a new question");  // 7
  log.push_back(built);
  built = add(alice, false);
  built.mutable_vote()->set_question_id(7);
  built.mutable_vote()->set_up(true);
  log.push_back(built);
  std::uint64_t seq = 0;
  for (const auto& item : log) {
    const auto [error, appended] = append("old", "e1", item, seq);
    ASSERT_FALSE(error) << error.message();
    seq = appended;
  }
  RoomState follower("old", Limits{});
  const auto before = read("old", 0, 100).second;
  for (const auto& entry : before) {
    const auto applied = follower.apply(entry.seq, *entry.entry);
    EXPECT_FALSE(applied.refused) << entry.seq << ": " << applied.refused->message;
  }
  const auto first_view = follower.snapshot_for(host.user_id, host.role);
  ASSERT_EQ(first_view.questions_size(), 2);

  LocalBudgets budgets;
  auto retention = std::make_shared<Retention>(io_.get_executor(), *engine_, budgets, Limits{}, 30, 0s);
  std::promise<void> swept;
  retention->sweep_now([&] { swept.set_value(); });
  ASSERT_EQ(swept.get_future().wait_for(10s), std::future_status::ready);

  const auto checkpoint = load("old");
  ASSERT_TRUE(checkpoint) << "the sweep stored a checkpoint";
  EXPECT_EQ(checkpoint->base_seq(), 6u) << "everything older than 7 days, no more";
  const auto kept = read("old", 0, 100).second;
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.front().seq, 7u) << "the old entries are gone from storage";
  ASSERT_TRUE(kept.back().entry->has_trim());
  EXPECT_EQ(checkpoint->seq(), kept.back().seq);

  for (const auto& entry : kept) follower.apply(entry.seq, *entry.entry);
  RoomState opened = RoomState::from_data("old", Limits{}, checkpoint->state());
  const auto after = read("old", checkpoint->seq(), 100).second;
  for (const auto& entry : after) opened.apply(entry.seq, *entry.entry);
  const auto seen = follower.snapshot_for(host.user_id, host.role);
  EXPECT_EQ(seen.SerializeAsString(), opened.snapshot_for(host.user_id, host.role).SerializeAsString());
  ASSERT_EQ(seen.questions_size(), 1);
  EXPECT_EQ(seen.questions(0).text(), "a new question");
  EXPECT_EQ(seen.questions(0).votes(), 1u);
  EXPECT_EQ(checkpoint->state().SerializeAsString().find("an old question"), std::string::npos);
  EXPECT_EQ(checkpoint->base().SerializeAsString().find("an old question"), std::string::npos);
  if (GetParam() == "redis") {
    EXPECT_EQ(redis_->cli({"XLEN", redis_keys::log("old")}), std::to_string(kept.size()) + "\n");
  }

  std::promise<void> again;
  retention->sweep_now([&] { again.set_value(); });
  ASSERT_EQ(again.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(read("old", 0, 100).second.size(), kept.size()) << "a second sweep finds nothing more to do";
}

// What was written about an item after a sweep removed it from view (an
// edit, an answer, a pin) goes from storage at the next sweep that removes
// more: an ExpiredEntry in its place, with its time only; and a node that
// followed along and one that opens the room from the checkpoint still
// agree.
TEST_P(EngineTest, RetentionRemovesWhatWasWrittenAboutARemovedItemAtTheNextSweep) {
  using google::protobuf::util::TimeUtil;
  const Membership host{"host-1", "Dr. Ada", v1::ROLE_HOST};
  const Membership alice{"user-a", "Alice", v1::ROLE_PARTICIPANT};
  const auto days_ago = [](int days) {
    return TimeUtil::GetCurrentTime() - TimeUtil::HoursToDuration(24 * days);
  };
  std::vector<v1::LogEntry> log(8);
  for (std::size_t i = 0; i < log.size(); ++i) log[i] = new_entry(i == 2 || i == 3 || i == 5 ? alice : host);
  log[0].mutable_room_created()->set_kind(v1::ROOM_KIND_AMA);
  log[0].mutable_room_created()->set_epoch("e1");
  log[0].mutable_room_created()->mutable_settings()->set_side_chat(true);
  log[0].mutable_room_created()->mutable_settings()->set_retention_days(30);
  log[1].mutable_joined()->set_connection_id("c-host");
  log[2].mutable_joined()->set_connection_id("c-alice");
  log[3].mutable_ask()->set_text("an old question");  // 4
  log[4].mutable_say()->set_text("twenty days ago");  // 5
  log[5].mutable_edit_question()->set_id(4);          // 6, today
  log[5].mutable_edit_question()->set_text("edited today");
  log[6].mutable_answer()->set_question_id(4);  // 7
  log[6].mutable_answer()->set_text("answered today");
  log[7].mutable_pin()->set_question_id(4);  // 8
  for (int i = 0; i < 4; ++i) *log[i].mutable_at() = days_ago(40);
  *log[4].mutable_at() = days_ago(20);
  std::uint64_t seq = 0;
  for (const auto& item : log) {
    const auto [error, appended] = append("old", "e1", item, seq);
    ASSERT_FALSE(error) << error.message();
    seq = appended;
  }
  RoomState follower("old", Limits{});
  const auto follow = [&] {
    for (const auto& entry : read("old", follower.seq(), 100).second) {
      const auto applied = follower.apply(entry.seq, *entry.entry);
      EXPECT_FALSE(applied.refused) << entry.seq << ": " << applied.refused->message;
    }
  };
  follow();
  LocalBudgets budgets;
  auto retention = std::make_shared<Retention>(io_.get_executor(), *engine_, budgets, Limits{}, 30, 0s);
  const auto sweep = [&retention] {
    std::promise<void> swept;
    retention->sweep_now([&] { swept.set_value(); });
    ASSERT_EQ(swept.get_future().wait_for(10s), std::future_status::ready);
  };
  const auto stored = [this](std::uint64_t at) {
    for (const auto& entry : read("old", 0, 100).second) {
      if (entry.seq == at) return *entry.entry;
    }
    return v1::LogEntry();
  };

  sweep();  // 9: removes the question, older than 30 days
  ASSERT_TRUE(stored(9).has_trim());
  EXPECT_EQ(stored(9).trim().up_to_seq(), 4u);
  follow();
  // The host keeps a week from now on: the next sweep removes the words of
  // twenty days ago, and what was written today about the question.
  v1::LogEntry week = new_entry(host);
  week.mutable_room_updated()->mutable_settings()->set_retention_days(7);
  week.mutable_room_updated()->mutable_settings_mask()->add_paths("retention_days");
  ASSERT_FALSE(append("old", "e1", week, 9).first);  // 10
  sweep();                                           // 11
  follow();
  ASSERT_TRUE(stored(11).has_trim());
  EXPECT_EQ(stored(11).trim().up_to_seq(), 5u);
  for (const std::uint64_t at : {6, 7, 8}) {
    const v1::LogEntry entry = stored(at);
    EXPECT_TRUE(entry.has_expired()) << "entry " << at << " about the removed question";
    EXPECT_FALSE(entry.has_actor()) << at;
    EXPECT_EQ(entry.at().seconds(), log[at - 1].at().seconds()) << "its time stays";
  }
  EXPECT_FALSE(stored(10).has_expired()) << "the settings change stays";

  const auto checkpoint = load("old");
  ASSERT_TRUE(checkpoint);
  EXPECT_EQ(checkpoint->base_seq(), 5u);
  RoomState opened = RoomState::from_data("old", Limits{}, checkpoint->state());
  for (const auto& entry : read("old", checkpoint->seq(), 100).second) opened.apply(entry.seq, *entry.entry);
  EXPECT_EQ(follower.snapshot_for(host.user_id, host.role).SerializeAsString(),
            opened.snapshot_for(host.user_id, host.role).SerializeAsString());
  const std::string transcript = render_transcript(
      "old", &*checkpoint, read("old", checkpoint->base_seq(), 100).second, TranscriptFormat::json);
  for (const auto* words : {"edited today", "answered today", "an old question"}) {
    EXPECT_EQ(transcript.find(words), std::string::npos) << words;
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineTest, ::testing::Values("memory", "redis"),
                         [](const auto& param_info) { return param_info.param; });

// Redis only: what happens when it goes away and comes back.
class RedisEngineOutage : public EngineTest {};

TEST_P(RedisEngineOutage, UnavailableWhileDownNothingLostAndBackByItself) {
  ASSERT_FALSE(create("r"));
  const auto before = say("r", "acknowledged before the crash");
  auto recorder = std::make_shared<Recorder>();
  engine_->subscribe("r", recorder);
  ASSERT_TRUE(recorder->wait_for_resync());
  const int resyncs_before_outage = recorder->resync_count();
  redis_->kill();
  // Appends fail fast and typed while Redis is down.
  std::error_code error;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  v1::LogEntry entry;
  entry.mutable_say()->set_text("during the outage");
  // A command already sent when the connection broke has an unknown
  // outcome; once the engine knows Redis is gone, commands are unavailable.
  do {
    error = append("r", "e1", entry).first;
  } while (error != EngineError::unavailable && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(error, EngineError::unavailable);
  EXPECT_FALSE(engine_->ready());

  redis_->start();  // same port, same AOF
  wait_ready();
  const auto [read_error, entries] = read("r", 0, 100);
  ASSERT_FALSE(read_error);
  ASSERT_GE(entries.size(), 2u);
  EXPECT_EQ(entries[1].seq, before);
  EXPECT_EQ(entries[1].entry->say().text(), "acknowledged before the crash");
  // The subscription came back by itself, and the subscriber was told to
  // resync (it may have missed entries while the connection was down).
  EXPECT_TRUE(recorder->wait_for_resync(10s, resyncs_before_outage)) << "no resync after the outage";
  const auto after = say("r", "after the restart");
  EXPECT_GT(after, before);
  ASSERT_TRUE(recorder->wait_for(1, 10s));
  EXPECT_EQ(recorder->last_seq(), after);
}

// Connecting: AUTH with a password, and a unix socket.
// Error replies Redis has sent since it started (INFO stats).
long long error_replies(const RedisProcess& redis) {
  const std::string info = redis.cli({"INFO", "stats"});
  const auto at = info.find("total_error_replies:");
  return at == std::string::npos ? -1 : std::stoll(info.substr(at + 20));
}

TEST(RedisEngineConnect, Password) {
  RedisProcess redis(RedisProcess::Options{true, "s3cret-pass", true});
  // Runs an engine on `url` until it is ready, or until Redis has refused
  // it four times: the engine's two connections are refused once each, and
  // again only after the engine has handled that and tried again, so an
  // engine that is not ready then was refused, not merely slow.
  auto try_engine = [&redis](const std::string& url) {
    boost::asio::io_context io;
    auto address = RedisAddress::parse(url);
    EXPECT_TRUE(address) << url;
    RedisEngine engine(io.get_executor(), *address, 15s);
    const long long errors_before = error_replies(redis);
    engine.start({});
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!engine.ready() && error_replies(redis) < errors_before + 4) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << url << ": neither ready nor refused within 20 s";
        break;
      }
      io.run_for(20ms);
    }
    const bool ready = engine.ready();
    engine.stop();
    io.run_for(50ms);
    return ready;
  };
  EXPECT_TRUE(try_engine("redis://:s3cret-pass@127.0.0.1:" + std::to_string(redis.port())));
  EXPECT_FALSE(try_engine("redis://:wrong@127.0.0.1:" + std::to_string(redis.port())))
      << "a refused AUTH is not ready";
  EXPECT_FALSE(try_engine(redis.url())) << "no password: every command is refused";
}

TEST(RedisEngineConnect, UnixSocket) {
  RedisProcess redis(RedisProcess::Options{true, "", true});
  boost::asio::io_context io;
  RedisEngine engine(io.get_executor(), *RedisAddress::parse("unix://" + redis.socket_path()), 15s);
  engine.start({});
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!engine.ready() && std::chrono::steady_clock::now() < deadline) io.run_for(20ms);
  ASSERT_TRUE(engine.ready());
  bool done = false;
  v1::LogEntry created;
  created.mutable_room_created()->set_epoch("e");
  engine.append("r", "e", 0, created, [&](std::error_code error, std::uint64_t seq) {
    EXPECT_FALSE(error);
    EXPECT_EQ(seq, 1u);
    done = true;
  });
  while (!done && std::chrono::steady_clock::now() < deadline) io.run_for(20ms);
  EXPECT_TRUE(done);
  engine.stop();
  io.run_for(50ms);
}

TEST(RedisAddress, Forms) {
  const auto plain = RedisAddress::parse("redis://10.0.0.5");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->host, "10.0.0.5");
  EXPECT_EQ(plain->port, 6379);
  const auto full = RedisAddress::parse("redis://user:pw@cache:6380/");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->password, "pw");
  EXPECT_EQ(full->port, 6380);
  EXPECT_EQ(full->describe(), "redis://cache:6380") << "never the password";
  EXPECT_EQ(RedisAddress::parse("unix:///run/redis.sock")->unix_path, "/run/redis.sock");
  EXPECT_FALSE(RedisAddress::parse("http://cache"));
  EXPECT_FALSE(RedisAddress::parse("redis://cache:99999"));
}

INSTANTIATE_TEST_SUITE_P(Redis, RedisEngineOutage, ::testing::Values("redis"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace hearth::testing
