// ROOM_RESET (docs/protocol.md 1.11): a node finds that the room log it
// follows is gone from under it, because Redis lost the room's keys or
// because retention removed entries the node had not read yet. The command
// that finds out is answered, every member of the room on that node gets an
// unsolicited ROOM_RESET (request id 0), and is out of the room; a room whose
// log is gone is not found until a host creates it again, with a new epoch,
// so resuming from the old log says so. Other rooms, and members on nodes
// that have not written yet, are untouched.
#include <gtest/gtest.h>

#include "domain/command.hpp"
#include "engine/redis/engine_redis.hpp"
#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

std::vector<std::string> redis_args(const RedisProcess& redis) {
  return {"--engine", "redis", "--redis", redis.url()};
}

v1::ClientMessage join_resuming(const std::string& room, const std::string& epoch, std::uint64_t seq) {
  auto message = join(room);
  message.mutable_join_room()->mutable_resume()->set_epoch(epoch);
  message.mutable_join_room()->mutable_resume()->set_seq(seq);
  return message;
}

bool is_message(const v1::Event& event) {
  return event.has_message_posted();
}

// docs/protocol.md 1.11 ("Log lost"), 1.4 (epochs), 1.10 (the resume table),
// 2 (room commands get NOT_IN_ROOM once reset), 2.3 (ROOM_NOT_FOUND), 5.1
// (the push names the room in reply.roomId).
TEST(RoomReset, ALostLogResetsMembersNodeByNodeTheRoomIsNotFoundUntilRecreatedAndOldResumesSayEpochChanged) {
  RedisProcess redis;
  ServerProcess node_a(redis_args(redis));
  ServerProcess node_b(redis_args(redis));

  // ama-9: ada and pat on node A, river on node B. Another room, "other",
  // on node A with ada and kim, keeps its log.
  WsClient ada(node_a.port());
  ada.request_ok(hello(ServerProcess::token("host", "*", "Dr. Ada", "ada")));
  const auto created =
      ada.request_ok(create_room("ama-9", v1::ROOM_KIND_AMA, false, /*side_chat=*/true)).snapshot();
  ada.request_ok(create_room("other", v1::ROOM_KIND_SUPPORT));
  WsClient pat(node_a.port());
  pat.request_ok(join("ama-9", "Pat K."));
  WsClient river(node_b.port(), Encoding::binary);
  river.request_ok(join("ama-9", "River"));
  WsClient kim(node_a.port());
  kim.request_ok(join("other", "Kim"));
  const auto last_seen = pat.request_ok(say("ama-9", "before the loss")).accepted().seq();
  river.next_event_where(is_message);  // node B follows the room too

  // The room's keys are gone (as after a FLUSHALL or a Redis restarted
  // without its data); room "other" keeps its own.
  redis.cli({"DEL", redis_keys::log("ama-9"), redis_keys::epoch("ama-9"),
             redis_keys::checkpoint("ama-9")});

  // Pat's next command finds out: its reply, then the push (pat is a member too).
  const auto reply = pat.request(say("ama-9", "back?"));
  ASSERT_TRUE(reply.has_error()) << reply.ShortDebugString();
  EXPECT_EQ(reply.error().code(), v1::ROOM_RESET);
  EXPECT_TRUE(pat.pushes().empty()) << "the reply comes first";
  const auto pushed = pat.next_push();
  EXPECT_EQ(pushed.request_id(), 0u);
  EXPECT_EQ(pushed.error().code(), v1::ROOM_RESET);
  EXPECT_EQ(pushed.room_id(), "ama-9");
  // Every member of the room on node A is told, unasked.
  const auto to_ada = ada.next_push();
  EXPECT_EQ(to_ada.request_id(), 0u);
  EXPECT_EQ(to_ada.error().code(), v1::ROOM_RESET);
  EXPECT_EQ(to_ada.room_id(), "ama-9");

  // They are no longer in the room; their connections work.
  EXPECT_EQ(pat.request_error(say("ama-9", "again")).code(), v1::NOT_IN_ROOM);
  EXPECT_EQ(ada.request_error(say("ama-9", "hello?")).code(), v1::NOT_IN_ROOM);
  EXPECT_TRUE(pat.request_ok(ping()).has_pong());
  // Joining finds no room until a host creates it again.
  EXPECT_EQ(ada.request_error(join("ama-9")).code(), v1::ROOM_NOT_FOUND);
  WsClient newcomer(node_a.port());
  EXPECT_EQ(newcomer.request_error(join("ama-9", "Lou")).code(), v1::ROOM_NOT_FOUND);

  // Room "other", on the same node and the same connection, is untouched.
  ada.request_ok(say("other", "still here"));
  EXPECT_EQ(kim.next_event_where(is_message).message_posted().text(), "still here");
  EXPECT_TRUE(kim.pushes().empty());
  EXPECT_EQ(ada.pushes().size(), 0u) << "one push, for ama-9 only";

  // River, on node B, hears nothing until it writes; then the same.
  EXPECT_TRUE(river.request_ok(ping()).has_pong());
  EXPECT_TRUE(river.pushes().empty()) << "node B has not written to the room since";
  EXPECT_EQ(river.request_error(say("ama-9", "anyone?")).code(), v1::ROOM_RESET);
  EXPECT_EQ(river.next_push().error().code(), v1::ROOM_RESET);
  EXPECT_EQ(river.request_error(say("ama-9", "anyone?")).code(), v1::NOT_IN_ROOM);

  // The host creates it again: a new log, a new epoch, counting from 1
  // (roomOpened is 1, the host's join 2).
  const auto again =
      ada.request_ok(create_room("ama-9", v1::ROOM_KIND_AMA, false, /*side_chat=*/true)).snapshot();
  EXPECT_NE(again.epoch(), created.epoch());
  EXPECT_EQ(again.seq(), 2u);
  EXPECT_EQ(again.messages_size(), 0) << "nothing of the lost log";

  // A resume from the old log, on either node, gets a fresh snapshot of the
  // new one saying why.
  pat.events().clear();
  const auto resumed = pat.request(join_resuming("ama-9", created.epoch(), last_seen));
  ASSERT_TRUE(resumed.has_ok() && resumed.ok().has_snapshot()) << resumed.ShortDebugString();
  EXPECT_EQ(resumed.ok().snapshot().resume_failed(), v1::RESUME_FAILURE_EPOCH_CHANGED);
  EXPECT_EQ(resumed.ok().snapshot().epoch(), again.epoch());
  EXPECT_TRUE(pat.events().empty()) << "nothing replayed from a log that is gone";
  const auto river_back = river.request(join_resuming("ama-9", created.epoch(), last_seen));
  ASSERT_TRUE(river_back.has_ok() && river_back.ok().has_snapshot()) << river_back.ShortDebugString();
  EXPECT_EQ(river_back.ok().snapshot().resume_failed(), v1::RESUME_FAILURE_EPOCH_CHANGED);
  EXPECT_EQ(river_back.ok().snapshot().epoch(), again.epoch());

  // The new room works for everyone, across both nodes.
  ada.request_ok(say("ama-9", "welcome back"));
  EXPECT_EQ(pat.next_event_where(is_message).message_posted().text(), "welcome back");
  EXPECT_EQ(river.next_event_where(is_message).message_posted().text(), "welcome back");
}

// Appends `entry` to the room's stream at `seq` directly, as another writer
// would, without telling anyone (no PUBLISH).
void add_unseen(const RedisProcess& redis, const std::string& room, std::uint64_t seq,
                const v1::LogEntry& entry) {
  run_and_capture({"/usr/bin/redis-cli", "-p", std::to_string(redis.port()), "-x", "XADD",
                   redis_keys::log(room), "0-" + std::to_string(seq), "e"},
                  entry.SerializeAsString());
}

// docs/protocol.md 1.11 ("Fallen behind retention"), 1.4 and 5.1 ("A failed
// command changed nothing"; ROOM_RESET means "nothing was appended at all").
TEST(RoomReset, ANodeThatFellBehindRetentionResetsItsMembersAndTheRoomStaysIntact) {
  RedisProcess redis;
  // Reset connections stay present in the log until a presence sweep (a
  // third of --presence-ttl) writes their departure; the node waits for
  // that before it stops, so sweep often.
  auto args = redis_args(redis);
  args.insert(args.end(), {"--presence-ttl", "3s"});
  ServerProcess node(args);
  WsClient ada(node.port());
  ada.request_ok(hello(ServerProcess::token("host", "r", "Dr. Ada", "ada")));
  const auto created = ada.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT)).snapshot();
  WsClient pat(node.port());
  pat.request_ok(join("r", "Pat"));
  WsClient obi(node.port(), Encoding::binary);
  obi.request_ok(join("r", "Obi"));
  const auto last = ada.request_ok(say("r", "before")).accepted().seq();
  obi.next_event_where(is_message);

  // Two entries the node never heard of, the first of them already removed
  // (as retention removes entries): the log now goes on past what the node
  // has read, with a hole it cannot fill.
  const Membership host{"ada", "Dr. Ada", v1::ROLE_HOST};
  auto unseen = [&](const std::string& text) {
    auto entry = new_entry(host);
    entry.mutable_say()->set_text(text);
    return entry;
  };
  add_unseen(redis, "r", last + 1, unseen("removed before the node read it"));
  add_unseen(redis, "r", last + 2, unseen("written elsewhere"));
  redis.cli({"XDEL", redis_keys::log("r"), "0-" + std::to_string(last + 1)});

  // Pat's message is appended after them; reading the log to reach it, the
  // node finds the hole.
  const auto reply = pat.request(say("r", "after"));
  ASSERT_TRUE(reply.has_error()) << reply.ShortDebugString();
  // Pat's entry is in the log: ROOM_RESET ("nothing was appended at all")
  // would be untrue, and a retry would post twice. Its outcome is unknown
  // to this node: rejoin and look.
  EXPECT_EQ(reply.error().code(), v1::OUTCOME_UNKNOWN) << reply.error().message();
  for (auto* member : {&pat, &ada, &obi}) {
    const auto pushed = member->next_push();
    EXPECT_EQ(pushed.request_id(), 0u);
    EXPECT_EQ(pushed.error().code(), v1::ROOM_RESET);
    EXPECT_EQ(pushed.room_id(), "r");
    EXPECT_NE(pushed.error().message().find("fell behind"), std::string::npos) << pushed.error().message();
  }
  EXPECT_EQ(obi.request_error(say("r", "hello?")).code(), v1::NOT_IN_ROOM);
  EXPECT_TRUE(obi.request_ok(ping()).has_pong());

  // The room itself is intact: the same log, with everything it holds.
  const auto rejoined = pat.request_ok(join("r", "Pat")).snapshot();
  EXPECT_EQ(rejoined.epoch(), created.epoch());
  std::vector<std::string> texts;
  for (const auto& message : rejoined.messages()) texts.push_back(message.text());
  const std::vector<std::string> expected{"before", "written elsewhere", "after"};
  EXPECT_EQ(texts, expected);
  obi.request_ok(join("r", "Obi"));
  const auto id = pat.request_ok(say("r", "carry on")).accepted().seq();
  EXPECT_EQ(obi.next_event_where(is_message).message_posted().id(), id);
}

}  // namespace
}  // namespace hearth::testing
