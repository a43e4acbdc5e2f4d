// A failure of the server's own code (an exception; injected here with the
// test-only --fault-injection, server/base/fault.hpp) stays with what it happened
// to: the command fails with INTERNAL, or the connection closes with 1011, or
// the log entry is skipped. The process, the connection's other commands and
// every other room go on serving, and /metrics counts each failure.
#include <gtest/gtest.h>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

std::string metrics_of(const ServerProcess& server) {
  return http_request(server.port(), boost::beast::http::verb::get, "/metrics").body();
}

TEST(InternalFailure, StaysWithTheCommandConnectionOrEntryItHappenedTo) {
  ServerProcess server({"--fault-injection"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r1", "Lee", "lee")));
  host.request_ok(create_room("r1", v1::ROOM_KIND_SUPPORT));
  WsClient member(server.port());
  member.request_ok(join("r1", "River"));
  WsClient elsewhere(server.port());
  elsewhere.request_ok(hello(ServerProcess::token("host", "r2", "Kim", "kim")));
  elsewhere.request_ok(create_room("r2", v1::ROOM_KIND_SUPPORT));

  // In the session, the room and the fold: the command fails, typed.
  for (const char* where : {"command", "room", "fold"}) {
    const auto error = host.request_error(say("r1", std::string("hearth-fault:") + where));
    EXPECT_EQ(error.code(), v1::INTERNAL) << where;
    EXPECT_FALSE(error.message().empty());
  }
  // A handler that throws on its own in a shard's loop: the message that
  // set it off goes through as any other.
  host.request_ok(say("r1", "hearth-fault:loop"));
  // A failure in a connection's read path closes that connection, 1011.
  WsClient victim(server.port());
  victim.request_ok(ping());
  victim.send_raw("hearth-fault:session", false);
  const auto ending = victim.wait_for_end(10s);
  ASSERT_TRUE(ending.has_value());
  EXPECT_EQ(ending->close_code, 1011);

  // Everything else goes on: the same connection, the same room, another.
  host.request_ok(say("r1", "still here"));
  elsewhere.request_ok(say("r2", "and here"));
  std::vector<std::string> heard;
  for (;;) {
    const auto event = member.next_event(5s);
    if (!event.has_message_posted()) continue;
    heard.push_back(event.message_posted().text());
    if (heard.back() == "still here") break;
  }
  // The skipped entry reached nobody; neither did the two that failed
  // before the log.
  EXPECT_EQ(heard, (std::vector<std::string>{"hearth-fault:loop", "still here"}));

  const std::string body = metrics_of(server);
  for (const char* where : {"command", "session", "fold", "room", "loop"}) {
    EXPECT_NE(body.find(std::string("hearth_internal_errors_total{where=\"") + where + "\"} 1\n"), std::string::npos)
        << where << "\n" << body;
  }
  EXPECT_NE(body.find("hearth_command_errors_total{command=\"sendMessage\",code=\"INTERNAL\"}"), std::string::npos);
}

}  // namespace
}  // namespace hearth::testing
