// docs/privacy.md's claims about storage, checked in Redis itself (every
// key and its contents, as XRANGE, HGETALL, SMEMBERS and GET return them),
// not only through what the server shows. The other claims' tests are
// named in the table of docs/privacy.md section 13.
#include <gtest/gtest.h>

#include <thread>

#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;

// A private room with a passcode, entered with a staff token, an invite, the
// passcode and a resume token; an anonymous member banned (so that their
// address is marked), a report, a crisis message, an anonymous question: the
// secrets and the address must appear nowhere in storage, nor in the
// server's log, along with what people wrote.
TEST(PrivacyClaims, StorageHoldsNoAddressTokenInvitePasscodeOrResumeToken) {
  RedisProcess redis;
  ServerProcess node(redis.node_args());
  const std::string host_token = ServerProcess::token("host", "circle", "Lee", "lee");
  const std::string passcode = "tulip-harbour-42";
  WsClient host(node.port());
  host.request_ok(hello(host_token));
  auto create = create_room("circle", v1::ROOM_KIND_SUPPORT);
  create.mutable_create_room()->mutable_settings()->set_invite_only(true);
  create.mutable_create_room()->set_passcode(passcode);
  host.request_ok(create);
  const std::string invite =
      host.request_ok(room_command("circle", [](v1::ClientMessage& m) { m.mutable_create_invite(); }))
          .invite()
          .token();

  WsClient invited(node.port());
  const auto invited_join = invited.request_ok([&] {
    auto message = join("circle", "Ivy");
    message.mutable_join_room()->set_invite(invite);
    return message;
  }());
  WsClient guesser(node.port());
  const auto guest_join = guesser
                              .request_ok([&] {
                                auto message = join("circle", "Gus");
                                message.mutable_join_room()->set_passcode(passcode);
                                return message;
                              }())
                              .snapshot();
  invited.request_ok(say("circle", "I have been hiding the pills"));
  const auto reported = guesser.request_ok(say("circle", "rude words here")).accepted().seq();
  invited.request_ok(room_command("circle", [&](v1::ClientMessage& m) {
    m.mutable_report_item()->set_message_id(reported);
    m.mutable_report_item()->set_reason("spite");
  }));
  // Gus comes back with his resume token (and the passcode), then is banned.
  WsClient gus_again(node.port());
  const auto back = gus_again
                        .request_ok([&] {
                          auto message = join("circle", "Gus", guest_join.resume_token());
                          message.mutable_join_room()->set_passcode(passcode);
                          return message;
                        }())
                        .snapshot();
  ASSERT_EQ(back.you().user_id(), guest_join.you().user_id());
  guesser.request_ok(leave_room("circle"));
  host.request_ok(room_command("circle", [&](v1::ClientMessage& m) {
    m.mutable_ban_member()->set_user_id(back.you().user_id());
    m.mutable_ban_member()->set_banned(true);
  }));
  gus_again.next_event_where([](const v1::Event& e) { return e.has_member_banned(); });

  // The address mark is written by the node asynchronously: wait for it.
  std::string stored;
  for (const auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;) {
    stored = redis.dump();
    if (stored.find(":banned-address:") != std::string::npos) break;
    std::this_thread::sleep_for(20ms);  // storage sends no event
  }
  ASSERT_NE(stored.find(":banned-address:"), std::string::npos) << stored;
  ASSERT_NE(stored.find("I have been hiding the pills"), std::string::npos) << "the dump reads the log";
  for (const std::string& secret : {host_token, invite, passcode, guest_join.resume_token(),
                                    back.resume_token(), std::string("127.0.0.1")}) {
    EXPECT_EQ(stored.find(secret), std::string::npos) << secret << " in storage:\n" << stored;
  }
  // The server's own log holds neither secrets nor what people wrote or are called.
  const std::string log = node.log();
  for (const std::string& kept :
       {host_token, invite, passcode, guest_join.resume_token(), std::string("pills"), std::string("spite"),
        std::string("Ivy"), std::string("Gus")}) {
    EXPECT_EQ(log.find(kept), std::string::npos) << kept << " in the server's log";
  }
}

// One anonymous connection in two rooms is two unrelated ids in storage: the
// rooms' logs share no id, neither holds the connection's own user id, and
// no log holds the connection's id (which the server's debug log names),
// so that nothing ties the two members together.
TEST(PrivacyClaims, AnAnonymousConnectionIsSomeoneElseInEachRoomsStoredLog) {
  RedisProcess redis;
  auto args = redis.node_args();
  args.insert(args.end(), {"--log-level", "debug"});
  ServerProcess node(args);
  WsClient host(node.port());
  host.request_ok(hello(ServerProcess::token("host", "*", "Lee", "lee")));
  host.request_ok(create_room("monday", v1::ROOM_KIND_SUPPORT));
  host.request_ok(create_room("friday", v1::ROOM_KIND_SUPPORT));
  WsClient guest(node.port());
  const auto connection_id = guest.request_ok(hello("")).welcome().user_id();
  std::string ids[2];
  int i = 0;
  for (const char* room : {"monday", "friday"}) {
    ids[i++] = guest.request_ok(join(room)).snapshot().you().user_id();
    guest.request_ok(say(room, "hello all"));
  }
  const std::string monday = redis.cli({"XRANGE", "hearth:{room:monday}:log", "-", "+"});
  const std::string friday = redis.cli({"XRANGE", "hearth:{room:friday}:log", "-", "+"});
  EXPECT_NE(monday.find(ids[0]), std::string::npos);
  EXPECT_NE(friday.find(ids[1]), std::string::npos);
  EXPECT_EQ(monday.find(ids[1]), std::string::npos);
  EXPECT_EQ(friday.find(ids[0]), std::string::npos);
  EXPECT_EQ((monday + friday).find(connection_id), std::string::npos);
  // The connection's own id, from the server's log: it names the
  // connection when it closes one for undecodable frames.
  for (int frame = 0; frame < 12; ++frame) guest.send_raw("not json", false);
  const std::string closing = " sent too many frames that could not be decoded";
  ASSERT_TRUE(node.wait_for_log(closing));
  const std::string log = node.log();
  const auto at = log.rfind("session ", log.find(closing));
  ASSERT_NE(at, std::string::npos) << log;
  const std::string session = log.substr(at + 8, log.find(' ', at + 8) - at - 8);
  ASSERT_EQ(session.size(), 24u) << session;
  EXPECT_EQ(redis.dump().find(session), std::string::npos) << "the connection's id is in storage";
}

}  // namespace
}  // namespace hearth::testing
