// "Erase my data" in the fold: the log rewritten by redact_entry (and a
// checkpoint rewritten by RoomState::redact) folds to exactly the state the
// original log does, and neither holds a word or the name of the person.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "domain/command.hpp"
#include "domain/room_state.hpp"

namespace hearth {
namespace {

const Membership host{"host-1", "Dr. Ada", v1::ROLE_HOST};
const Membership pat{"pat", "Pat Secretname", v1::ROLE_PARTICIPANT};
const Membership ben{"ben", "Ben", v1::ROLE_PARTICIPANT};
// Everything Pat wrote, and Pat's name: none of it may survive.
const std::vector<std::string> kPats = {"pat question one", "pat anonymous worry", "pat chat words",
                                        "pat edited words", "pat report reason", "Pat Secretname"};

// A room's log: Pat asks (one approved and answered, one anonymous still
// pending), chats, edits, reports and votes; Ben and the host do things
// around it; then Pat erases.
std::vector<v1::LogEntry> room_log() {
  std::vector<v1::LogEntry> log;
  auto add = [&log](const Membership& who) -> v1::LogEntry& { return log.emplace_back(new_entry(who)); };
  auto* created = add(host).mutable_room_created();  // 1
  created->set_kind(v1::ROOM_KIND_AMA);
  created->mutable_settings()->set_require_approval(true);
  created->mutable_settings()->set_side_chat(true);
  add(host).mutable_joined()->set_connection_id("c-host");  // 2
  add(pat).mutable_joined()->set_connection_id("c-pat");    // 3
  add(ben).mutable_joined()->set_connection_id("c-ben");    // 4
  add(pat).mutable_ask()->set_text("pat question one");     // 5
  add(host).mutable_approve()->set_question_id(5);          // 6
  auto* anonymous = add(pat).mutable_ask();                 // 7, stays pending
  anonymous->set_text("pat anonymous worry");
  anonymous->set_anonymous(true);
  auto* ben_vote = add(ben).mutable_vote();                 // 8
  ben_vote->set_question_id(5);
  ben_vote->set_up(true);
  auto* answer = add(host).mutable_answer();                // 9
  answer->set_question_id(5);
  answer->set_text("the host's answer");
  add(pat).mutable_say()->set_text("pat chat words");       // 10
  auto* edit = add(pat).mutable_edit_message();             // 11
  edit->set_id(10);
  edit->set_text("pat edited words");
  add(ben).mutable_say()->set_text("ben words");            // 12
  auto* report = add(pat).mutable_report();                 // 13
  report->set_message_id(12);
  report->set_reason("pat report reason");
  add(host).mutable_pin()->set_question_id(5);              // 14
  add(ben).mutable_ask()->set_text("ben question");         // 15
  add(host).mutable_approve()->set_question_id(15);         // 16
  auto* pat_vote = add(pat).mutable_vote();                 // 17
  pat_vote->set_question_id(15);
  pat_vote->set_up(true);
  add(host).mutable_handled()->set_message_id(12);  // 18: Pat's report seen to
  auto* private_reply = add(host).mutable_say();    // 19: to Pat, privately
  private_reply->set_text("the host writes to pat");
  private_reply->set_reply_to_question_id(5);
  private_reply->set_private_reply(true);
  // As Room::run_erasure does: the anonymous question goes by a plain
  // deletion of its own, then the erasure.
  auto& deletion = add(pat);  // 20
  deletion.mutable_delete_question()->set_question_id(7);
  deletion.mutable_delete_question()->set_erasing(true);
  deletion.mutable_actor()->clear_display_name();
  auto& erase = add(pat);  // 21
  erase.mutable_erase()->set_anonymous_apart(true);         // as Room::run_erasure writes it
  erase.mutable_actor()->clear_display_name();              // as Room::erase sends it
  return log;
}

RoomState fold(const std::vector<v1::LogEntry>& log, std::size_t from = 0, std::optional<RoomState> start = {}) {
  RoomState state = start ? std::move(*start) : RoomState("r", Limits{});
  for (std::size_t i = from; i < log.size(); ++i) {
    const Applied applied = state.apply(i + 1, log[i]);
    EXPECT_FALSE(applied.refused) << "entry " << i + 1 << ": " << applied.refused->message;
  }
  return state;
}

// Equal states: sets (voters, members) may list in another order.
bool same(const RoomState& a, const RoomState& b) {
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_repeated_field_comparison(google::protobuf::util::MessageDifferencer::AS_SET);
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  const bool equal = differencer.Compare(a.to_data(), b.to_data());
  EXPECT_TRUE(equal) << differences;
  return equal;
}

void expect_none_of_pats(const std::string& bytes, const std::string& what) {
  for (const auto& words : kPats) EXPECT_EQ(bytes.find(words), std::string::npos) << what << " holds " << words;
}

TEST(Erasure, TheRewrittenLogFoldsToTheSameStateAndHoldsNothingOfPats) {
  const auto original = room_log();
  auto rewritten = original;
  std::vector<std::size_t> changed;
  for (std::size_t i = 0; i < rewritten.size(); ++i) {
    if (redact_entry(rewritten[i], "pat")) changed.push_back(i + 1);
  }
  // docs/privacy.md 12: Pat's name goes from every entry Pat made, and Pat's
  // words from the entries that held them; nobody else's entry changes.
  std::vector<std::size_t> pats_with_name_or_words;
  for (std::size_t i = 0; i < original.size(); ++i) {
    if (original[i].actor().user_id() == "pat" && !original[i].actor().display_name().empty()) {
      pats_with_name_or_words.push_back(i + 1);
    }
  }
  EXPECT_EQ(changed, pats_with_name_or_words);
  EXPECT_EQ(changed, (std::vector<std::size_t>{3, 5, 7, 10, 11, 13, 17}));
  for (std::size_t i = 0; i < original.size(); ++i) {
    if (original[i].actor().user_id() != "pat") {
      EXPECT_EQ(rewritten[i].SerializeAsString(), original[i].SerializeAsString()) << "entry " << i + 1;
    }
  }
  EXPECT_EQ(rewritten.back().SerializeAsString(), original.back().SerializeAsString()) << "the erasure itself";
  for (const auto& entry : rewritten) expect_none_of_pats(entry.SerializeAsString(), "a rewritten entry");
  EXPECT_EQ(rewritten[4].ask().text(), kErasedText);

  const RoomState from_original = fold(original);
  const RoomState from_rewritten = fold(rewritten);
  EXPECT_TRUE(same(from_original, from_rewritten));
  expect_none_of_pats(from_original.to_data().SerializeAsString(), "the state");
  EXPECT_EQ(from_original.to_data().SerializeAsString().find(kErasedText), std::string::npos)
      << "erased items are deleted, not left with a placeholder";
}

TEST(Erasure, ACheckpointRewrittenAlikeFoldsOnToTheSameState) {
  const auto original = room_log();
  auto rewritten = original;
  for (auto& entry : rewritten) redact_entry(entry, "pat");
  // A checkpoint taken after Pat's edit, from the original log, then
  // rewritten as the erasure does.
  RoomState checkpoint = fold({original.begin(), original.begin() + 11});
  checkpoint.redact("pat");
  const auto data = checkpoint.to_data();
  expect_none_of_pats(data.SerializeAsString(), "the rewritten checkpoint");
  RoomState reopened = RoomState::from_data("r", Limits{}, data);
  EXPECT_TRUE(same(fold(rewritten, 11, std::move(reopened)), fold(original)));
}

TEST(Erasure, MembersAndStaffSeeTheNamedItemsGo) {
  auto log = room_log();
  const v1::LogEntry erase = log.back();
  log.pop_back();
  RoomState state = fold(log);
  const Applied applied = state.apply(log.size() + 1, erase);
  ASSERT_TRUE(applied.event && applied.event->has_content_erased());
  EXPECT_FALSE(applied.event->has_actor()) << "who erased is not said";
  EXPECT_FALSE(applied.audience.staff_only);
  const auto& seen = applied.event->content_erased();
  ASSERT_EQ(seen.questions_size(), 1) << "the pending anonymous question is not news to members";
  EXPECT_EQ(seen.questions(0).id(), 5u);
  EXPECT_EQ(seen.questions(0).state(), v1::QUESTION_STATE_DELETED);
  EXPECT_TRUE(seen.questions(0).text().empty());
  ASSERT_EQ(seen.messages_size(), 1);
  EXPECT_EQ(seen.messages(0).id(), 10u);
  EXPECT_TRUE(seen.messages(0).deleted());
  EXPECT_FALSE(applied.staff_event) << "the anonymous question went before, by a deletion of its own";

  const auto snapshot = state.snapshot_for("ben", v1::ROLE_PARTICIPANT);
  EXPECT_EQ(snapshot.questions_size(), 2) << snapshot.DebugString();
  for (const auto& question : snapshot.questions()) {
    if (question.id() == 15) {
      EXPECT_EQ(question.votes(), 1u) << "Pat's vote stays, as a count";
    }
    if (question.id() == 5) {
      EXPECT_EQ(question.state(), v1::QUESTION_STATE_DELETED);
    }
    EXPECT_FALSE(question.pinned()) << "the pinned question was Pat's";
  }
  expect_none_of_pats(snapshot.SerializeAsString(), "Ben's snapshot");
  expect_none_of_pats(state.snapshot_for("host-1", v1::ROLE_HOST).SerializeAsString(), "the host's snapshot");
}

// Issue 15.7: an anonymous question the erasure finds standing (asked from
// another tab while the log was rewritten) is never listed with the named
// items, for staff either; its own deletion, after, names nobody.
TEST(Erasure, AnAnonymousQuestionIsNeverListedWithTheNamedItems) {
  auto log = room_log();
  const v1::LogEntry erase = log.back();
  log.pop_back();
  const v1::LogEntry deletion = log.back();
  log.pop_back();
  RoomState state = fold(log);
  const Applied applied = state.apply(log.size() + 1, erase);
  ASSERT_TRUE(applied.event && applied.event->has_content_erased());
  for (const auto* event : {&*applied.event, applied.staff_event ? &*applied.staff_event : nullptr}) {
    if (event == nullptr) continue;
    for (const auto& question : event->content_erased().questions()) EXPECT_NE(question.id(), 7u);
  }
  const Applied deleted = state.apply(log.size() + 2, deletion);
  ASSERT_TRUE(deleted.event && deleted.event->has_question_deleted())
      << (deleted.refused ? deleted.refused->message : "");
  EXPECT_EQ(deleted.event->question_deleted().id(), 7u);
  EXPECT_FALSE(deleted.event->has_actor());
  EXPECT_TRUE(deleted.event->question_deleted().author().user_id().empty());
}

// A staff member's erasure: their name goes from the alerts they handled
// too, alike in the fold of the rewritten log and in the original's.
TEST(Erasure, AStaffErasureFoldsAlikeWithTheAlertsTheyHandledAndTheirPrivateReplies) {
  auto original = room_log();
  original.pop_back();
  v1::LogEntry erase = new_entry(host);
  erase.mutable_erase();
  erase.mutable_actor()->clear_display_name();
  original.push_back(erase);
  auto rewritten = original;
  for (auto& entry : rewritten) redact_entry(entry, "host-1");
  const RoomState from_original = fold(original);
  EXPECT_TRUE(same(from_original, fold(rewritten)));
  const std::string data = from_original.to_data().SerializeAsString();
  EXPECT_EQ(data.find("Dr. Ada"), std::string::npos);
  EXPECT_EQ(data.find("the host writes to pat"), std::string::npos);
}

// An erasure logged before anonymous questions went apart (no
// anonymous_apart) still deletes them itself, as it did: an old log folds
// as it always has.
TEST(Erasure, AnErasureLoggedBeforeDeletesTheAnonymousQuestionItself) {
  auto log = room_log();
  v1::LogEntry erase = log.back();
  log.pop_back();
  log.pop_back();  // no deletion of its own
  erase.mutable_erase()->clear_anonymous_apart();
  RoomState state = fold(log);
  const Applied applied = state.apply(log.size() + 1, erase);
  ASSERT_TRUE(applied.staff_event);
  bool listed = false;
  for (const auto& question : applied.staff_event->content_erased().questions())
    listed |= question.id() == 7u;
  EXPECT_TRUE(listed);
  const auto snapshot = state.snapshot_for("host-1", v1::ROLE_HOST);
  for (const auto& question : snapshot.questions()) {
    if (question.id() == 7) {
      EXPECT_EQ(question.state(), v1::QUESTION_STATE_DELETED);
    }
  }
}

TEST(Erasure, AnAnswerersErasureRemovesTheirAnswers) {
  auto log = room_log();
  log.pop_back();
  v1::LogEntry erase = new_entry(host);
  erase.mutable_erase();
  log.push_back(erase);
  const RoomState state = fold(log);
  const auto snapshot = state.snapshot_for("ben", v1::ROLE_PARTICIPANT);
  for (const auto& question : snapshot.questions()) {
    EXPECT_FALSE(question.has_answer()) << "question " << question.id();
    if (question.id() == 5) {
      EXPECT_EQ(question.text(), "pat question one") << "Pat's words are Pat's";
    }
  }
}

}  // namespace
}  // namespace hearth
