// A leaveRoom while Redis is unreachable (docs/protocol.md 2.4): it is
// answered UNAVAILABLE but has still taken the connection out of the room:
// no more events reach it and a retry gets NOT_IN_ROOM. Once Redis is back,
// the node writes the departure it could not write then, and the others see
// the member go (docs/architecture.md, "Presence across nodes").
#include <gtest/gtest.h>

#include <thread>

#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

namespace http = boost::beast::http;

// Waits (bounded) until /readyz answers `status`: the node's own view of
// whether it can reach Redis, which nothing pushes to a client.
bool readyz_becomes(std::uint16_t port, unsigned status, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (http_request(port, http::verb::get, "/readyz").result_int() == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a state to poll, not an event to await
  }
  return false;
}

// docs/protocol.md 2.4 ("A leave answered UNAVAILABLE has still taken this
// connection out of the room: no more events come, and a retry gets
// NOT_IN_ROOM"), 1.11 (storage outage: "leaveRoom leaves anyway"), 5.1.
TEST(StorageOutage, ALeaveAnsweredUnavailableHasLeftAndOthersSeeTheMemberDisconnectOnceRedisIsBack) {
  RedisProcess redis;
  // A short presence TTL: rooms sweep every third of it (1 s), which is
  // when a departure that could not be written is written.
  ServerProcess node({"--engine", "redis", "--redis", redis.url(), "--presence-ttl", "3s"});
  WsClient host(node.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Dr. Ada", "ada")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient observer(node.port(), Encoding::binary);
  observer.request_ok(join("r", "Obi"));
  WsClient leaver(node.port());
  const auto leaver_id = leaver.request_ok(join("r", "Lee")).snapshot().you().user_id();
  host.next_event_where([&](const v1::Event& e) { return says_joined(e, leaver_id); });
  host.request_ok(say("r", "before the outage"));
  leaver.next_event_where([](const v1::Event& e) { return e.has_message_posted(); });
  observer.next_event_where([](const v1::Event& e) { return e.has_message_posted(); });

  redis.kill();
  ASSERT_TRUE(readyz_becomes(node.port(), 503, std::chrono::seconds(10))) << "the node noticed the outage";

  v1::ClientMessage leave;
  leave.set_room_id("r");
  leave.mutable_leave_room();
  leaver.events().clear();  // from here on, nothing of the room may reach it
  const auto reply = leaver.request(leave);
  ASSERT_TRUE(reply.has_error()) << reply.ShortDebugString();
  EXPECT_EQ(reply.error().code(), v1::UNAVAILABLE);
  // Out of the room already: a retry, or any command there, is NOT_IN_ROOM.
  EXPECT_EQ(leaver.request_error(leave).code(), v1::NOT_IN_ROOM);
  EXPECT_EQ(leaver.request_error(say("r", "still here?")).code(), v1::NOT_IN_ROOM);
  EXPECT_TRUE(leaver.request_ok(ping()).has_pong()) << "the connection itself is fine";

  redis.start();  // the same data (AOF)
  ASSERT_TRUE(readyz_becomes(node.port(), 200, std::chrono::seconds(20))) << "the node reconnected";
  // The others see the member go, as a disconnect: the node writes the
  // departure it could not write during the outage.
  const auto left = host.next_event_where([&](const v1::Event& e) { return says_left(e, leaver_id) != nullptr; }, 10s);
  EXPECT_EQ(says_left(left, leaver_id)->reason(), v1::MemberLeft::REASON_DISCONNECTED);
  observer.next_presence_where([](const v1::Presence& p) { return p.present() == 2; }, 10s);

  // No more events reach the connection that left: the host's message is
  // the observer's next event and never the leaver's. (Both were sent to
  // the members' sessions before the observer read it; the leaver's ping
  // reply is queued after anything sent to it before.)
  host.request_ok(say("r", "after the outage"));
  EXPECT_EQ(observer.next_event_where([](const v1::Event& e) { return e.has_message_posted(); })
                .message_posted()
                .text(),
            "after the outage");
  EXPECT_TRUE(leaver.request_ok(ping()).has_pong());
  for (const auto& event : leaver.events()) ADD_FAILURE() << "after leaving: " << event.ShortDebugString();
  EXPECT_EQ(leaver.request_error(leave).code(), v1::NOT_IN_ROOM);

  // The room knows the member gone: a late joiner's snapshot lists host and
  // observer only, and the leaver may join again.
  WsClient late(node.port());
  const auto snapshot = late.request_ok(join("r", "Lou")).snapshot();
  for (const auto& member : snapshot.members()) EXPECT_NE(member.person().user_id(), leaver_id);
  EXPECT_EQ(snapshot.members_size(), 3);  // ada, obi, lou
  leaver.request_ok(join("r", "Lee"));
}

// A Redis given by host name is resolved by Asio's resolver (off the
// loop), at the start and at every reconnect, and hiredis gets the
// address.
// Commands waiting for a room this node cannot load (Redis answers nobody)
// are bounded: past --max-waiting-ops one more is refused at once, and none
// waits longer than kLoadPatience (10 s) unanswered (protocol.md 1.11).
TEST(StorageOutage, JoinsWaitingForARoomThatCannotBeLoadedAreBoundedAndAnswered) {
  RedisProcess redis;
  ServerProcess node_a(redis.node_args());
  std::vector<std::string> args = redis.node_args();
  for (const char* arg : {"--max-waiting-ops", "3"}) args.emplace_back(arg);
  ServerProcess node_b(args);
  WsClient host(node_a.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Dr. Ada", "ada")));
  host.request_ok(create_room("r", v1::ROOM_KIND_AMA));

  // For 20 s Redis answers nobody: node B, which does not have the room
  // open, cannot read its log.
  redis.cli({"CLIENT", "PAUSE", "20000", "ALL"});
  std::vector<std::unique_ptr<WsClient>> joiners;
  std::vector<std::uint32_t> ids;
  for (int i = 0; i < 5; ++i) {
    joiners.push_back(std::make_unique<WsClient>(node_b.port()));
    ids.push_back(joiners.back()->send(join("r", "Joiner " + std::to_string(i))));
  }
  const auto sent = std::chrono::steady_clock::now();
  // Two are past the cap of three waiting: refused at once (which two
  // depends on the order they reach the room; the node's metrics count
  // them without a read that could time out on the three still waiting).
  const std::string refused = R"(hearth_command_errors_total{command="joinRoom",code="UNAVAILABLE"} 2)";
  bool counted = false;
  while (!counted && std::chrono::steady_clock::now() - sent < 4s) {
    counted = http_request(node_b.port(), http::verb::get, "/metrics").body().find(refused) != std::string::npos;
    if (!counted) std::this_thread::sleep_for(20ms);  // a counter to poll, not an event to await
  }
  EXPECT_TRUE(counted) << "two refused within 4 s";
  // All five are answered UNAVAILABLE: the three waiting after
  // kLoadPatience, while Redis is still paused, not left waiting.
  for (std::size_t i = 0; i < joiners.size(); ++i) {
    const auto reply = joiners[i]->reply_to(ids[i], 15s);
    EXPECT_EQ(reply.error().code(), v1::UNAVAILABLE) << reply.ShortDebugString();
  }
  const auto waited = std::chrono::steady_clock::now() - sent;
  EXPECT_GE(waited, 9s) << "they waited for the room first";
  EXPECT_LT(waited, 19s) << "and were answered before Redis was back";

  // Redis back: the room loads and a join gets in.
  WsClient late(node_b.port());
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  v1::Reply reply;
  do {
    reply = late.request(join("r", "Late"), 20s);
    if (reply.has_ok()) break;
    ASSERT_EQ(reply.error().code(), v1::UNAVAILABLE) << reply.ShortDebugString();
    std::this_thread::sleep_for(200ms);  // retrying, as a client told UNAVAILABLE does
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(reply.has_ok()) << reply.ShortDebugString();
}

TEST(StorageOutage, ARedisGivenByHostNameIsResolvedAtEveryReconnect) {
  RedisProcess redis;
  ServerProcess node({"--engine", "redis", "--redis", "redis://localhost:" + std::to_string(redis.port())});
  WsClient host(node.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  host.request_ok(say("r", "before"));
  redis.kill();
  ASSERT_TRUE(readyz_becomes(node.port(), 503, std::chrono::seconds(10)));
  redis.start();
  ASSERT_TRUE(readyz_becomes(node.port(), 200, std::chrono::seconds(20)));
  WsClient again(node.port());
  again.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  again.request_ok(join("r"));
  again.request_ok(say("r", "after"));
}

// Redis goes away for 2, 4 and 8 s, longer than the nodes' heartbeats last
// (--presence-ttl 3s). Whichever node reconnects first must not take the
// other, still alive and reconnecting, for dead: nobody is ever written off,
// and everyone can speak once Redis is back.
TEST(StorageOutage, ARedisOutageLongerThanTheHeartbeatWritesOffNoLiveNodesMembers) {
  RedisProcess redis;
  std::vector<std::string> args = redis.node_args();
  args.insert(args.end(), {"--presence-ttl", "3s"});
  ServerProcess a(args), b(args);
  WsClient host(a.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient mod(b.port());
  mod.request_ok(hello(ServerProcess::token("moderator", "r", "Mo", "mo")));
  mod.request_ok(join("r"));
  WsClient river(b.port());
  river.request_ok(join("r", "River"));
  WsClient sam(a.port());
  sam.request_ok(join("r", "Sam"));

  auto written_off = [](WsClient& client) {
    std::vector<std::string> out;
    for (const auto& event : client.events()) {
      if (event.has_member_left()) out.push_back("memberLeft " + event.member_left().person().display_name());
      for (const auto& left : event.members_changed().left()) out.push_back("left " + left.person().display_name());
    }
    client.events().clear();
    return out;
  };
  int round = 0;
  for (const int seconds : {2, 4, 8}) {
    SCOPED_TRACE("Redis away for " + std::to_string(seconds) + " s");
    for (auto* client : {&host, &mod, &river, &sam}) client->events().clear();
    redis.kill();
    std::this_thread::sleep_for(std::chrono::seconds(seconds));  // the outage itself, not a wait for anything
    redis.start();
    ASSERT_TRUE(readyz_becomes(a.port(), 200, std::chrono::seconds(20)));
    ASSERT_TRUE(readyz_becomes(b.port(), 200, std::chrono::seconds(20)));
    // Everyone speaks, on both nodes: a member written off would get
    // NOT_IN_ROOM. Then two sweeps' worth of time (1 s each at this TTL) for
    // any repair to show, marked by the host's last message.
    const std::string mark = "round " + std::to_string(++round);
    for (auto* client : {&host, &mod, &river, &sam}) {
      const auto reply = client->request(say("r", mark + " speaks"));
      EXPECT_TRUE(reply.has_ok()) << reply.DebugString();
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));  // room for a false repair to happen, if any would
    host.request_ok(say("r", mark + " ends"));
    for (auto* client : {&host, &mod, &river, &sam}) {
      client->next_event_where([&](const v1::Event& e) { return e.message_posted().text() == mark + " ends"; }, 10s);
    }
    for (auto* staff : {&host, &mod}) EXPECT_EQ(written_off(*staff), std::vector<std::string>{});
    for (auto* member : {&river, &sam}) EXPECT_EQ(written_off(*member), std::vector<std::string>{});
  }
}

}  // namespace
}  // namespace hearth::testing
