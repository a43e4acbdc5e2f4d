// hearth-cli against the real server: scripted input, readable output.
#include <gtest/gtest.h>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

TEST(Cli, HostCreatesParticipantAsksAndEveryoneSeesIt) {
  ServerProcess server;
  const std::string url = "--url=ws://127.0.0.1:" + std::to_string(server.port()) + "/ws";
  const std::string host_token = ServerProcess::token("host", "cli-room", "Dr. Ada", "ada");
  const std::string host_out = run_and_capture(
      {HEARTH_CLI_BIN, url, "--room", "cli-room", "--token", host_token, "--create", "ama", "--title", "Sleep"},
      "/ping\n");
  EXPECT_NE(host_out.find("room cli-room (AMA, \"Sleep\")"), std::string::npos) << host_out;

  WsClient watcher(server.port());
  watcher.request_ok(join("cli-room", "Watcher"));
  const std::string out = run_and_capture({HEARTH_CLI_BIN, url, "--room", "cli-room", "--name", "Sam"},
                                          "/ask How much sleep is enough?\n"
                                          "{\"voteQuestion\": {\"questionId\": \"999\", \"up\": true}}\n"
                                          "/vote nope\n");
  EXPECT_NE(out.find("Sam asked q"), std::string::npos) << out;
  EXPECT_NE(out.find("\"How much sleep is enough?\""), std::string::npos) << out;
  EXPECT_NE(out.find("QUESTION_NOT_FOUND"), std::string::npos) << out;
  const auto asked = watcher.next_event_where([](const v1::Event& e) { return e.has_question_asked(); });
  EXPECT_EQ(asked.question_asked().text(), "How much sleep is enough?");
  EXPECT_EQ(asked.question_asked().author().display_name(), "Sam");
}

TEST(Cli, JsonModePrintsRawFrames) {
  ServerProcess server;
  const std::string url = "--url=ws://127.0.0.1:" + std::to_string(server.port()) + "/ws";
  const std::string out = run_and_capture({HEARTH_CLI_BIN, url, "--json", "--binary"}, "/ping\n");
  EXPECT_NE(out.find(R"("pong":{})"), std::string::npos) << out;
}

}  // namespace
}  // namespace hearth::testing
