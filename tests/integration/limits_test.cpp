// Abuse limits and access rules at the connection: each one gives the
// offender its documented error, while another member of the same room
// keeps receiving everything.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

namespace http = boost::beast::http;

// A WebSocket upgrade request by hand (with `origin`, if any): its status.
unsigned upgrade_status(std::uint16_t port, const std::string& origin = "") {
  std::vector<std::pair<std::string, std::string>> headers{
      {"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Version", "13"},
      {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
  if (!origin.empty()) headers.emplace_back("Origin", origin);
  return http_request(port, http::verb::get, "/ws", "", headers).result_int();
}

// `rounds` pings on each of `tabs` in turn: how many were answered, how
// many RATE_LIMITED, and how long it all took (the budgets refill meanwhile).
struct Pinged {
  int ok = 0;
  int limited = 0;
  double seconds = 0;
};
Pinged ping_rounds(std::vector<std::unique_ptr<WsClient>>& tabs, int rounds) {
  Pinged pinged;
  const auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < rounds; ++round) {
    for (auto& tab : tabs) {
      const auto reply = tab->request(ping());
      if (reply.has_ok()) ++pinged.ok;
      else if (reply.error().code() == v1::RATE_LIMITED) ++pinged.limited;
    }
  }
  pinged.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return pinged;
}

TEST(Limits, AFloodingConnectionIsSlowedAndNobodyElseNotices) {
  ServerProcess server({"--message-rate", "2", "--message-burst", "5"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Dr. Ada", "ada")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient observer(server.port());
  observer.request_ok(join("r", "Obi"));
  WsClient flooder(server.port());
  flooder.request_ok(join("r", "Flo"));

  std::vector<std::uint64_t> accepted;
  std::uint32_t retry_after = 0;
  int limited = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    const auto reply = flooder.request(say("r", "flood " + std::to_string(i)));
    if (reply.has_ok()) {
      accepted.push_back(reply.ok().accepted().seq());
    } else {
      ASSERT_EQ(reply.error().code(), v1::RATE_LIMITED);
      retry_after = reply.error().retry_after_ms();
      ++limited;
    }
  }
  // The documented budget: a burst of 5, refilled at 2 a second. However
  // slowly a loaded machine sent the 20, no more than that got through.
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_LE(static_cast<double>(accepted.size()), 5 + 2 * seconds + 1) << "over " << seconds << " s";
  EXPECT_EQ(accepted.size() + static_cast<std::size_t>(limited), 20u);
  EXPECT_GE(limited, 1);
  EXPECT_GT(retry_after, 0u) << "the client is told when to try again";
  EXPECT_LE(retry_after, 1000u);

  // Everyone else is unaffected: the host posts freely, the observer gets
  // every accepted message, in order.
  // (hello and create spent two of the host's five; three more are free)
  for (int i = 0; i < 3; ++i) accepted.push_back(host.request_ok(say("r", "host " + std::to_string(i))).accepted().seq());
  std::vector<std::uint64_t> seen;
  while (seen.size() < accepted.size()) {
    seen.push_back(observer.next_event_where([](const v1::Event& e) { return e.has_message_posted(); }).seq());
  }
  std::sort(accepted.begin(), accepted.end());
  EXPECT_EQ(seen, accepted);

  // After the wait it was given, the flooder may speak again.
  std::this_thread::sleep_for(std::chrono::milliseconds(retry_after + 50));
  EXPECT_TRUE(flooder.request(say("r", "calmer now")).has_ok());
}

TEST(Limits, OneIdentityOverManyConnectionsSharesOneBudget) {
  ServerProcess server({"--identity-message-rate", "1", "--identity-message-burst", "6"});
  const std::string token = ServerProcess::token("participant", "*", "Multi", "multi");
  std::vector<std::unique_ptr<WsClient>> tabs;
  for (int i = 0; i < 3; ++i) {
    tabs.push_back(std::make_unique<WsClient>(server.port()));
    tabs.back()->request_ok(hello(token));
  }
  const auto [ok, limited, seconds] = ping_rounds(tabs, 6);
  // One budget of 6, refilled at 1 a second, however slowly the 18 went.
  EXPECT_LE(ok, 6 + seconds + 1) << "18 pings over three connections in " << seconds << " s";
  EXPECT_EQ(ok + limited, 18);
  WsClient someone_else(server.port());
  EXPECT_TRUE(someone_else.request(ping()).has_ok());
}

TEST(Limits, ConnectionsPerAddressAreCapped) {
  ServerProcess server({"--max-connections-per-ip", "3"});
  std::vector<std::unique_ptr<WsClient>> open;
  for (int i = 0; i < 3; ++i) open.push_back(std::make_unique<WsClient>(server.port()));
  EXPECT_EQ(upgrade_status(server.port()), 429u);
  EXPECT_TRUE(open.front()->request(ping()).has_ok()) << "the open ones are unharmed";
  open.front()->close();
  open.erase(open.begin());
  // The server counts the closed one out once its session ends.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  unsigned status = 0;
  while (std::chrono::steady_clock::now() < deadline && (status = upgrade_status(server.port())) != 101) {
    std::this_thread::sleep_for(20ms);  // no event to await: the count is internal
  }
  EXPECT_EQ(status, 101u);
}

// The cap on connections per address holds over all nodes (protocol 1.9),
// and a node that dies does not hold its share of it for ever.
TEST(SharedLimits, ConnectionsFromOneAddressAreCappedOverAllNodes) {
  RedisProcess redis;
  std::vector<std::string> args = redis.node_args();
  for (const char* arg : {"--max-connections-per-ip", "4", "--presence-ttl", "3s"}) args.emplace_back(arg);
  ServerProcess node_a(args), node_b(args);
  std::vector<std::unique_ptr<WsClient>> on_a, on_b;
  for (int i = 0; i < 2; ++i) {
    on_a.push_back(std::make_unique<WsClient>(node_a.port()));
    on_b.push_back(std::make_unique<WsClient>(node_b.port()));
  }
  EXPECT_EQ(upgrade_status(node_a.port()), 429u) << "two here and two on the other node make four";
  EXPECT_EQ(upgrade_status(node_b.port()), 429u);
  EXPECT_TRUE(on_b.front()->request(ping()).has_ok()) << "the open ones are unharmed";

  // One closes on node A: node B may admit one more.
  on_a.front()->close();
  on_a.erase(on_a.begin());
  // No event to await (the counts are internal): tries until admitted.
  const auto connect_within = [](std::uint16_t port, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      try {
        return std::make_unique<WsClient>(port);
      } catch (const std::exception&) {
        if (std::chrono::steady_clock::now() > deadline) return std::unique_ptr<WsClient>();
        std::this_thread::sleep_for(20ms);
      }
    }
  };
  auto third = connect_within(node_b.port(), 5s);
  ASSERT_TRUE(third);
  EXPECT_TRUE(third->request(ping()).has_ok());
  EXPECT_EQ(upgrade_status(node_b.port()), 429u) << "three on B and one on A";

  // Node A dies holding one: after --presence-ttl (3 s), B no longer counts it.
  node_a.crash();
  auto fourth = connect_within(node_b.port(), 10s);
  ASSERT_TRUE(fourth);
  EXPECT_EQ(upgrade_status(node_b.port()), 429u) << "four on B";
}

TEST(SharedLimits, OneIdentityOnTwoNodesSharesOneBudget) {
  RedisProcess redis;
  std::vector<std::string> args = redis.node_args();
  for (const char* arg : {"--identity-message-rate", "1", "--identity-message-burst", "6"}) args.emplace_back(arg);
  ServerProcess node_a(args), node_b(args);
  const std::string token = ServerProcess::token("participant", "*", "Multi", "multi");
  std::vector<std::unique_ptr<WsClient>> tabs;
  for (int i = 0; i < 4; ++i) {
    tabs.push_back(std::make_unique<WsClient>((i % 2 ? node_b : node_a).port()));
    tabs.back()->request_ok(hello(token));  // hello spends from the connection's budget only
  }
  const auto [ok, limited, seconds] = ping_rounds(tabs, 6);
  EXPECT_LE(ok, 6 + seconds + 1) << "24 pings over two nodes in " << seconds << " s";
  EXPECT_GE(ok, 6) << "the whole burst, wherever it was spent";
  EXPECT_EQ(ok + limited, 24);
  WsClient someone_else(node_b.port());
  EXPECT_TRUE(someone_else.request(ping()).has_ok()) << "an anonymous connection has only its own budget";
}

TEST(Access, CrossSiteWebSocketsAreRefused) {
  ServerProcess server;
  const std::string own = "http://localhost";  // http_request's Host header
  EXPECT_EQ(upgrade_status(server.port(), "https://evil.example"), 403u);
  EXPECT_EQ(upgrade_status(server.port(), "null"), 403u);
  EXPECT_EQ(upgrade_status(server.port(), own), 101u) << "the server's own pages";
  EXPECT_EQ(upgrade_status(server.port()), 101u) << "no Origin: not a browser";

  ServerProcess listed({"--allowed-origins", "https://app.example, https://other.example"});
  EXPECT_EQ(upgrade_status(listed.port(), "https://app.example"), 101u);
  EXPECT_EQ(upgrade_status(listed.port(), "https://other.example"), 101u);
  EXPECT_EQ(upgrade_status(listed.port(), "https://evil.example"), 403u);
}


v1::ClientMessage join_with(const std::string& room, const std::string& invite, const std::string& passcode) {
  auto message = join(room);
  message.mutable_join_room()->set_invite(invite);
  message.mutable_join_room()->set_passcode(passcode);
  return message;
}

TEST(Access, PrivateRoomsNeedAnInviteThePasscodeOrATokenForThem) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "group", "Sam", "sam")));
  auto create = create_room("group", v1::ROOM_KIND_SUPPORT);
  create.mutable_create_room()->mutable_settings()->set_invite_only(true);
  create.mutable_create_room()->set_passcode("tuesday-evening");
  const auto snapshot = host.request_ok(create).snapshot();
  EXPECT_TRUE(snapshot.room().has_passcode());
  EXPECT_TRUE(snapshot.room().settings().invite_only());
  WsClient member(server.port());
  member.request_ok(join_with("group", "", "tuesday-evening"));

  WsClient stranger(server.port());
  EXPECT_EQ(stranger.request_error(join("group")).code(), v1::INVITE_REQUIRED);
  EXPECT_EQ(stranger.request_error(join(
                "group", "", ServerProcess::token("participant", "*", "Any", "any"))).code(),
            v1::TOKEN_INVALID) << "another identity's token on an identified connection";
  WsClient generic(server.port());
  EXPECT_EQ(generic.request_error(join("group", "", ServerProcess::token("participant", "*", "Gen", "gen"))).code(),
            v1::INVITE_REQUIRED) << "a token for every room is not an invitation to this one";

  // Guessing: five wrong tries, then the server makes you wait.
  WsClient guesser(server.port());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(guesser.request_error(join_with("group", "", "guess-" + std::to_string(i))).code(), v1::PASSCODE_WRONG);
  }
  const auto limited = guesser.request_error(join_with("group", "", "tuesday-evening"));
  EXPECT_EQ(limited.code(), v1::RATE_LIMITED) << "even the right one waits";
  EXPECT_GT(limited.retry_after_ms(), 1000u);

  // An invite from the host lets anyone in; it is for this room only.
  const auto invite = host.request_ok([] {
    v1::ClientMessage message;
    message.set_room_id("group");
    message.mutable_create_invite()->set_ttl_seconds(3600);
    return message;
  }()).invite();
  ASSERT_FALSE(invite.token().empty());
  WsClient invited(server.port());
  invited.request_ok(join_with("group", invite.token(), ""));
  WsClient elsewhere(server.port());
  EXPECT_EQ(elsewhere.request_error(join_with("other", invite.token(), "")).code(), v1::TOKEN_WRONG_ROOM);
  EXPECT_EQ(member.request_error([] {
              v1::ClientMessage message;
              message.set_room_id("group");
              message.mutable_create_invite();
              return message;
            }()).code(),
            v1::PERMISSION_DENIED) << "participants cannot invite";
  WsClient named(server.port());
  named.request_ok(join("group", "", ServerProcess::token("participant", "group", "Nia", "nia")));

  // The host heard of the two joins that were let in and nothing else: the
  // host's message marks the end of what happened.
  host.request_ok(say("group", "that's everyone"));
  std::vector<std::string> heard;
  for (;;) {
    auto event = host.next_event();
    if (event.has_message_posted()) break;
    for (const auto& joined : event.members_changed().joined()) heard.push_back(joined.person().display_name());
  }
  ASSERT_EQ(heard.size(), 3u) << "the member, the invited one and Nia";
  EXPECT_EQ(heard[1].substr(0, 6), "Guest-") << "the invited one";
  EXPECT_EQ(heard[2], "Nia");
  // The member inside sees the same people listed (a small support room).
  const auto presence = member.next_presence_where([](const v1::Presence& p) { return p.present() == 4; });
  EXPECT_TRUE(presence.listed());
  EXPECT_EQ(presence.members_size(), 4);
}


TEST(Access, ATokenMayComeInTheSubprotocolHeaderInsteadOfTheUrl) {
  ServerProcess server;
  const std::string token = ServerProcess::token("host", "r", "Dr. Ada", "ada");
  WsClient host(server.port(), Encoding::json, "hearth.v1, hearth.token." + token);
  EXPECT_EQ(host.subprotocol(), "hearth.v1") << "the server names the protocol it speaks, never the token";
  const auto snapshot = host.request_ok(create_room("r", v1::ROOM_KIND_AMA)).snapshot();
  EXPECT_EQ(snapshot.you().user_id(), "ada");
  EXPECT_EQ(snapshot.you().role(), v1::ROLE_HOST);
  EXPECT_EQ(host.request_error(hello("")).code(), v1::ALREADY_IDENTIFIED) << "the header was the hello";

  std::vector<std::pair<std::string, std::string>> headers{
      {"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Version", "13"},
      {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}, {"Sec-WebSocket-Protocol", "hearth.v1, hearth.token.forged"}};
  const auto refused = http_request(server.port(), http::verb::get, "/ws", "", headers);
  EXPECT_EQ(refused.result_int(), 401);
  EXPECT_NE(refused.body().find("token_invalid"), std::string::npos);
}


TEST(Limits, AClientThatNeverFinishesItsUpgradeIsDropped) {
  ServerProcess server({"--handshake-timeout", "1s"});
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
  const std::string partial = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n";
  boost::asio::write(stream, boost::asio::buffer(partial));
  // The server closes the socket: the read ends (EOF), well before our own deadline.
  // (Our own deadline is 30 s: timing out would end the read with
  // beast::error::timeout, not EOF.)
  stream.expires_after(30s);
  char byte;
  boost::system::error_code error;
  stream.read_some(boost::asio::buffer(&byte, 1), error);
  EXPECT_EQ(error, boost::asio::error::eof);
  WsClient other(server.port());
  EXPECT_TRUE(other.request(ping()).has_ok()) << "everyone else is served";
}

TEST(Limits, AClientThatStopsAnsweringPingsIsDropped) {
  ServerProcess server({"--idle-timeout", "1s"});
  WsClient silent(server.port());
  silent.request_ok(hello(""));
  WsClient lively(server.port());
  // The silent client reads nothing (so answers no ping) for a while; the
  // lively one speaks every 100 ms. (Beast checks every half idle timeout,
  // here 500 ms, that something came since its last ping: a client that
  // speaks only every 500 ms races that check.)
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(100ms);  // the idle timeout is what is tested: time must pass
    EXPECT_TRUE(lively.request(ping()).has_ok());
  }
  // ...and then finds the connection ended by the server (reading ends
  // before our own 20 s deadline), and nothing more can be said on it.
  EXPECT_TRUE(silent.wait_for_end(20s)) << "the server ended the silent connection";
  EXPECT_THROW(silent.request(ping(), 2s), std::exception);
}

}  // namespace
}  // namespace hearth::testing
