// Connections that cost the server without paying their way: peers that
// never read, upgrades that never finish, frames that cannot be decoded. Each
// is bounded: by a deadline, by a cap per address, or by a budget after
// which the connection is closed.
#include <gtest/gtest.h>
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
    asio::write(socket_, asio::buffer(std::string(
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
  ServerProcess server({"--send-queue-frames", "8", "--max-message-chars", "60000", "--max-frame-bytes", "262144",
                        "--max-connections-per-ip", "0", "--socket-send-buffer", "65536"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  const std::size_t baseline = open_descriptors(server.pid());

  constexpr int kDeaf = 200;
  asio::io_context io;
  std::vector<std::unique_ptr<DeafClient>> deaf;
  for (int i = 0; i < kDeaf; ++i) deaf.push_back(std::make_unique<DeafClient>(io, server.port(), "r"));
  ASSERT_TRUE(within(20s, [&] { return metric(server.port(), "hearth_connections") == kDeaf + 1; }));
  host.next_presence_where([&](const v1::Presence& p) { return p.present() == kDeaf + 1; }, 20s);

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

}  // namespace
}  // namespace hearth::testing
