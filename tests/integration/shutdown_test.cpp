// How connections end, as docs/protocol.md sections 2, 5.3 and 6 say: while
// the server shuts down (SIGTERM), /healthz says "stopping", /readyz is not
// ready, upgrades are refused, and a command or join that arrives before a
// client's close frame is answered SHUTTING_DOWN, then the client gets 1001;
// a client that breaks RFC 6455 framing gets 1002 while others carry on.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// One HTTP/1.1 connection kept open across requests: opened before a
// shutdown, it is how a client reaches the server once the server has
// stopped accepting new connections.
class KeepAliveHttp {
 public:
  explicit KeepAliveHttp(std::uint16_t port) : stream_(io_) {
    stream_.expires_after(5s);
    stream_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  http::response<http::string_body> get(
      const std::string& target, const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, "localhost");
    request.keep_alive(true);
    for (const auto& [name, value] : headers) request.set(name, value);
    stream_.expires_after(5s);
    http::write(stream_, request);
    http::response<http::string_body> response;
    http::read(stream_, buffer_, response);
    return response;
  }

 private:
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

const std::vector<std::pair<std::string, std::string>> kUpgrade{
    {"Upgrade", "websocket"},
    {"Connection", "Upgrade"},
    {"Sec-WebSocket-Version", "13"},
    {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};

// docs/protocol.md 6 (the table: /healthz "503 with status stopping during
// shutdown", /readyz 503 when "shutting down", GET /ws "503 shutting_down
// during shutdown"), 6.1, 5.3 (1001: "clients get --shutdown-grace to finish
// the close handshake").
TEST(Shutdown, WhileAClientHoldsTheGraceHealthzSaysStoppingReadyzIsNotReadyAndUpgradesAreRefused) {
  ServerProcess server;
  KeepAliveHttp http(server.port());
  const auto before = http.get("/healthz");
  EXPECT_EQ(before.result_int(), 200);
  EXPECT_NE(before.body().find(R"("status":"ok")"), std::string::npos) << before.body();
  EXPECT_EQ(http.get("/readyz").result_int(), 200);

  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  // Reads nothing once the shutdown begins, so it does not answer the close
  // frame: the server stays in its grace period for it.
  WsClient holder(server.port());
  holder.request_ok(join("r", "Hal"));

  ::kill(server.pid(), SIGTERM);
  ASSERT_EQ(host.wait_for_close(), 1001) << "the shutdown has begun";

  const auto health = http.get("/healthz");
  EXPECT_EQ(health.result_int(), 503);
  EXPECT_NE(health.body().find(R"("status":"stopping")"), std::string::npos) << health.body();
  const auto ready = http.get("/readyz");
  EXPECT_EQ(ready.result_int(), 503);
  EXPECT_NE(ready.body().find(R"("status":"not_ready")"), std::string::npos) << ready.body();
  EXPECT_NE(ready.body().find(R"("storage":true)"), std::string::npos)
      << "storage is fine; the node is stopping";
  const auto plain = http.get("/ws");
  EXPECT_EQ(plain.result_int(), 503);
  EXPECT_NE(plain.body().find("shutting_down"), std::string::npos) << plain.body();
  const auto upgrade = http.get("/ws", kUpgrade);
  EXPECT_EQ(upgrade.result_int(), 503) << "no new WebSocket during shutdown";
  EXPECT_NE(upgrade.body().find("shutting_down"), std::string::npos) << upgrade.body();

  // The holder reads at last: its close frame was waiting for it.
  EXPECT_EQ(holder.wait_for_close(), 1001);
  EXPECT_EQ(server.wait_exit(), 0);
}

// docs/protocol.md 2 ("SHUTTING_DOWN: the server is stopping", an error any
// command can get), 5.1 ("a frame that arrived after shutdown began"), 5.3
// (1001). A client that is behind in reading keeps the server's close frame
// waiting behind the frame being written to it; what it sends meanwhile is
// answered, ahead of the close (RFC 6455 allows no data frame after it).
TEST(Shutdown, ACommandOrJoinArrivingAfterShutdownBeganIsAnsweredShuttingDownThenTheClientGets1001) {
  // A message far bigger than what the socket buffers on the way take (about
  // 5 MB on loopback here): the server's write of it to a client that reads
  // nothing stops megabytes short of its end, and stays stopped. (Crisis
  // phrases off: matching megabytes is slow under the sanitizers.)
  ServerProcess server(
      {"--max-message-chars", "8000000", "--max-frame-bytes", "9000000", "--crisis-rules", ""});
  // Binary frames: megabytes of JSON are slow to parse under the sanitizers.
  WsClient host(server.port(), Encoding::binary);
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient behind(server.port(), Encoding::binary);
  behind.request_ok(join("r", "Bea"));
  host.request_ok(say("r", std::string(8000000, 'x')));

  ::kill(server.pid(), SIGTERM);
  ASSERT_EQ(host.wait_for_close(), 1001) << "the shutdown has begun";
  const auto ping_id = behind.send(ping());
  const auto join_id = behind.send(join("elsewhere", "Bea"));
  // The error each request got, or why there was none.
  auto error_to = [&behind](std::uint32_t request_id) -> std::string {
    try {
      const auto reply = behind.reply_to(request_id, 20s);
      return reply.has_error() ? v1::ErrorCode_Name(reply.error().code()) : reply.ShortDebugString();
    } catch (const std::exception& e) {
      return e.what();
    }
  };
  EXPECT_EQ(error_to(ping_id), "SHUTTING_DOWN");
  EXPECT_EQ(error_to(join_id), "SHUTTING_DOWN");
  EXPECT_EQ(behind.wait_for_close(), 1001);
  EXPECT_EQ(server.wait_exit(), 0);
}

// A WebSocket client written by hand, to send what no library sends: frames
// that break RFC 6455.
class RawWebSocket {
 public:
  explicit RawWebSocket(std::uint16_t port) : stream_(io_) {
    stream_.expires_after(5s);
    stream_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::empty_body> request{http::verb::get, "/ws", 11};
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    for (const auto& [name, value] : kUpgrade) request.set(name, value);
    http::write(stream_, request);
    http::response_parser<http::empty_body> parser;
    http::read(stream_, buffer_, parser);
    status_ = parser.get().result_int();
  }

  unsigned status() const { return status_; }
  void write(const std::string& bytes) {
    stream_.expires_after(5s);
    asio::write(stream_, asio::buffer(bytes));
  }
  // The code of the close frame the server sends (0 if it sent another
  // frame first, or none).
  std::uint16_t read_close_code() {
    stream_.expires_after(5s);
    std::string data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    char chunk[256];
    boost::system::error_code error;
    while (data.size() < 4 && !error) {
      const auto n = stream_.read_some(asio::buffer(chunk), error);
      data.append(chunk, n);
    }
    if (data.size() < 4 || static_cast<unsigned char>(data[0]) != 0x88) return 0;
    return static_cast<std::uint16_t>((static_cast<unsigned char>(data[2]) << 8) |
                                      static_cast<unsigned char>(data[3]));
  }

 private:
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  unsigned status_ = 0;
};

// docs/protocol.md 5.3 ("1002 protocol error: RFC 6455 framing violation,
// e.g. an unmasked client frame or a reserved opcode").
TEST(CloseCodes, AnUnmaskedFrameOrAReservedOpcodeIsClosedWith1002AndOthersCarryOn) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient member(server.port());
  member.request_ok(join("r", "Mae"));

  RawWebSocket unmasked(server.port());
  ASSERT_EQ(unmasked.status(), 101u);
  unmasked.write(std::string("\x81\x02hi", 4));  // FIN, text, no mask bit
  EXPECT_EQ(unmasked.read_close_code(), 1002);

  RawWebSocket reserved(server.port());
  ASSERT_EQ(reserved.status(), 101u);
  reserved.write(std::string("\x83\x80\x01\x02\x03\x04", 6));  // FIN, opcode 3 (reserved), masked, empty
  EXPECT_EQ(reserved.read_close_code(), 1002);

  // Everyone else carries on.
  const auto id = host.request_ok(say("r", "still here")).accepted().seq();
  EXPECT_EQ(member.next_event_where([](const v1::Event& e) { return e.has_message_posted(); })
                .message_posted()
                .id(),
            id);
}

}  // namespace
}  // namespace hearth::testing
