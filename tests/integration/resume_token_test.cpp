// Anonymous identities (issue 15.8-9; docs/protocol.md 1.5, docs/privacy.md):
// an anonymous member comes back as themselves only in the room whose
// resume token they hold, the token names no one and cannot be renewed
// past its bound, "forget me" voids it on every node, and one connection is
// someone different in every room it joins.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <boost/json.hpp>
#include <chrono>

#include "domain/token.hpp"
#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;

// The claims a token carries, as a client that decodes it would read them.
boost::json::object payload_of(const std::string& token) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  std::string part = token.substr(first + 1, second - first - 1);
  for (char& c : part) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (part.size() % 4 != 0) part.push_back('=');
  std::string json(part.size(), '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(json.data()),
                      reinterpret_cast<const unsigned char*>(part.data()), static_cast<int>(part.size()));
  EXPECT_GT(n, 0);
  json.resize(static_cast<std::size_t>(std::max(n, 0)));
  while (!json.empty() && json.back() == '\0') json.pop_back();
  return boost::json::parse(json).as_object();
}

v1::ClientMessage forget_me(const std::string& room) {
  return room_command(room, [](v1::ClientMessage& m) { m.mutable_forget_me(); });
}

std::int64_t now_seconds() {
  return seconds_since_epoch(std::chrono::system_clock::now());
}

TEST(ResumeTokens, BringAnAnonymousMemberBackInTheirRoomOnlyAndNameNoOne) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "*", "Dr. Ada", "ada")));
  host.request_ok(create_room("r", v1::ROOM_KIND_AMA));
  host.request_ok(create_room("other", v1::ROOM_KIND_AMA));
  const auto question = host.request_ok(ask("r", "Does this work?")).accepted().seq();

  std::string token, user_id, name;
  {
    WsClient guest(server.port());
    const auto welcome = guest.request_ok(hello("")).welcome();
    EXPECT_TRUE(welcome.anonymous());
    const auto snapshot = guest.request_ok(join("r")).snapshot();
    token = snapshot.resume_token();
    user_id = snapshot.you().user_id();
    name = snapshot.you().display_name();
    ASSERT_FALSE(token.empty());
    EXPECT_NE(guest.request_ok(vote("r", question)).accepted().seq(), 0u);
  }
  // What anyone who sees the token learns: the room and an id, no name.
  const auto claims = payload_of(token);
  EXPECT_EQ(claims.at("room").as_string(), "r");
  EXPECT_FALSE(claims.contains("name"));
  EXPECT_EQ(boost::json::serialize(claims).find(name), std::string::npos) << boost::json::serialize(claims);
  EXPECT_LE(claims.at("exp").as_int64(), now_seconds() + 24 * 3600 + 5);

  WsClient back(server.port());
  back.request_ok(hello(""));
  const auto snapshot = back.request_ok(join("r", "", token)).snapshot();
  EXPECT_EQ(snapshot.you().user_id(), user_id) << "the same member";
  EXPECT_EQ(snapshot.you().display_name(), name) << "under the same pseudonym";
  ASSERT_EQ(snapshot.questions_size(), 1);
  EXPECT_TRUE(snapshot.questions(0).voted_by_me()) << "their vote is still theirs";
  EXPECT_EQ(back.request_ok(vote("r", question)).accepted().seq(), 0u) << "and counts once";
  EXPECT_FALSE(snapshot.resume_token().empty()) << "renewed";

  // Nowhere else, and not as a connection's identity.
  WsClient thief(server.port());
  EXPECT_EQ(thief.request_error(join("other", "", token)).code(), v1::TOKEN_WRONG_ROOM);
  EXPECT_EQ(thief.request_error(hello(token)).code(), v1::TOKEN_INVALID);
  WsClient signed_in(server.port());
  signed_in.request_ok(hello(ServerProcess::token("participant", "*", "Nia", "nia")));
  EXPECT_EQ(signed_in.request_error(join("r", "", token)).code(), v1::TOKEN_INVALID);
}

TEST(ResumeTokens, RenewalNeverOutlivesSevenDaysFromTheFirstJoin) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Dr. Ada", "ada")));
  host.request_ok(create_room("r", v1::ROOM_KIND_AMA));
  // A token whose identity was made almost seven days ago, renewed since.
  const std::int64_t since = now_seconds() - 7 * 24 * 3600 + 60;
  const auto old =
      mint_resume({"anon:00112233aabbccdd", "r", since, now_seconds() + 3600}, ServerProcess::kSecret);
  WsClient back(server.port());
  const auto snapshot = back.request_ok(join("r", "", old)).snapshot();
  EXPECT_EQ(snapshot.you().user_id(), "anon:00112233aabbccdd");
  const auto renewed = payload_of(snapshot.resume_token());
  EXPECT_EQ(renewed.at("since").as_int64(), since) << "renewals keep the first join";
  EXPECT_EQ(renewed.at("exp").as_int64(), since + 7 * 24 * 3600) << "not a day from now";
  // Past the bound, it is refused like any expired token.
  const auto spent =
      mint_resume({"anon:00112233aabbccdd", "r", since, now_seconds() - 1}, ServerProcess::kSecret);
  WsClient late(server.port());
  EXPECT_EQ(late.request_error(join("r", "", spent)).code(), v1::TOKEN_EXPIRED);
}

TEST(ResumeTokens, ForgetMeVoidsEveryTokenOfTheMemberOnEveryNode) {
  RedisProcess redis;
  ServerProcess node_a(redis.node_args());
  ServerProcess node_b(redis.node_args());
  WsClient host(node_a.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));

  WsClient tab(node_a.port());
  const auto first = tab.request_ok(join("r", "Robin")).snapshot();
  const auto user_id = first.you().user_id();
  // A second tab of the same person, on the other node, renews the token.
  WsClient other_tab(node_b.port());
  const auto renewed = other_tab.request_ok(join("r", "Robin", first.resume_token())).snapshot();
  ASSERT_EQ(renewed.you().user_id(), user_id);
  other_tab.request_ok(leave_room("r"));

  EXPECT_TRUE(tab.request_ok(forget_me("r")).has_left()) << "forgetting leaves the room";
  EXPECT_EQ(tab.request_error(ask("r", "still here?")).code(), v1::NOT_IN_ROOM);
  // Storage keeps the id (already in the room's log) for the tokens' life, and nothing else.
  const std::string key = "hearth:{room:r}:forgotten:" + user_id;
  const auto ttl = std::stoll(redis.cli({"TTL", key}));
  EXPECT_GT(ttl, 24 * 3600) << "as long as the member's tokens can last: a day, and a minute for clocks";
  EXPECT_LE(ttl, 24 * 3600 + 60);
  EXPECT_EQ(redis.cli({"GET", key}), "1\n");

  for (auto* node : {&node_a, &node_b}) {
    for (const auto& token : {first.resume_token(), renewed.resume_token()}) {
      WsClient thief(node->port());
      EXPECT_EQ(thief.request_error(join("r", "", token)).code(), v1::TOKEN_INVALID);
    }
  }
  // The connection that asked is someone new if it comes back without one.
  EXPECT_NE(tab.request_ok(join("r")).snapshot().you().user_id(), user_id);
  // Signed-in people are the operator's to forget.
  WsClient nia(node_b.port());
  nia.request_ok(hello(ServerProcess::token("participant", "r", "Nia", "nia")));
  nia.request_ok(join("r"));
  EXPECT_EQ(nia.request_error(forget_me("r")).code(), v1::INVALID_ARGUMENT);
}

// A client that sends forgetMe, leaveRoom and joinRoom at once is the new
// member at the end, still in the room, whenever storage answers; and a
// connection that joined many rooms since is still someone new on return.
TEST(ResumeTokens, ForgetMeThenLeaveAndJoinAtOnceEndsAsTheNewMember) {
  RedisProcess redis;
  ServerProcess node(redis.node_args());
  WsClient host(node.port());
  host.request_ok(hello(ServerProcess::token("host", "*", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient guest(node.port());
  const auto old_id = guest.request_ok(join("r")).snapshot().you().user_id();
  const auto forget = guest.send(forget_me("r"));
  const auto leave = guest.send(leave_room("r"));
  const auto again = guest.send(join("r"));
  EXPECT_TRUE(guest.reply_to(forget).has_ok());
  guest.reply_to(leave);  // left, or not in the room yet: either way
  const auto snapshot = guest.reply_to(again);
  ASSERT_TRUE(snapshot.ok().has_snapshot()) << snapshot.ShortDebugString();
  const auto new_id = snapshot.ok().snapshot().you().user_id();
  EXPECT_NE(new_id, old_id);
  EXPECT_GT(guest.request_ok(say("r", "still here")).accepted().seq(), 0u) << "the new member is in the room";
  // Many rooms later (more than a connection keeps ids for), the forgotten
  // identity does not come back on this connection.
  guest.request_ok(leave_room("r"));
  for (int i = 0; i < 70; ++i) {
    const auto room = "x" + std::to_string(i);
    host.request_ok(create_room(room, v1::ROOM_KIND_SUPPORT));
    host.request_ok(leave_room(room));
    guest.request_ok(join(room));
    guest.request_ok(leave_room(room));
  }
  const auto last = guest.request_ok(join("r")).snapshot().you().user_id();
  EXPECT_NE(last, old_id);
}

TEST(AnonymousIds, OneConnectionIsSomeoneDifferentInEveryRoom) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "*", "Lee", "lee")));
  host.request_ok(create_room("a", v1::ROOM_KIND_SUPPORT));
  host.request_ok(create_room("b", v1::ROOM_KIND_SUPPORT));
  WsClient guest(server.port());
  const auto connection_id = guest.request_ok(hello("")).welcome().user_id();
  const auto in_a = guest.request_ok(join("a")).snapshot().you().user_id();
  const auto in_b = guest.request_ok(join("b")).snapshot().you().user_id();
  EXPECT_NE(in_a, in_b) << "two hosts cannot tie their members to one person";
  EXPECT_NE(in_a, connection_id);
  EXPECT_NE(in_b, connection_id);
  // A rejoin on the same connection is the same member.
  guest.request_ok(leave_room("a"));
  EXPECT_EQ(guest.request_ok(join("a")).snapshot().you().user_id(), in_a);
}

}  // namespace
}  // namespace hearth::testing
