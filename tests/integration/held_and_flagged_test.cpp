// Crisis support after the fact and held messages (docs/protocol.md 1.14):
// an edit whose new words the crisis rules read as CRISIS brings its writer support
// and the room's staff an alert, but holds nothing; and a held message does
// not exist for anyone but staff and its author, whatever they try to do
// with it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

// A --crisis-resources file of the test's own, removed at the end.
class ResourcesFile {
 public:
  explicit ResourcesFile(const std::string& text)
      : path_(std::filesystem::temp_directory_path() /
              ("hearth-held-resources-" + std::to_string(::getpid()) + ".txt")) {
    std::ofstream(path_) << text;
  }
  ~ResourcesFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

v1::ClientMessage in_room(const std::string& room, const std::function<void(v1::ClientMessage&)>& fill) {
  v1::ClientMessage message;
  message.set_room_id(room);
  fill(message);
  return message;
}

v1::ClientMessage edit_question(const std::string& room, std::uint64_t id, const std::string& text) {
  return in_room(room, [&](v1::ClientMessage& m) {
    m.mutable_edit_question()->set_question_id(id);
    m.mutable_edit_question()->set_text(text);
  });
}

v1::ClientMessage edit_message(const std::string& room, std::uint64_t id, const std::string& text) {
  return in_room(room, [&](v1::ClientMessage& m) {
    m.mutable_edit_message()->set_message_id(id);
    m.mutable_edit_message()->set_text(text);
  });
}

const std::string kWords = "You matter.\nTest helpline: 0800 000 000.\n";

bool question_updated(const v1::Event& e) {
  return e.has_question_updated();
}
bool message_edited(const v1::Event& e) {
  return e.has_message_edited();
}

// Events `client` receives until `marker` (a message text), the marker
// excluded: posting a marker after the fact is how a test sees that
// something did not arrive.
std::vector<v1::Event> events_until(WsClient& client, const std::string& marker) {
  std::vector<v1::Event> out;
  for (;;) {
    auto event = client.next_event();
    if (event.has_message_posted() && event.message_posted().text() == marker) return out;
    out.push_back(std::move(event));
  }
}

// docs/protocol.md 1.14 ("An edit whose new text matches sets the flag on the
// item, and staff get an alert, but an edit holds nothing: under
// CRISIS_POLICY_HOLD too, an edited question keeps its state, and an edited
// message stays held if it was and in everyone's view if it was not"), 2.15,
// 2.18, 3 (alerts), 4 (flagged in staff snapshots only).
TEST(CrisisEdits, AnEditIntoCrisisWordsBringsSupportAndAStaffAlertAndHoldsNothing) {
  ResourcesFile resources(kWords);
  ServerProcess server({"--crisis-resources", resources.path()});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "ama", "Dr. Ada", "ada")));
  auto create = create_room("ama", v1::ROOM_KIND_AMA, false, /*side_chat=*/true);
  create.mutable_create_room()->mutable_settings()->set_crisis_policy(v1::CRISIS_POLICY_HOLD);
  host.request_ok(create);
  WsClient moderator(server.port(), Encoding::binary);
  moderator.request_ok(join("ama", "", ServerProcess::token("moderator", "ama", "Mo", "mo")));
  WsClient ria(server.port());
  ria.request_ok(join("ama", "Ria"));
  WsClient obi(server.port(), Encoding::binary);
  obi.request_ok(join("ama", "Obi"));

  // A question, shown to everyone, edited into words that match.
  const auto asked = ria.request_ok(ask("ama", "How do I keep a routine?")).accepted();
  EXPECT_EQ(asked.support(), "");
  const auto question = asked.seq();
  const auto edited = ria.request_ok(edit_question("ama", question, "Some days I just want to END my life."));
  EXPECT_EQ(edited.accepted().support(), kWords) << "support, for the writer alone";
  const auto own = ria.next_event_where(question_updated);
  EXPECT_FALSE(own.question_updated().flagged());
  EXPECT_FALSE(own.has_alert());
  for (auto* staff : {&moderator, &host}) {
    const auto alerted = staff->next_event_where(question_updated);
    EXPECT_TRUE(alerted.question_updated().flagged());
    ASSERT_TRUE(alerted.has_alert());
    EXPECT_EQ(alerted.alert().kind(), v1::Alert::KIND_CRISIS);
    EXPECT_EQ(alerted.alert().question_id(), question);
    EXPECT_EQ(alerted.alert().message_id(), 0u);
    EXPECT_EQ(alerted.question_updated().state(), v1::QUESTION_STATE_OPEN) << "an edit holds nothing";
  }
  const auto plain = obi.next_event_where(question_updated);
  EXPECT_EQ(plain.question_updated().text(), "Some days I just want to END my life.");
  EXPECT_EQ(plain.question_updated().state(), v1::QUESTION_STATE_OPEN);
  EXPECT_FALSE(plain.question_updated().flagged());
  EXPECT_FALSE(plain.has_alert());

  // A chat message, the same way: edited, it stays in everyone's view.
  const auto message = ria.request_ok(say("ama", "See you all next week.")).accepted().seq();
  const auto message_edit = ria.request_ok(edit_message("ama", message, "Honestly I can't go on."));
  EXPECT_EQ(message_edit.accepted().support(), kWords);
  const auto staff_copy = moderator.next_event_where(message_edited);
  EXPECT_TRUE(staff_copy.message_edited().flagged());
  EXPECT_FALSE(staff_copy.message_edited().held());
  ASSERT_TRUE(staff_copy.has_alert());
  EXPECT_EQ(staff_copy.alert().kind(), v1::Alert::KIND_CRISIS);
  EXPECT_EQ(staff_copy.alert().message_id(), message);
  const auto obi_copy = obi.next_event_where(message_edited);
  EXPECT_EQ(obi_copy.message_edited().text(), "Honestly I can't go on.");
  EXPECT_FALSE(obi_copy.message_edited().held());
  EXPECT_FALSE(obi_copy.message_edited().flagged());
  EXPECT_FALSE(obi_copy.has_alert());

  // An edit into harmless words brings nothing.
  EXPECT_EQ(ria.request_ok(edit_message("ama", message, "I'm ok, see you next week.")).accepted().support(),
            "");

  // The flags stay, for staff only (section 4).
  WsClient late_staff(server.port());
  const auto staff_view =
      late_staff.request_ok(join("ama", "", ServerProcess::token("moderator", "ama", "Mo 2", "mo2")))
          .snapshot();
  WsClient late_member(server.port());
  const auto member_view = late_member.request_ok(join("ama", "Lou")).snapshot();
  ASSERT_EQ(staff_view.questions_size(), 1);
  ASSERT_EQ(member_view.questions_size(), 1);
  EXPECT_TRUE(staff_view.questions(0).flagged());
  EXPECT_FALSE(member_view.questions(0).flagged());
  EXPECT_EQ(member_view.questions(0).state(), v1::QUESTION_STATE_OPEN);
  ASSERT_EQ(staff_view.messages_size(), 1);
  ASSERT_EQ(member_view.messages_size(), 1);
  EXPECT_TRUE(staff_view.messages(0).flagged());
  EXPECT_FALSE(member_view.messages(0).flagged());
  EXPECT_FALSE(member_view.messages(0).held());

  // A held message stays held when edited, whatever the new words.
  const auto held_reply = ria.request_ok(say("ama", "I want to die."));
  EXPECT_EQ(held_reply.accepted().support(), kWords);
  const auto held = held_reply.accepted().seq();
  EXPECT_EQ(ria.request_ok(edit_message("ama", held, "Sorry, ignore that.")).accepted().support(), "");
  const auto edit_of_held = [held](const v1::Event& e) {
    return e.has_message_edited() && e.message_edited().id() == held;
  };
  EXPECT_TRUE(ria.next_event_where(edit_of_held).message_edited().held());
  EXPECT_TRUE(moderator.next_event_where(edit_of_held).message_edited().held());
  host.request_ok(say("ama", "marker"));
  for (const auto& event : events_until(obi, "marker")) {
    const bool about_held = (event.has_message_posted() && event.message_posted().id() == held) ||
                            (event.has_message_edited() && event.message_edited().id() == held);
    EXPECT_FALSE(about_held) << "Obi never sees the held message: " << event.ShortDebugString();
  }
}

// docs/protocol.md 1.14 ("To those who cannot see it, a held message does not
// exist: replying to it, editing, deleting, releasing or reporting it gets
// MESSAGE_NOT_FOUND, as for an unknown id. Its author sees it ... and may edit
// or delete it as usual"), 2.17, 2.18, 2.19, 2.24, 2.25, 5.1.
TEST(HeldMessages, ToEveryoneButStaffAndItsAuthorAHeldMessageDoesNotExist) {
  ResourcesFile resources(kWords);
  ServerProcess server({"--crisis-resources", resources.path()});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "group", "Lee", "lee")));
  auto create = create_room("group", v1::ROOM_KIND_SUPPORT);
  create.mutable_create_room()->mutable_settings()->set_crisis_policy(v1::CRISIS_POLICY_HOLD);
  host.request_ok(create);
  WsClient ria(server.port());
  ria.request_ok(join("group", "Ria"));
  WsClient obi(server.port(), Encoding::binary);
  obi.request_ok(join("group", "Obi"));

  const auto held = ria.request_ok(say("group", "Honestly I don't want to live anymore.")).accepted().seq();
  const std::uint64_t unknown = held + 1000;
  auto attempts = [&](std::uint64_t id) {
    return std::vector<std::pair<std::string, v1::ClientMessage>>{
        {"reply to", say("group", "You ok?", id)},
        {"edit", edit_message("group", id, "not yours")},
        {"delete",
         in_room("group", [&](v1::ClientMessage& m) { m.mutable_delete_message()->set_message_id(id); })},
        {"report", in_room("group",
                           [&](v1::ClientMessage& m) {
                             m.mutable_report_item()->set_message_id(id);
                             m.mutable_report_item()->set_reason("worried");
                           })},
        {"release",
         in_room("group", [&](v1::ClientMessage& m) { m.mutable_release_message()->set_message_id(id); })},
    };
  };
  for (const auto& [what, command] : attempts(held)) {
    EXPECT_EQ(obi.request_error(command).code(), v1::MESSAGE_NOT_FOUND)
        << what << " someone else's held message";
  }
  for (const auto& [what, command] : attempts(unknown)) {
    EXPECT_EQ(obi.request_error(command).code(), v1::MESSAGE_NOT_FOUND)
        << what << " an unknown message: the same";
  }
  EXPECT_TRUE(obi.request_ok(ping()).has_pong());

  // Nothing happened to it: staff see it as it was, unreported.
  WsClient staff(server.port());
  const auto staff_view =
      staff.request_ok(join("group", "", ServerProcess::token("moderator", "group", "Mo", "mo"))).snapshot();
  ASSERT_EQ(staff_view.messages_size(), 1);
  EXPECT_EQ(staff_view.messages(0).id(), held);
  EXPECT_EQ(staff_view.messages(0).text(), "Honestly I don't want to live anymore.");
  EXPECT_TRUE(staff_view.messages(0).held());
  EXPECT_FALSE(staff_view.messages(0).deleted());
  EXPECT_EQ(staff_view.messages(0).reports(), 0u);
  EXPECT_EQ(obi.request_error(join("group", "Obi")).code(), v1::ALREADY_IN_ROOM)
      << "Obi is still in the room";

  // Its author edits and deletes it as usual; staff hear of it, Obi does not.
  ria.request_ok(edit_message("group", held, "I'm struggling tonight."));
  EXPECT_EQ(staff.next_event_where(message_edited).message_edited().text(), "I'm struggling tonight.");
  ria.request_ok(
      in_room("group", [&](v1::ClientMessage& m) { m.mutable_delete_message()->set_message_id(held); }));
  EXPECT_TRUE(staff.next_event_where([](const v1::Event& e) { return e.has_message_deleted(); })
                  .message_deleted()
                  .deleted());
  host.request_ok(say("group", "marker"));
  for (const auto& event : events_until(obi, "marker")) {
    ADD_FAILURE() << "Obi heard of the held message: " << event.ShortDebugString();
  }
}

}  // namespace
}  // namespace hearth::testing
