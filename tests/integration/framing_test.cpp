// RFC 6455's framing as the server reads it (WsReader, since Beast's stream
// no longer reads after the handshake), from a raw socket: frames cut at
// every byte, control frames between fragments, pings answered with their
// payload, the close handshake, and broken rules closed with their codes.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <poll.h>

#include <optional>
#include <string>

#include "support/client_frames.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

namespace asio = boost::asio;

struct Frame {
  std::uint8_t opcode = 0;
  std::string payload;
};

// A WebSocket client with nothing between the test and the bytes.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : socket_(io_) {
    asio::connect(socket_, asio::ip::tcp::resolver(io_).resolve("127.0.0.1", std::to_string(port)));
    socket_.set_option(asio::ip::tcp::no_delay(true));
    write(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(buffer_.size() + 1)) break;
    }
    const std::size_t head = end == std::string::npos ? buffer_.size() : end + 4;
    const std::string response = buffer_.substr(0, head);
    buffer_.erase(0, head);
    EXPECT_TRUE(response.starts_with("HTTP/1.1 101")) << response;
  }

  void write(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // The next server frame, or nothing once the server has ended TCP.
  std::optional<Frame> read_frame() {
    if (!fill(2)) return std::nullopt;
    Frame frame;
    frame.opcode = static_cast<std::uint8_t>(buffer_[0]) & 0x0F;
    std::size_t size = static_cast<std::uint8_t>(buffer_[1]) & 0x7F;
    std::size_t at = 2;
    if (size == 126) {
      if (!fill(4)) return std::nullopt;
      size = (static_cast<std::uint8_t>(buffer_[2]) << 8) | static_cast<std::uint8_t>(buffer_[3]);
      at = 4;
    }
    EXPECT_NE(size, 127u) << "no test here reads a frame that big";
    if (!fill(at + size)) return std::nullopt;
    frame.payload = buffer_.substr(at, size);
    buffer_.erase(0, at + size);
    return frame;
  }

  // The server's close frame's code, then the end of TCP.
  std::optional<std::uint16_t> read_close() {
    for (;;) {
      auto frame = read_frame();
      if (!frame) return std::nullopt;
      if (frame->opcode != 0x8) continue;
      EXPECT_GE(frame->payload.size(), 2u);
      const auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(frame->payload[0]) << 8) |
                                                   static_cast<std::uint8_t>(frame->payload[1]));
      EXPECT_FALSE(read_frame()) << "nothing after the close frame; then the server ends TCP";
      return code;
    }
  }

 private:
  // At least `size` bytes buffered; false at the end of the stream, or
  // after 10 s with nothing to read.
  bool fill(std::size_t size) {
    while (buffer_.size() < size) {
      pollfd wait{socket_.native_handle(), POLLIN, 0};
      if (::poll(&wait, 1, 10'000) != 1) {
        ADD_FAILURE() << "nothing from the server for 10 s";
        return false;
      }
      char chunk[4096];
      boost::system::error_code error;
      const std::size_t got = socket_.read_some(asio::buffer(chunk), error);
      if (error) return false;
      buffer_.append(chunk, got);
    }
    return true;
  }

  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  std::string buffer_;
};

TEST(Framing, AMessageCutAtEveryByteAndControlFramesBetweenFragmentsAreRead) {
  ServerProcess server;
  RawClient client(server.port());
  // A ping command in two fragments, a ping frame between them, every byte
  // its own write.
  const std::string stream = client_frame(0x01, R"({"requestId":7,)") + client_frame(0x89, "between") +
                             client_frame(0x80, R"("ping":{}})");
  for (const char byte : stream) client.write(std::string_view(&byte, 1));
  const auto pong = client.read_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, 0xA) << "the ping frame is answered first, with its payload";
  EXPECT_EQ(pong->payload, "between");
  const auto reply = client.read_frame();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->opcode, 0x1) << "a text message is answered in text";
  EXPECT_NE(reply->payload.find(R"("requestId":7)"), std::string::npos) << reply->payload;
  EXPECT_NE(reply->payload.find(R"("pong")"), std::string::npos) << reply->payload;
}

TEST(Framing, TheCloseHandshakeEchoesTheCodeAndEndsTcp) {
  ServerProcess server;
  RawClient client(server.port());
  client.write(client_frame(0x88, std::string("\x0F\xA0", 2) + "bye"));  // 4000
  EXPECT_EQ(client.read_close(), 4000);
}

TEST(Framing, APeerThatSaysGoodbyeLeavesItsRoomsBeforeItsTcpEnds) {
  // A peer's close frame is its last word: it leaves its rooms then, not
  // when (or if) it gets round to ending TCP, which the server would wait
  // for up to its close deadline (10 s).
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "goodbye", "Dr. Ada", "ada")));
  host.request_ok(create_room("goodbye", v1::ROOM_KIND_AMA));
  RawClient guest(server.port());
  guest.write(client_frame(0x81, R"({"requestId":1,"roomId":"goodbye","joinRoom":{"displayName":"Gus"}})"));
  const auto reply = guest.read_frame();
  ASSERT_TRUE(reply);
  ASSERT_NE(reply->payload.find(R"("ok")"), std::string::npos) << reply->payload;
  host.next_event_where(says_someone_joined);
  guest.write(client_frame(0x88, std::string("\x03\xE8", 2)));  // 1000
  EXPECT_EQ(guest.read_close(), 1000);
  // The guest keeps its end of TCP open.
  const auto left = host.next_event_where(says_someone_left, 3s);
  EXPECT_EQ(left.members_changed().left(0).reason(), v1::MemberLeft::REASON_DISCONNECTED);
  EXPECT_EQ(left.members_changed().present(), 1u);
}

TEST(Framing, BrokenRulesCloseWithTheirCodes) {
  ServerProcess server;
  const std::pair<std::string, std::uint16_t> cases[] = {
      {client_frame(0x81, R"({"ping":{}})", /*masked=*/false), 1002},
      {client_frame(0xC1, R"({"ping":{}})"), 1002},                         // a reserved bit
      {client_frame(0x80, "x"), 1002},                                      // nothing to continue
      {client_frame(0x09, "x"), 1002},                                      // a fragmented ping
      {client_frame(0x81, "{\"ping\":{}} \xC3\x28"), 1007},                 // not UTF-8
      {client_frame(0x88, std::string("\x03\xED", 2)), 1002},               // close code 1005
      {client_frame(0x88, std::string("\x13\x88", 2)), 1002},               // close code 5000
  };
  for (const auto& [bytes, code] : cases) {
    RawClient client(server.port());
    client.write(bytes);
    EXPECT_EQ(client.read_close(), code);
  }
  RawClient fine(server.port());
  fine.write(client_frame(0x81, R"({"requestId":1,"ping":{}})"));
  ASSERT_TRUE(fine.read_frame()) << "the server serves on";
}

// A client that sends a message too big in fragments is still sending when
// the server decides to close: the server reads on (and drops what it reads)
// so that its 1009 arrives rather than a reset.
TEST(Framing, AnOversizedMessageInFragmentsGets1009WhileTheClientIsStillSending) {
  ServerProcess server;  // a message over 16 x 65536 bytes closes with 1009
  RawClient client(server.port());
  const std::string fragment(60'000, 'x');
  client.write(client_frame(0x02, fragment));
  for (int i = 0; i < 24; ++i) client.write(client_frame(0x00, fragment));  // 1.5 MB in all
  client.write(client_frame(0x80, "end"));
  EXPECT_EQ(client.read_close(), 1009);
}

// A client that sends many commands at once (a burst after a stall, a
// script) is answered in full: the server reads a turn's worth at a time,
// and its replies never fill the client's send queue (1,024 frames), which
// would close it as a slow consumer (4001).
TEST(Framing, ABurstOfCommandsIsAnsweredInFullNotClosed) {
  ServerProcess server;
  RawClient client(server.port());
  constexpr int kBurst = 3000;
  std::string burst;
  for (int i = 1; i <= kBurst; ++i) {
    v1::ClientMessage message = ping();
    message.set_request_id(static_cast<std::uint32_t>(i));
    burst += client_frame(0x82, message.SerializeAsString());
  }
  client.write(burst);  // about 40 KB in one write: the server reads it in one go
  int pongs = 0;
  while (pongs < kBurst) {
    const auto frame = client.read_frame();
    ASSERT_TRUE(frame) << "the server ended the connection after " << pongs << " replies";
    ASSERT_NE(frame->opcode, 0x8) << "closed after " << pongs << " replies";
    v1::ServerMessage message;
    ASSERT_TRUE(message.ParseFromString(frame->payload));
    if (message.has_reply() && message.reply().has_ok() && message.reply().ok().has_pong()) {
      EXPECT_EQ(message.reply().request_id(), static_cast<std::uint32_t>(++pongs)) << "in order";
    }
  }
}

}  // namespace
}  // namespace hearth::testing
