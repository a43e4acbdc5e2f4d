// The server's life: shutting down cleanly, and closing a client that cannot
// keep up instead of growing its queue.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

TEST(Lifecycle, SigtermSendsGoingAwayToEveryClientAndExitsZero) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "H", "h")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient guest(server.port(), Encoding::binary);
  guest.request_ok(join("r"));
  WsClient idle(server.port());
  idle.request_ok(ping());

  ::kill(server.pid(), SIGTERM);
  EXPECT_EQ(host.wait_for_close(), 1001);
  EXPECT_EQ(guest.wait_for_close(), 1001);
  EXPECT_EQ(idle.wait_for_close(), 1001);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Lifecycle, SlowConsumerIsClosedWith4001WhileOthersGetEverything) {
  // Big messages and a short queue, so that a client that reads nothing
  // fills the socket buffers and then its queue quickly.
  ServerProcess server({"--send-queue-frames", "8", "--max-message-chars", "60000", "--max-frame-bytes", "262144"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "H", "h")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient reader(server.port(), Encoding::binary);
  reader.request_ok(join("r"));
  WsClient slow(server.port());
  slow.request_ok(join("r"));

  const std::string text(60000, 'x');
  constexpr int kMessages = 400;  // about 24 MB per reader, far beyond any socket buffer
  std::size_t reader_events = 0;
  for (int i = 0; i < kMessages; ++i) {
    host.request_ok(say("r", text));
    while (!host.events().empty()) host.events().pop_front();
    // The fast reader keeps up and gets every message.
    for (;;) {
      const auto event = reader.next_event();
      if (event.has_message_posted()) {
        ++reader_events;
        break;
      }
    }
  }
  EXPECT_EQ(reader_events, static_cast<std::size_t>(kMessages));
  std::size_t frames = 0;
  EXPECT_EQ(slow.wait_for_close(30s, &frames), 4001);
  EXPECT_LT(frames, static_cast<std::size_t>(kMessages)) << "the slow client was cut off, not served forever";
  // The room goes on: the slow client has left it.
  const auto left = reader.next_event_where([](const v1::Event& e) { return e.has_member_left(); });
  EXPECT_EQ(left.member_left().reason(), v1::MemberLeft::REASON_DISCONNECTED);
}

TEST(Lifecycle, HttpEndpoints) {
  ServerProcess server;
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context io;
  auto get = [&](http::verb verb, const std::string& target) {
    beast::tcp_stream stream(io);
    stream.expires_after(5s);
    stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
    http::request<http::string_body> request{verb, target, 11};
    request.set(http::field::host, "localhost");
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    return response;
  };
  const auto health = get(http::verb::get, "/healthz");
  EXPECT_EQ(health.result(), http::status::ok);
  EXPECT_EQ(health[http::field::content_type], "application/json");
  EXPECT_NE(health.body().find(R"("status":"ok")"), std::string::npos);
  EXPECT_EQ(get(http::verb::get, "/nope").result(), http::status::not_found);
  const auto post = get(http::verb::post, "/healthz");
  EXPECT_EQ(post.result(), http::status::method_not_allowed);
  EXPECT_EQ(post[http::field::allow], "GET, HEAD");
  EXPECT_EQ(get(http::verb::get, "/ws").result(), http::status::upgrade_required);
}

}  // namespace
}  // namespace hearth::testing
