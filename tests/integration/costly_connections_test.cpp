// Connections that cost the server without paying their way: peers that
// never read, upgrades that never finish, frames that cannot be decoded. Each
// is bounded: by a deadline, by a cap per address, or by a budget after
// which the connection is closed.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <thread>

#include "support/client_frames.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::size_t open_descriptors(pid_t pid) {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    ++count;
  }
  return count;
}

double metric(std::uint16_t port, const std::string& name) {
  const std::string body = http_request(port, boost::beast::http::verb::get, "/metrics").body();
  const auto at = body.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(body.substr(at + name.size() + 2));
}

// Polls `done` (there is no event to wait for: the server's descriptors and
// counters change on their own) until it holds or `timeout` passes.
bool within(std::chrono::milliseconds timeout, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

// A WebSocket client on a bare socket whose receive buffer is small: what it
// is sent fills it soon, and it never reads.
class DeafClient {
 public:
  DeafClient(asio::io_context& io, std::uint16_t port, const std::string& room) : socket_(io) {
    socket_.open(asio::ip::tcp::v4());
    socket_.set_option(asio::socket_base::receive_buffer_size(4096));
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(socket_,
                asio::buffer(std::string(
                    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")));
    // The 101 is all it reads.
    std::string head;
    char c;
    while (!head.ends_with("\r\n\r\n")) {
      asio::read(socket_, asio::buffer(&c, 1));
      head.push_back(c);
    }
    EXPECT_TRUE(head.starts_with("HTTP/1.1 101")) << head;
    const std::string join = R"({"requestId": 1, "roomId": ")" + room + R"(", "joinRoom": {}})";
    asio::write(socket_, asio::buffer(client_frame(0x81, join)));
  }

 private:
  asio::ip::tcp::socket socket_;
};

// 200 members stop reading while the host posts big messages: each fills its
// socket and then its send queue, and the server decides to close it (4001)
// but can never write the close frame. The drain deadline, counted from that
// decision, frees every one of them and its descriptor.
TEST(CostlyConnections, PeersThatNeverReadLeaveNoDescriptorsBehind) {
  // Small kernel buffers, so that a few messages fill them: autotuned, each
  // would take up to 4 MB before the server's queue saw anything.
  ServerProcess server({"--send-queue-frames", "8", "--max-message-chars", "60000", "--max-frame-bytes",
                        "262144", "--max-connections-per-ip", "0", "--socket-send-buffer", "65536"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  const std::size_t baseline = open_descriptors(server.pid());

  constexpr int kDeaf = 200;
  asio::io_context io;
  std::vector<std::unique_ptr<DeafClient>> deaf;
  for (int i = 0; i < kDeaf; ++i) deaf.push_back(std::make_unique<DeafClient>(io, server.port(), "r"));
  // The host reads what the joins sent it (a few hundred small frames, taken
  // by its socket meanwhile): with a queue of 8 frames, a host that only
  // polled the metrics could itself fall behind and be closed.
  host.next_presence_where([&](const v1::Presence& p) { return p.present() == kDeaf + 1; }, 20s);
  ASSERT_EQ(metric(server.port(), "hearth_connections"), kDeaf + 1);

  const std::string text(60000, 'x');
  for (int i = 0; i < 40 && metric(server.port(), "hearth_slow_consumers_total") < kDeaf; ++i) {
    host.request_ok(say("r", text), 20s);
    host.events().clear();
  }
  ASSERT_TRUE(within(20s, [&] { return metric(server.port(), "hearth_slow_consumers_total") == kDeaf; }))
      << "every deaf member fell behind: " << metric(server.port(), "hearth_slow_consumers_total");
  // Within the close deadline (10 s) and some slack, all are gone, though
  // none of their sockets was ever read or closed by the client.
  EXPECT_TRUE(within(20s, [&] { return metric(server.port(), "hearth_connections") == 1; }))
      << metric(server.port(), "hearth_connections") << " connections open";
  EXPECT_TRUE(within(5s, [&] { return open_descriptors(server.pid()) <= baseline; }))
      << open_descriptors(server.pid()) << " descriptors, " << baseline << " before";
  host.request_ok(say("r", "still serving"));
}

// Members who read everything are not slow consumers because the server
// itself fell behind. The server is stopped while 20 members post at once,
// so that on waking it reads all 20 posts in one turn of its one thread and
// owes each member 20 frames before its first chance to write: more than
// the send queue's 8. Those frames go out while there is room in the
// socket; only a queue that the socket cannot take counts against a peer.
TEST(CostlyConnections, FramesOwedAfterTheServerStallsAreNotASlowConsumer) {
  ServerProcess server({"--threads", "1", "--send-queue-frames", "8"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  constexpr int kMembers = 20;
  std::vector<std::unique_ptr<WsClient>> members;
  for (int i = 0; i < kMembers; ++i) {
    members.push_back(std::make_unique<WsClient>(server.port()));
    members.back()->request_ok(join("r", "m" + std::to_string(i)));
  }
  host.next_presence_where([&](const v1::Presence& p) { return p.present() == kMembers + 1; }, 20s);

  std::vector<std::uint32_t> sent;
  ASSERT_EQ(::kill(server.pid(), SIGSTOP), 0);
  {
    // Woken however this block ends: a stopped server would hide why.
    struct Wake {
      pid_t pid;
      ~Wake() { ::kill(pid, SIGCONT); }
    } wake{server.pid()};
    for (auto& member : members) sent.push_back(member->send(say("r", "at once")));
  }

  for (int i = 0; i < kMembers; ++i) {
    EXPECT_TRUE(
        members[static_cast<std::size_t>(i)]->reply_to(sent[static_cast<std::size_t>(i)], 10s).has_ok());
  }
  for (int seen = 0; seen < kMembers; ++seen) {
    host.next_event_where([](const v1::Event& e) { return e.has_message_posted(); }, 10s);
  }
  EXPECT_EQ(metric(server.port(), "hearth_slow_consumers_total"), 0);
  host.request_ok(say("r", "still here"));
}

// Whether the server ends `socket` (EOF or a reset) within `timeout`,
// without the client having sent anything more.
bool ended_within(asio::ip::tcp::socket& socket, std::chrono::milliseconds timeout) {
  pollfd waiting{socket.native_handle(), POLLIN, 0};
  if (::poll(&waiting, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char byte;
  return ::recv(socket.native_handle(), &byte, 1, MSG_DONTWAIT) <= 0;
}

// 40 connections from one address that never send a request: 16 are held
// (until --handshake-timeout), the rest are closed at once, unread. When
// the held ones time out, the address may connect again.
TEST(CostlyConnections, UnfinishedRequestsAreCappedPerAddressAndTimedOut) {
  ServerProcess server({"--handshake-timeout", "2s", "--max-connections-per-ip", "50"});
  asio::io_context io;
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> idle;
  for (int i = 0; i < 40; ++i) {
    idle.push_back(std::make_unique<asio::ip::tcp::socket>(io));
    idle.back()->connect({asio::ip::make_address("127.0.0.1"), server.port()});
  }
  // The refused are closed as soon as accepted: the last of them within
  // half a second, long before the held ones' 2 s.
  ended_within(*idle.back(), 500ms);
  int refused = 0;
  for (auto& socket : idle) {
    if (ended_within(*socket, 0ms)) ++refused;
  }
  EXPECT_EQ(refused, 40 - 16) << "16 unfinished connections are held per address";
  int held_ended = 0;
  for (auto& socket : idle) {
    if (ended_within(*socket, 5s)) ++held_ended;
  }
  EXPECT_EQ(held_ended, 40) << "the held ones end at the handshake timeout";
  WsClient client(server.port());
  client.request_ok(ping());
}

// Frames that cannot be decoded get their error replies up to a budget
// (10 at once); then the connection is closed with 1008, and nothing else
// is disturbed.
TEST(CostlyConnections, UndecodableFramesHaveABudgetThen1008) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient garbage(server.port());
  garbage.request_ok(ping());
  int sent = 0;
  try {
    for (; sent < 2000; ++sent) garbage.send_raw("not json", false, 2s);
  } catch (const std::exception&) {
    // The server closed the connection while we were still sending.
  }
  std::size_t replies = 0;
  const auto code = garbage.wait_for_close(10s, &replies);
  replies += garbage.pushes().size();  // the MALFORMED replies read while sending
  ASSERT_TRUE(code.has_value()) << "sent " << sent;
  EXPECT_EQ(*code, 1008);
  EXPECT_LE(replies, 12u) << "ten at once, one more every ten seconds";
  EXPECT_GE(replies, 10u);
  host.request_ok(say("r", "unbothered"));
}

// leaveRoom spends from the budgets like any frame, unless it leaves a room
// the connection is in: 2,000 leaves of nothing do not get 2,000 replies of
// NOT_IN_ROOM.
TEST(CostlyConnections, LeavesOfRoomsNotJoinedSpendTheBudget) {
  ServerProcess server({"--message-rate", "10", "--message-burst", "30"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient leaver(server.port());
  leaver.request_ok(join("r"));
  v1::ClientMessage leave_nothing;
  leave_nothing.set_room_id("nowhere");
  leave_nothing.mutable_leave_room();
  std::vector<std::uint32_t> ids;
  for (int i = 0; i < 60; ++i) ids.push_back(leaver.send(leave_nothing));
  int not_in_room = 0, limited = 0;
  for (const auto id : ids) {
    const auto reply = leaver.reply_to(id, 10s);
    ASSERT_TRUE(reply.has_error());
    if (reply.error().code() == v1::NOT_IN_ROOM) ++not_in_room;
    if (reply.error().code() == v1::RATE_LIMITED) ++limited;
  }
  EXPECT_LE(not_in_room, 31) << "the burst (30), and a little refill";
  EXPECT_GE(limited, 29);
  // Leaving the room it is in still works with the budget spent.
  v1::ClientMessage leave_r;
  leave_r.set_room_id("r");
  leave_r.mutable_leave_room();
  EXPECT_TRUE(leaver.request(leave_r).has_ok());
}

}  // namespace
}  // namespace hearth::testing
