// The staff's side of the crisis lane (issue 15.3; docs/protocol.md 1.14,
// 2.27, 2.28, 3.19): the alert says what the writer was shown; "mark
// handled" clears it for every staff member on every node and the log
// keeps who; staff can write privately to the writer, also one who asked
// anonymously, without learning who they are; and a writer whose flagged
// question was dismissed is told support was offered, not that it was
// turned down. Two nodes on Redis.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

namespace http = boost::beast::http;

const std::string kWords = "You matter.\nTest helpline: 0800 000 000.\n";
const std::string kCrisis = "Honestly I don't want to live anymore.";

class CareFlow : public ::testing::Test {
 protected:
  CareFlow() {
    std::ofstream(resources_) << kWords;
    for (auto* node : {&node_a_, &node_b_}) {
      auto args = redis_.node_args();
      args.emplace_back("--crisis-resources");
      args.push_back(resources_.string());
      node->emplace(args);
    }
    host_.emplace(port_a());
    host_->request_ok(hello(host_token_));
    auto create = create_room("ama", v1::ROOM_KIND_AMA);  // no side chat
    create.mutable_create_room()->mutable_settings()->set_crisis_policy(v1::CRISIS_POLICY_HOLD);
    host_->request_ok(create);
    mo_.emplace(port_b());
    mo_->request_ok(hello(ServerProcess::token("moderator", "ama", "Mo", "mo")));
    mo_->request_ok(join("ama"));
    ria_.emplace(port_a());
    ria_id_ = ria_->request_ok(join("ama", "Ria")).snapshot().you().user_id();
    obi_.emplace(port_b(), Encoding::binary);
    obi_->request_ok(join("ama", "Obi"));
  }
  ~CareFlow() override { std::filesystem::remove(resources_); }

  std::uint16_t port_a() const { return node_a_->port(); }
  std::uint16_t port_b() const { return node_b_->port(); }

  // Ria asks anonymously, in words the rules read as a crisis: held for a
  // moderator. Returns the question's id.
  std::uint64_t ria_asks_in_crisis() {
    const auto ok = ria_->request_ok(ask("ama", kCrisis, /*anonymous=*/true));
    EXPECT_EQ(ok.accepted().support(), kWords);
    return ok.accepted().seq();
  }

  std::string transcript() {
    const auto response =
        http_request(port_b(), http::verb::get, "/rooms/ama/transcript?format=json", "Bearer " + host_token_);
    EXPECT_EQ(response.result_int(), 200);
    return response.body();
  }

  std::filesystem::path resources_ =
      std::filesystem::temp_directory_path() / ("hearth-care-" + std::to_string(::getpid()) + ".txt");
  RedisProcess redis_;
  std::optional<ServerProcess> node_a_;
  std::optional<ServerProcess> node_b_;
  const std::string host_token_ = ServerProcess::token("host", "ama", "Dr. Ada", "ada");
  std::optional<WsClient> host_, mo_, ria_, obi_;
  std::string ria_id_;
};

v1::ClientMessage mark_handled(std::uint64_t question_id) {
  return room_command(
      "ama", [question_id](v1::ClientMessage& m) { m.mutable_mark_handled()->set_question_id(question_id); });
}

v1::ClientMessage reply_privately(std::uint64_t question_id, const std::string& text) {
  return room_command("ama", [&](v1::ClientMessage& m) {
    m.mutable_reply_privately()->set_question_id(question_id);
    m.mutable_reply_privately()->set_text(text);
  });
}

v1::ClientMessage dismiss(std::uint64_t question_id) {
  return room_command("ama", [question_id](v1::ClientMessage& m) {
    m.mutable_dismiss_question()->set_question_id(question_id);
  });
}

bool alert_about(const v1::Event& e, std::uint64_t id) {
  return e.has_alert() && e.alert().question_id() == id;
}

bool handled(const v1::Event& e, std::uint64_t id) {
  return e.has_alert_handled() && e.alert_handled().question_id() == id;
}

TEST_F(CareFlow, TheAlertSaysWhatTheWriterSawAndMarkHandledClearsItForEveryStaffMember) {
  const auto id = ria_asks_in_crisis();
  for (auto* staff : {&*host_, &*mo_}) {
    const auto alert = staff->next_event_where([&](const v1::Event& e) { return alert_about(e, id); });
    EXPECT_EQ(alert.alert().kind(), v1::Alert::KIND_CRISIS);
    EXPECT_EQ(alert.alert().writer_shown(), kWords) << "what Ria was shown, word for word";
  }

  // Only staff, and only items that raised something.
  EXPECT_EQ(obi_->request_error(mark_handled(id)).code(), v1::PERMISSION_DENIED);
  const auto calm = host_->request_ok(ask("ama", "What helps with sleep?")).accepted().seq();
  EXPECT_EQ(mo_->request_error(mark_handled(calm)).code(), v1::INVALID_STATE);

  // Mo, on node B, handles it: both staff hear it, with who; again changes
  // nothing.
  const auto seq = mo_->request_ok(mark_handled(id)).accepted().seq();
  for (auto* staff : {&*host_, &*mo_}) {
    const auto event = staff->next_event_where([&](const v1::Event& e) { return handled(e, id); });
    EXPECT_EQ(event.seq(), seq);
    EXPECT_EQ(event.actor().user_id(), "mo");
  }
  EXPECT_EQ(host_->request_ok(mark_handled(id)).accepted().seq(), 0u);

  // A moderator who comes later sees it handled, by Mo; participants never
  // hear of it (Obi's next event is the host's next question).
  WsClient later(port_a());
  later.request_ok(hello(ServerProcess::token("moderator", "ama", "Lu", "lu")));
  const auto snapshot = later.request_ok(join("ama")).snapshot();
  bool found = false;
  for (const auto& question : snapshot.questions()) {
    if (question.id() != id) continue;
    found = true;
    EXPECT_TRUE(question.flagged());
    EXPECT_EQ(question.handled_by().user_id(), "mo");
  }
  EXPECT_TRUE(found);
  const auto marker = host_->request_ok(ask("ama", "marker")).accepted().seq();
  for (;;) {
    const auto event = obi_->next_event_where([](const v1::Event&) { return true; });
    EXPECT_FALSE(event.has_alert_handled()) << event.ShortDebugString();
    if (event.has_question_asked() && event.seq() == marker) break;
  }

  // The transcript keeps who handled it.
  const std::string body = transcript();
  EXPECT_NE(body.find("\"action\":\"marked handled question\",\"userId\":\"mo\""), std::string::npos) << body;
}

TEST_F(CareFlow, APrivateReplyReachesTheAnonymousWriterAndTheStaffOnlyWithoutNamingThem) {
  const auto id = ria_asks_in_crisis();
  EXPECT_EQ(obi_->request_error(reply_privately(id, "hi")).code(), v1::PERMISSION_DENIED);
  EXPECT_EQ(obi_->request_error(say("ama", "chat is off here")).code(), v1::CHAT_DISABLED);

  // Mo on node B writes to whoever asked it, in a room without chat.
  const auto seq = mo_->request_ok(reply_privately(id, "I'm Mo, a moderator. Can we talk?")).accepted().seq();
  const auto for_ria =
      ria_->next_event_where([&](const v1::Event& e) { return e.has_message_posted() && e.seq() == seq; });
  EXPECT_TRUE(for_ria.message_posted().private_reply());
  EXPECT_EQ(for_ria.message_posted().reply_to_question_id(), id);
  EXPECT_EQ(for_ria.message_posted().author().user_id(), "mo");
  for (auto* staff : {&*host_, &*mo_}) {
    const auto copy =
        staff->next_event_where([&](const v1::Event& e) { return e.has_message_posted() && e.seq() == seq; });
    EXPECT_EQ(copy.SerializeAsString().find(ria_id_), std::string::npos) << "staff do not learn who asked";
  }

  // Nobody else: not in Obi's events, nor in a participant's snapshot; in a
  // moderator's, yes.
  const auto marker = host_->request_ok(ask("ama", "marker")).accepted().seq();
  for (;;) {
    const auto event = obi_->next_event_where([](const v1::Event&) { return true; });
    EXPECT_FALSE(event.has_message_posted()) << event.ShortDebugString();
    if (event.has_question_asked() && event.seq() == marker) break;
  }
  WsClient participant(port_a());
  EXPECT_EQ(participant.request_ok(join("ama", "Kit")).snapshot().messages_size(), 0);
  WsClient later(port_b());
  later.request_ok(hello(ServerProcess::token("moderator", "ama", "Lu", "lu")));
  const auto snapshot = later.request_ok(join("ama")).snapshot();
  ASSERT_EQ(snapshot.messages_size(), 1);
  EXPECT_TRUE(snapshot.messages(0).private_reply());

  const std::string body = transcript();
  EXPECT_NE(body.find("replied privately to question " + std::to_string(id)), std::string::npos) << body;
}

TEST_F(CareFlow, AWriterWhoseFlaggedQuestionIsDismissedIsToldSupportWasOfferedNotThatItWasTurnedDown) {
  const auto id = ria_asks_in_crisis();
  host_->request_ok(update_settings("ama",
                                    [] {
                                      v1::RoomSettings settings;
                                      settings.set_require_approval(true);
                                      return settings;
                                    }(),
                                    {"require_approval"}));
  const auto plain = obi_->request_ok(ask("ama", "Is napping bad?")).accepted().seq();
  host_->request_ok(dismiss(id));
  host_->request_ok(dismiss(plain));
  const auto ria_sees = ria_->next_event_where(
      [&](const v1::Event& e) { return e.has_question_updated() && e.question_updated().id() == id; });
  EXPECT_EQ(ria_sees.question_updated().state(), v1::QUESTION_STATE_DISMISSED);
  EXPECT_TRUE(ria_sees.question_updated().support_offered());
  EXPECT_FALSE(ria_sees.question_updated().flagged()) << "the flag itself stays the staff's";
  const auto obi_sees = obi_->next_event_where(
      [&](const v1::Event& e) { return e.has_question_updated() && e.question_updated().id() == plain; });
  EXPECT_FALSE(obi_sees.question_updated().support_offered());
}

}  // namespace
}  // namespace hearth::testing
