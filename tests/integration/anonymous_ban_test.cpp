// Bans that hold for anonymous people (issue 15.4; docs/protocol.md 2.22,
// 1.12, docs/privacy.md): a banned anonymous member who comes back as a new
// anonymous person from the same address is refused on every node, while
// the address is kept in storage only as a keyed hash with an expiry; and a
// room may admit only people who are signed in or invited.
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "engine/redis/engine_redis.hpp"
#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;

v1::ClientMessage ban(const std::string& room, const std::string& user_id, bool banned) {
  return room_command(room, [&](v1::ClientMessage& m) {
    m.mutable_ban_member()->set_user_id(user_id);
    m.mutable_ban_member()->set_banned(banned);
  });
}

// Redis' keys for the room's banned addresses, once the node that held the
// banned person's connection has written them (or none, after `deadline`).
std::vector<std::string> banned_address_keys(const RedisProcess& redis, const std::string& room, bool want,
                                             std::chrono::milliseconds deadline = 5s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    std::vector<std::string> keys;
    std::istringstream lines(redis.cli({"KEYS", redis_keys::banned_address(room, "*")}));
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) keys.push_back(line);
    }
    if (keys.empty() != want || std::chrono::steady_clock::now() >= until) return keys;
    std::this_thread::sleep_for(20ms);  // polling storage, which sends no event
  }
}

TEST(AnonymousBans, ABannedAnonymousPersonBackAsSomeoneNewFromTheSameAddressIsRefusedOnEveryNode) {
  RedisProcess redis;
  ServerProcess node_a(redis.node_args());
  ServerProcess node_b(redis.node_args());
  WsClient host(node_a.port());
  host.request_ok(hello(ServerProcess::token("host", "*", "Lee", "lee")));
  host.request_ok(create_room("group", v1::ROOM_KIND_SUPPORT));
  host.request_ok(create_room("other", v1::ROOM_KIND_SUPPORT));
  WsClient tee(node_b.port());
  const auto tee_id = tee.request_ok(join("group", "Tee")).snapshot().you().user_id();

  host.request_ok(ban("group", tee_id, true));
  tee.next_event_where([](const v1::Event& e) { return e.has_member_banned(); });
  const auto keys = banned_address_keys(redis, "group", true);
  ASSERT_EQ(keys.size(), 1u) << "Tee's one connection's address";

  // What storage holds: a hash of the address, never the address, with an
  // expiry of at most the default 24 hours.
  const std::string everything = redis.cli({"KEYS", "*"});
  EXPECT_EQ(everything.find("127.0.0.1"), std::string::npos) << everything;
  EXPECT_EQ(redis.cli({"GET", keys[0]}).find("127.0.0.1"), std::string::npos);
  const long ttl = std::stol(redis.cli({"TTL", keys[0]}));
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 24 * 3600);

  // An invite does not override it either.
  const auto invite =
      host.request_ok(room_command("group", [](v1::ClientMessage& m) { m.mutable_create_invite(); }))
          .invite()
          .token();
  WsClient invited(node_a.port());
  auto with_invite = join("group", "Invited");
  with_invite.mutable_join_room()->set_invite(invite);
  EXPECT_EQ(invited.request_error(with_invite).code(), v1::BANNED);

  // Back as someone new, on either node: refused. In another room, and
  // signed in, the same address is welcome.
  for (const auto port : {node_a.port(), node_b.port()}) {
    WsClient again(port);
    EXPECT_EQ(again.request_error(join("group", "Not Tee")).code(), v1::BANNED) << "port " << port;
    again.request_ok(join("other", "Not Tee"));
  }
  WsClient pat(node_a.port());
  pat.request_ok(join("group", "", ServerProcess::token("participant", "*", "Pat", "pat")));

  // The ban lifted, the address is free again.
  host.request_ok(ban("group", tee_id, false));
  EXPECT_TRUE(banned_address_keys(redis, "group", false).empty());
  WsClient back(node_b.port());
  back.request_ok(join("group", "Tee"));
}

// docs/protocol.md 2.2 (requireSignIn), 1.12.
TEST(SignedInRooms, AdmitAnonymousPeopleOnlyWithAnInviteOrThePasscode) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "circle", "Lee", "lee")));
  auto create = create_room("circle", v1::ROOM_KIND_SUPPORT);
  create.mutable_create_room()->mutable_settings()->set_require_sign_in(true);
  create.mutable_create_room()->set_passcode("tuesday-evening");
  host.request_ok(create);

  WsClient anonymous(server.port());
  const auto refused = anonymous.request_error(join("circle", "Kit"));
  EXPECT_EQ(refused.code(), v1::SIGN_IN_REQUIRED);
  auto wrong = join("circle", "Kit");
  wrong.mutable_join_room()->set_passcode("wednesday");
  EXPECT_EQ(anonymous.request_error(wrong).code(), v1::PASSCODE_WRONG);
  auto right = join("circle", "Kit");
  right.mutable_join_room()->set_passcode("tuesday-evening");
  anonymous.request_ok(right);

  const auto invite =
      host.request_ok(room_command("circle", [](v1::ClientMessage& m) { m.mutable_create_invite(); }))
          .invite()
          .token();
  WsClient invited(server.port());
  auto with_invite = join("circle", "Ash");
  with_invite.mutable_join_room()->set_invite(invite);
  invited.request_ok(with_invite);

  WsClient signed_in(server.port());
  signed_in.request_ok(join("circle", "", ServerProcess::token("participant", "*", "Pat", "pat")));

  // Letting anonymous people in again must be meant (2.5).
  v1::RoomSettings open;
  EXPECT_EQ(host.request_error(update_settings("circle", open, {"require_sign_in"})).code(),
            v1::CONFIRMATION_REQUIRED);
  host.request_ok(update_settings("circle", open, {"require_sign_in"}, /*allow_loosening=*/true));
  WsClient later(server.port());
  later.request_ok(join("circle", "Lou"));
}

}  // namespace
}  // namespace hearth::testing
