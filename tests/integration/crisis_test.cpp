// Someone writes words that suggest they may be in danger: they privately
// get words of support and where to find help, the room's staff get an
// alert that points at the item, and (with the hold policy) nobody else
// sees it until a moderator releases it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

// A file of the test's own (words of support, resources or rules), removed at the end.
class ResourcesFile {
 public:
  explicit ResourcesFile(const std::string& text)
      : path_(std::filesystem::temp_directory_path() /
              ("hearth-resources-" + std::to_string(::getpid()) + "-" + std::to_string(++made_) + ".txt")) {
    std::ofstream(path_) << text;
  }
  ~ResourcesFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int made_ = 0;
  std::filesystem::path path_;
};

TEST(Crisis, SenderGetsSupportStaffGetAnAlertOthersWaitForAModerator) {
  // The shipped English phrases; words of support of the test's own
  // (docs/protocol.md 1.14: the writer's reply carries the text of
  // --crisis-resources).
  const std::string words = "You matter.\nTest helpline: 0800 000 000.\n";
  ResourcesFile resources(words);
  ServerProcess server({"--crisis-resources", resources.path()});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "group", "Sam", "sam")));
  auto create = create_room("group", v1::ROOM_KIND_SUPPORT);
  create.mutable_create_room()->mutable_settings()->set_crisis_policy(v1::CRISIS_POLICY_HOLD);
  host.request_ok(create);
  WsClient moderator(server.port());
  moderator.request_ok(join("group", "", ServerProcess::token("moderator", "group", "Mo", "mo")));
  WsClient writer(server.port());
  writer.request_ok(join("group", "Ria"));
  WsClient other(server.port());
  other.request_ok(join("group", "Obi"));

  const auto ok = writer.request_ok(say("group", "Honestly I don't want to live anymore."));
  const auto id = ok.accepted().seq();
  EXPECT_EQ(ok.accepted().support(), words) << "helplines, for the writer alone";
  const auto own = writer.next_event_where([](const v1::Event& e) { return e.has_message_posted(); });
  EXPECT_TRUE(own.message_posted().held());
  EXPECT_FALSE(own.message_posted().flagged());
  EXPECT_FALSE(own.has_alert());

  const auto alert = moderator.next_event_where([](const v1::Event& e) { return e.has_alert(); });
  EXPECT_EQ(alert.alert().kind(), v1::Alert::KIND_CRISIS);
  EXPECT_EQ(alert.alert().message_id(), id);
  EXPECT_TRUE(alert.message_posted().flagged());
  EXPECT_EQ(alert.message_posted().text(), "Honestly I don't want to live anymore.");

  // Ordinary messages flow on; the other member never saw the held one.
  const auto later = host.request_ok(say("group", "Thanks for coming tonight.")).accepted();
  EXPECT_TRUE(later.support().empty());
  const auto first_seen = other.next_event_where([](const v1::Event& e) { return e.has_message_posted(); });
  EXPECT_EQ(first_seen.seq(), later.seq()) << "the held message did not reach them";

  // The moderator releases it: now everyone sees it, still without a flag.
  v1::ClientMessage release;
  release.set_room_id("group");
  release.mutable_release_message()->set_message_id(id);
  moderator.request_ok(release);
  const auto released = other.next_event_where([](const v1::Event& e) { return e.has_message_edited(); });
  EXPECT_EQ(released.message_edited().id(), id);
  EXPECT_FALSE(released.message_edited().held());
  EXPECT_FALSE(released.message_edited().flagged());
  EXPECT_EQ(other.request_error(release).code(), v1::PERMISSION_DENIED);

  // A member reports the writer's message: staff hear it, with who and why;
  // the writer does not.
  v1::ClientMessage report;
  report.set_room_id("group");
  report.mutable_report_item()->set_message_id(id);
  report.mutable_report_item()->set_reason("testing reports");
  other.request_ok(report);
  const auto reported = moderator.next_event_where([](const v1::Event& e) { return e.has_item_reported(); });
  EXPECT_EQ(reported.alert().kind(), v1::Alert::KIND_REPORT);
  EXPECT_EQ(reported.item_reported().message_id(), id);
  EXPECT_EQ(reported.item_reported().reason(), "testing reports");
  EXPECT_EQ(reported.actor().display_name(), "Obi");
  EXPECT_EQ(other.request_ok(report).accepted().seq(), 0u) << "twice is once";
  const auto after = writer.request_ok(say("group", "still here")).accepted().seq();
  for (;;) {
    const auto event = writer.next_event();
    EXPECT_FALSE(event.has_item_reported()) << "the reported person is not told who reported them";
    if (event.seq() >= after) break;
  }

  // The transcript keeps the moderator's action.
  const auto transcript = http_request(server.port(), boost::beast::http::verb::get, "/rooms/group/transcript",
                                       "Bearer " + ServerProcess::token("host", "group", "Sam", "sam"));
  EXPECT_NE(transcript.body().find("released message"), std::string::npos);
  EXPECT_NE(transcript.body().find("reported message"), std::string::npos);
}

// docs/protocol.md 1.14 (ABOUT): someone asking how to help a friend gets
// resources for that; staff are not told that they may be in crisis.
TEST(Crisis, SomeoneAskingHowToHelpAFriendGetsResourcesAndNoAlertIsRaised) {
  ResourcesFile support("You matter.\n");
  ResourcesFile about("Helplines help people worried about someone, too.\n");
  ServerProcess server({"--crisis-resources", support.path(), "--crisis-about-resources", about.path()});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "ama", "Dr. Ada", "ada")));
  host.request_ok(create_room("ama", v1::ROOM_KIND_AMA));
  WsClient asker(server.port());
  asker.request_ok(join("ama", "Kai"));

  const auto helping =
      asker.request_ok(ask("ama", "How can I help a friend who says she wants to die?")).accepted();
  EXPECT_EQ(helping.support(), "Helplines help people worried about someone, too.\n");
  EXPECT_TRUE(helping.support_for_helping()) << "so that no client heads it as words for the asker";
  const auto research = asker.request_ok(ask("ama", "What does the research say about suicide prevention?"));
  EXPECT_EQ(research.accepted().support(), "Helplines help people worried about someone, too.\n");
  EXPECT_TRUE(research.accepted().support_for_helping());
  const auto own = asker.request_ok(ask("ama", "honestly i have the pills saved up")).accepted();
  EXPECT_EQ(own.support(), "You matter.\n");
  EXPECT_FALSE(own.support_for_helping());
  // The host sees the three in order: an alert on the last one only.
  for (const auto id : {helping.seq(), research.accepted().seq(), own.seq()}) {
    const auto event = host.next_event_where([](const v1::Event& e) { return e.has_question_asked(); });
    EXPECT_EQ(event.question_asked().id(), id);
    EXPECT_EQ(event.has_alert(), id == own.seq());
    EXPECT_EQ(event.question_asked().flagged(), id == own.seq());
  }
  EXPECT_TRUE(asker.request_ok(ask("ama", "this traffic is killing me")).accepted().support().empty());
}

// docs/protocol.md 1.14 (SIGHUP): a clinician's change to the rules is
// taken without a restart; a file that does not parse leaves the running
// rules as they were.
TEST(Crisis, SighupReadsTheRulesAgainAndABrokenFileKeepsTheRunningOnes) {
  ResourcesFile rules("crisis: blue whale\n");
  ServerProcess server({"--crisis-rules", rules.path()});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "group", "Sam", "sam")));
  host.request_ok(create_room("group", v1::ROOM_KIND_SUPPORT));
  const auto support_for = [&](const std::string& text) {
    return host.request_ok(say("group", text)).accepted().support();
  };
  EXPECT_FALSE(support_for("the blue whale").empty());
  EXPECT_TRUE(support_for("a red fox").empty());

  std::ofstream(rules.path()) << "crisis: red fox\n";
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  ASSERT_TRUE(server.wait_for_log("SIGHUP: crisis rules read again: 1 rules"));
  EXPECT_FALSE(support_for("a red fox").empty());
  EXPECT_TRUE(support_for("the blue whale").empty());

  std::ofstream(rules.path()) << "crisis: grey wolf\ncrisis: (red fox|grey\n";
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  ASSERT_TRUE(server.wait_for_log("the rules in use stay"));
  EXPECT_NE(server.log().find(":2: a ( without its )"), std::string::npos) << "the file and line";
  EXPECT_FALSE(support_for("a red fox").empty()) << "the running rules stay";
  EXPECT_EQ(server.log().find("red fox"), std::string::npos) << "no text in the log";
}

}  // namespace
}  // namespace hearth::testing
