// The server's life: shutting down cleanly, and closing a client that cannot
// keep up instead of growing its queue.
#include <gtest/gtest.h>

#include <boost/json.hpp>

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
  EXPECT_EQ(server.wait_exit(), 0);
}

// A client that never answers the close frame (gone quiet, or a process
// that holds its socket) must not keep the server from stopping, nor make it
// stop uncleanly: after --shutdown-grace it exits 0, with nothing leaked
// (ServerProcess checks the sanitizers' verdict).
TEST(Lifecycle, AClientThatNeverAnswersTheCloseDoesNotSpoilTheExit) {
  ServerProcess server({"--shutdown-grace", "1s"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "H", "h")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  host.request_ok(say("r", "still connected at shutdown"));
  WsClient guest(server.port());
  guest.request_ok(join("r"));
  // Neither reads from here on: the close frames go unanswered.
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
  const auto left = host.next_event_where(says_someone_left);
  EXPECT_EQ(left.members_changed().left(0).reason(), v1::MemberLeft::REASON_DISCONNECTED);
  EXPECT_EQ(reader.next_presence_where([](const v1::Presence& p) { return p.present() == 2; }).present(), 2u);
}

TEST(Lifecycle, AClientThatFallsBehindGetsEveryFrameWholeAndInOrder) {
  // A client that reads nothing while about 24 MB comes for it: the
  // socket buffers fill, and the server's writes stop part-way through
  // frames and wait for room.
  ServerProcess server({"--send-queue-frames", "1000", "--max-message-chars", "60000", "--max-frame-bytes", "262144"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "H", "h")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient behind(server.port(), Encoding::binary);
  behind.request_ok(join("r"));

  expect_every_frame_after_falling_behind(host, behind, "r", 400);  // about 24 MB
}

// /metrics is the operator's: the main port answers it to loopback clients
// only, and not when a proxy on loopback forwards it from someone else;
// --metrics-listen opens a port that serves it (and nothing else) to
// whoever can reach it.
TEST(Lifecycle, MetricsAreForTheOperatorOnly) {
  namespace http = boost::beast::http;
  const std::uint16_t metrics_port = free_port();
  ServerProcess server({"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port)});
  EXPECT_EQ(http_request(server.port(), http::verb::get, "/metrics").result(), http::status::ok);
  for (const char* header : {"X-Real-IP", "X-Forwarded-For", "Forwarded"}) {
    EXPECT_EQ(http_request(server.port(), http::verb::get, "/metrics", "", {{header, "203.0.113.7"}}).result(),
              http::status::not_found)
        << header;
  }
  const auto scraped = http_request(metrics_port, http::verb::get, "/metrics", "", {{"X-Forwarded-For", "10.0.0.9"}});
  EXPECT_EQ(scraped.result(), http::status::ok);
  EXPECT_NE(scraped.body().find("hearth_connections "), std::string::npos);
  EXPECT_EQ(http_request(metrics_port, http::verb::get, "/").result(), http::status::not_found);
  EXPECT_EQ(http_request(metrics_port, http::verb::get, "/healthz").result(), http::status::not_found);
}

TEST(Lifecycle, MetricsCountTrafficAndErrorsButNameNoOne) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "H", "h")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  host.next_presence_where([](const v1::Presence& p) { return p.present() == 1; });
  host.request_ok(say("r", "words nobody else should see"));
  host.send_raw("not json", false);
  ASSERT_TRUE(host.next().has_value());  // the MALFORMED reply
  EXPECT_EQ(host.request_error(say("elsewhere", "x")).code(), v1::NOT_IN_ROOM);

  const auto response = http_request(server.port(), boost::beast::http::verb::get, "/metrics");
  ASSERT_EQ(response.result(), boost::beast::http::status::ok);
  EXPECT_EQ(response[boost::beast::http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  const std::string& body = response.body();
  auto value = [&](const std::string& name) -> double {
    const auto at = body.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stod(body.substr(at + name.size() + 2));
  };
  EXPECT_EQ(value("hearth_connections"), 1);
  EXPECT_EQ(value("hearth_rooms"), 1);
  EXPECT_EQ(value("hearth_commands_total"), 5);  // hello, create, say, the malformed frame, say elsewhere
  EXPECT_GE(value("hearth_events_total"), 2);    // the host joining, the message
  // Every frame the host got: five replies, the events before them and the
  // one Presence push.
  EXPECT_EQ(value("hearth_deliveries_total"), 6 + static_cast<double>(host.events().size()));
  EXPECT_NE(body.find("hearth_command_errors_total{command=\"none\",code=\"MALFORMED\"} 1\n"), std::string::npos)
      << body;
  EXPECT_NE(body.find("hearth_command_errors_total{command=\"sendMessage\",code=\"NOT_IN_ROOM\"} 1\n"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("hearth_send_queue_depth_bucket{le=\"+Inf\"}"), std::string::npos);
  EXPECT_NE(body.find("# TYPE hearth_redis_command_seconds histogram"), std::string::npos);
  EXPECT_EQ(body.find("words nobody"), std::string::npos);
  EXPECT_EQ(body.find("127.0.0.1"), std::string::npos);
}

TEST(Lifecycle, HttpEndpoints) {
  ServerProcess server;
  namespace http = boost::beast::http;
  auto get = [&](http::verb verb, const std::string& target) { return http_request(server.port(), verb, target); };
  const auto health = get(http::verb::get, "/healthz");
  EXPECT_EQ(health.result(), http::status::ok);
  EXPECT_EQ(health[http::field::content_type], "application/json");
  EXPECT_NE(health.body().find(R"("status":"ok")"), std::string::npos);
  EXPECT_EQ(get(http::verb::get, "/nope").result(), http::status::not_found);
  const auto post = get(http::verb::post, "/healthz");
  EXPECT_EQ(post.result(), http::status::method_not_allowed);
  EXPECT_EQ(post[http::field::allow], "GET, HEAD");
  EXPECT_EQ(get(http::verb::get, "/ws").result(), http::status::upgrade_required);
  const auto ready = get(http::verb::get, "/readyz");
  EXPECT_EQ(ready.result(), http::status::ok);
  EXPECT_NE(ready.body().find(R"("status":"ready")"), std::string::npos);
}

// A log of several pages (the engine reads 1,000 entries at a time) comes
// whole and in order, and serving it leaves the session serving: the reader
// is a loop, which neither recurses per page nor takes itself apart.
TEST(Lifecycle, ALongTranscriptComesWholeAcrossPages) {
  ServerProcess server;
  namespace http = boost::beast::http;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  constexpr int kMessages = 2500;
  std::vector<std::uint32_t> sent;
  for (int i = 0; i < kMessages; ++i) {
    sent.push_back(host.send(say("r", "line " + std::to_string(i))));
    if (sent.size() == 200 || i == kMessages - 1) {
      for (const auto id : sent) ASSERT_TRUE(host.reply_to(id, 20s).has_ok());
      sent.clear();
      host.events().clear();
    }
  }
  const std::string host_token = "Bearer " + ServerProcess::token("host", "r", "Lee", "lee");
  for (int twice = 0; twice < 2; ++twice) {
    const auto response = http_request(server.port(), http::verb::get, "/rooms/r/transcript", host_token);
    ASSERT_EQ(response.result(), http::status::ok);
    // Sent while it is read, in chunks, rather than built whole first; and
    // still one JSON document.
    EXPECT_TRUE(response.chunked());
    EXPECT_NO_THROW(boost::json::parse(response.body()));
    std::size_t at = 0;
    for (int i = 0; i < kMessages; ++i) {
      at = response.body().find("\"line " + std::to_string(i) + "\"", at);
      ASSERT_NE(at, std::string::npos) << "line " << i;
    }
  }
  host.request_ok(say("r", "still serving"));
}

TEST(Lifecycle, TranscriptsAreForHostsAndModeratorsWithTheirToken) {
  ServerProcess server;
  namespace http = boost::beast::http;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Dr. Ada", "ada")));
  host.request_ok(create_room("r", v1::ROOM_KIND_AMA, false, /*side_chat=*/true));
  WsClient guest(server.port());
  guest.request_ok(join("r", "Sam"));
  guest.request_ok(ask("r", "How do I sleep better?"));
  const auto gone = guest.request_ok(say("r", "an oversharing message")).accepted().seq();
  v1::ClientMessage remove;
  remove.set_room_id("r");
  remove.mutable_delete_message()->set_message_id(gone);
  host.request_ok(remove);

  const std::string path = "/rooms/r/transcript";
  EXPECT_EQ(http_request(server.port(), http::verb::get, path).result(), http::status::unauthorized);
  EXPECT_EQ(http_request(server.port(), http::verb::get, path, "Bearer not-a-token").result(), http::status::unauthorized);
  const std::string participant = "Bearer " + ServerProcess::token("participant", "r", "P", "p");
  EXPECT_EQ(http_request(server.port(), http::verb::get, path, participant).result(), http::status::forbidden);
  const std::string other_room = "Bearer " + ServerProcess::token("host", "other", "H", "h");
  EXPECT_EQ(http_request(server.port(), http::verb::get, path, other_room).result(), http::status::forbidden);

  const std::string moderator = "Bearer " + ServerProcess::token("moderator", "r", "Mo", "mo");
  const auto json = http_request(server.port(), http::verb::get, path + "?format=json", moderator);
  ASSERT_EQ(json.result(), http::status::ok);
  EXPECT_EQ(json[http::field::content_type], "application/json");
  EXPECT_NE(json.body().find("How do I sleep better?"), std::string::npos);
  EXPECT_NE(json.body().find(R"("who":"Sam")"), std::string::npos);
  EXPECT_EQ(json.body().find("oversharing"), std::string::npos) << "deleted: a tombstone only";
  EXPECT_NE(json.body().find(R"("deleted":true)"), std::string::npos);
  const auto markdown = http_request(server.port(), http::verb::get, path + "?format=markdown", moderator);
  ASSERT_EQ(markdown.result(), http::status::ok);
  EXPECT_EQ(markdown[http::field::content_type], "text/markdown; charset=utf-8");
  EXPECT_NE(markdown.body().find("How do I sleep better?"), std::string::npos);
  EXPECT_EQ(http_request(server.port(), http::verb::get, path + "?format=pdf", moderator).result(),
            http::status::bad_request);
  const std::string admin = "Bearer " + ServerProcess::token("admin", "*", "Op", "op");
  EXPECT_EQ(http_request(server.port(), http::verb::get, "/rooms/none/transcript", admin).result(),
            http::status::not_found);
}

}  // namespace
}  // namespace hearth::testing
