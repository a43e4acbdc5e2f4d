// Bad input of every kind: the offender gets a typed error (or, for real
// protocol violations, the right close code), its connection keeps working,
// and the others in the room see nothing of it.
#include <gtest/gtest.h>

#include <thread>

#include "domain/token.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.request_ok(hello(ServerProcess::token("host", "*", "Host", "host-1")));
    host_.request_ok(create_room(room_, v1::ROOM_KIND_AMA, false, /*side_chat=*/true));
    observer_.request_ok(join(room_, "Observer"));
    offender_.request_ok(join(room_, "Offender"));
    // Everyone has heard that all three are here (joins may come batched).
    host_.next_event_where([](const v1::Event& e) { return e.members_changed().present() == 3; });
    // And has had the Presence push saying so, so that nothing else comes
    // unasked while the tests read raw frames.
    for (auto* client : {&host_, &observer_, &offender_}) {
      client->next_presence_where([](const v1::Presence& p) { return p.present() == 3; });
    }
  }

  // The raw frame gets error `code` with request id 0 and the connection
  // still answers a ping.
  void expect_frame_error(const std::string& frame, bool binary, v1::ErrorCode code) {
    offender_.send_raw(frame, binary);
    const auto reply = offender_.next();
    ASSERT_TRUE(reply && reply->has_reply()) << "no reply";
    EXPECT_EQ(reply->reply().request_id(), 0u);
    EXPECT_EQ(reply->reply().error().code(), code) << reply->reply().error().message();
    EXPECT_TRUE(offender_.request_ok(ping()).has_pong());
  }

  // Nobody else saw anything: the observer's next event is the offender's
  // next valid message.
  void expect_observer_unharmed() {
    const auto id = offender_.request_ok(say(room_, "a valid message")).accepted().seq();
    const auto event = observer_.next_event();
    ASSERT_TRUE(event.has_message_posted());
    EXPECT_EQ(event.message_posted().id(), id);
  }

  // After the offender was closed: the others carry on.
  void expect_observer_unharmed_after_close() {
    const auto id = host_.request_ok(say(room_, "carry on")).accepted().seq();
    const auto event = observer_.next_event_where([](const v1::Event& e) { return e.has_message_posted(); });
    EXPECT_EQ(event.message_posted().id(), id);
  }

  ServerProcess server_{{"--max-frame-bytes", "4096", "--max-rooms-per-connection", "2"}};
  const std::string room_ = "room-bad";
  WsClient host_{server_.port()};
  WsClient observer_{server_.port()};
  WsClient offender_{server_.port()};
};

TEST_F(BadInput, MalformedFramesInBothEncodings) {
  expect_frame_error("{\"requestId\": 1, ", false, v1::MALFORMED);
  expect_frame_error("[1,2,3]", false, v1::MALFORMED);
  expect_frame_error(std::string("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11), true, v1::MALFORMED);
  expect_observer_unharmed();
}

TEST_F(BadInput, UnknownCommand) {
  EXPECT_EQ(offender_.request_error(v1::ClientMessage()).code(), v1::UNKNOWN_COMMAND);
  offender_.send_raw(R"({"requestId": 77, "roomId": "room-bad", "selfDestruct": {}})", false);
  const auto reply = offender_.next();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->reply().request_id(), 77u);
  EXPECT_EQ(reply->reply().error().code(), v1::UNKNOWN_COMMAND);
  expect_observer_unharmed();
}

TEST_F(BadInput, OversizedFrameIsRefusedAndTheConnectionLives) {
  expect_frame_error(std::string(5000, 'x'), false, v1::MESSAGE_TOO_LARGE);
  expect_frame_error(std::string(20000, 'x'), true, v1::MESSAGE_TOO_LARGE);
  expect_observer_unharmed();
}

TEST_F(BadInput, FrameAboveTheHardLimitClosesWith1009) {
  // 16 x 4096 is the hard limit. One byte more, in fragments: the server
  // can only refuse the message at its last fragment, by when the whole of
  // it has been written (a refusal mid-write would race the close frame
  // with a reset).
  offender_.fragment_messages(4096);
  offender_.send_raw(std::string(16 * 4096 + 1, 'x'), true);
  EXPECT_EQ(offender_.wait_for_close(), 1009);
  expect_observer_unharmed_after_close();
}

TEST_F(BadInput, InvalidUtf8InATextFrameClosesWith1007) {
  // RFC 6455 section 8.1: the connection must fail.
  offender_.send_raw(std::string("{\"requestId\":1,\"ping\":{}} \xc3\x28", 29), false);
  EXPECT_EQ(offender_.wait_for_close(), 1007);
  expect_observer_unharmed_after_close();
}

TEST_F(BadInput, InvalidUtf8InAProtobufStringIsATypedError) {
  // ClientMessage{request_id: 0, room_id: "\xc3\x28"}
  expect_frame_error(std::string("\x12\x02\xc3\x28", 4), true, v1::INVALID_UTF8);
  expect_observer_unharmed();
}

TEST_F(BadInput, CommandsInARoomNotJoined) {
  EXPECT_EQ(offender_.request_error(ask("elsewhere", "hi")).code(), v1::NOT_IN_ROOM);
  v1::ClientMessage leave;
  leave.set_room_id("elsewhere");
  leave.mutable_leave_room();
  EXPECT_EQ(offender_.request_error(leave).code(), v1::NOT_IN_ROOM);
  expect_observer_unharmed();
}

TEST_F(BadInput, CommandsWithoutPermission) {
  const auto q = observer_.request_ok(ask(room_, "a question")).accepted().seq();
  observer_.events().clear();
  offender_.next_event();
  v1::ClientMessage message;
  message.set_room_id(room_);
  message.mutable_answer_question()->set_question_id(q);
  message.mutable_answer_question()->set_text("I am not the host");
  EXPECT_EQ(offender_.request_error(message).code(), v1::PERMISSION_DENIED);
  message.mutable_close_room();
  EXPECT_EQ(offender_.request_error(message).code(), v1::PERMISSION_DENIED);
  message.mutable_delete_question()->set_question_id(q);
  EXPECT_EQ(offender_.request_error(message).code(), v1::PERMISSION_DENIED);
  message.mutable_mute_member()->set_user_id("host-1");
  message.mutable_mute_member()->set_muted(true);
  EXPECT_EQ(offender_.request_error(message).code(), v1::PERMISSION_DENIED);
  expect_observer_unharmed();
}

TEST_F(BadInput, UnknownRoomQuestionAndMessageIds) {
  EXPECT_EQ(offender_.request_error(join("no-such-room")).code(), v1::ROOM_NOT_FOUND);
  EXPECT_EQ(offender_.request_error(join("bad room id!")).code(), v1::INVALID_ARGUMENT);
  EXPECT_EQ(offender_.request_error(vote(room_, 424242)).code(), v1::QUESTION_NOT_FOUND);
  EXPECT_EQ(offender_.request_error(say(room_, "re", 424242)).code(), v1::MESSAGE_NOT_FOUND);
  EXPECT_EQ(offender_.request_error(vote(room_, 0)).code(), v1::INVALID_ARGUMENT);
  expect_observer_unharmed();
}

TEST_F(BadInput, TokensThatGiveNoPrivilege) {
  WsClient intruder(server_.port());
  std::string token = ServerProcess::token("host", room_, "Fake", "fake");
  token[token.size() - 2] = token[token.size() - 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(intruder.request_error(hello(token)).code(), v1::TOKEN_INVALID);
  EXPECT_EQ(intruder.request_error(join(room_, "", ServerProcess::token("host", "other-room", "X", "x"))).code(),
            v1::TOKEN_WRONG_ROOM);
  EXPECT_EQ(intruder.request_error(hello("not.a.token")).code(), v1::TOKEN_INVALID);
  // Still usable, as a participant.
  const auto snapshot = intruder.request_ok(join(room_)).snapshot();
  EXPECT_EQ(snapshot.you().role(), v1::ROLE_PARTICIPANT);
}

TEST_F(BadInput, JoinTokenGivesItsRoleInItsRoomOnly) {
  host_.request_ok(create_room("room-2", v1::ROOM_KIND_SUPPORT));
  WsClient moderator(server_.port());
  const auto in_room = moderator.request_ok(join(room_, "", ServerProcess::token("moderator", room_, "Mo", "mo"))).snapshot();
  EXPECT_EQ(in_room.you().role(), v1::ROLE_MODERATOR);
  EXPECT_EQ(in_room.you().user_id(), "mo");
  const auto elsewhere = moderator.request_ok(join("room-2")).snapshot();
  EXPECT_EQ(elsewhere.you().role(), v1::ROLE_PARTICIPANT);
  EXPECT_EQ(elsewhere.you().user_id(), "mo") << "one connection, one person";
  WsClient other(server_.port());
  other.request_ok(join(room_, "", ServerProcess::token("moderator", room_, "Mo", "mo")));
  EXPECT_EQ(other.request_error(join("room-2", "", ServerProcess::token("host", "room-2", "X", "someone-else"))).code(),
            v1::TOKEN_INVALID)
      << "a token for another person";
}

TEST_F(BadInput, LeaveWithoutARequestIdStillGetsItsReply) {
  offender_.send_raw(R"({"roomId": "room-bad", "leaveRoom": {}})", false);
  const auto reply = offender_.next();
  ASSERT_TRUE(reply && reply->has_reply());
  EXPECT_EQ(reply->reply().request_id(), 0u);
  EXPECT_TRUE(reply->reply().ok().has_left());
  offender_.send_raw(R"({"roomId": "room-bad", "leaveRoom": {}})", false);
  const auto again = offender_.next();
  ASSERT_TRUE(again && again->has_reply());
  EXPECT_EQ(again->reply().error().code(), v1::NOT_IN_ROOM);
}

TEST_F(BadInput, HelloTokenThatExpiresLaterGivesNoMorePrivilege) {
  // Minted here, with an expiry the test knows, rather than by a sanitized
  // `hearth-server token` whose start-up on a loaded machine could eat the
  // whole of a short lifetime before the hello.
  WsClient brief(server_.port());
  Claims claims;
  claims.sub = "brief";
  claims.name = "Brief";
  claims.role = v1::ROLE_HOST;
  claims.room = "*";
  claims.exp = seconds_since_epoch(std::chrono::system_clock::now()) + 4;
  brief.request_ok(hello(mint_token(claims, ServerProcess::kSecret)));
  // Wait out the token's lifetime itself (exp is exclusive, whole seconds).
  std::this_thread::sleep_until(std::chrono::system_clock::time_point(std::chrono::seconds(claims.exp)) + 100ms);
  EXPECT_EQ(brief.request_error(create_room("late-room", v1::ROOM_KIND_AMA)).code(), v1::TOKEN_EXPIRED);
  EXPECT_EQ(brief.request_error(join(room_)).code(), v1::TOKEN_EXPIRED);
}

TEST_F(BadInput, HelloOnlyOnceAndBeforeJoining) {
  EXPECT_EQ(offender_.request_error(hello("", "Again")).code(), v1::ALREADY_IDENTIFIED);
  WsClient fresh(server_.port());
  fresh.request_ok(hello("", "Once"));
  EXPECT_EQ(fresh.request_error(hello("", "Twice")).code(), v1::ALREADY_IDENTIFIED);
}

TEST_F(BadInput, RoomLimitPerConnection) {
  host_.request_ok(create_room("room-2", v1::ROOM_KIND_SUPPORT));
  EXPECT_EQ(host_.request_error(create_room("room-3", v1::ROOM_KIND_SUPPORT)).code(), v1::TOO_MANY_ROOMS);
  EXPECT_EQ(offender_.request_error(join(room_)).code(), v1::ALREADY_IN_ROOM);
}

TEST_F(BadInput, TooLongTextAndEmptyText) {
  EXPECT_EQ(offender_.request_error(ask(room_, std::string(1001, 'q'))).code(), v1::TEXT_TOO_LONG);
  EXPECT_EQ(offender_.request_error(say(room_, "   ")).code(), v1::INVALID_ARGUMENT);
  expect_observer_unharmed();
}

}  // namespace
}  // namespace hearth::testing
