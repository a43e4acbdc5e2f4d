#include "domain/room_state.hpp"

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "domain/command.hpp"

namespace hearth {
namespace {

Membership host{"host-1", "Dr. Ada", v1::ROLE_HOST};
Membership moderator{"mod-1", "Mo", v1::ROLE_MODERATOR};
Membership alice{"anon:a", "Guest-1111", v1::ROLE_PARTICIPANT};
Membership bob{"anon:b", "Guest-2222", v1::ROLE_PARTICIPANT};

// A room fed entries with consecutive sequence numbers, as a log would.
class RoomFold : public ::testing::Test {
 protected:
  RoomState state{"room-1", Limits{}};
  std::uint64_t next_seq = 0;

  // Checks and applies; returns the failure check() gave, if any.
  std::optional<Failure> act(const v1::LogEntry& entry, Applied* applied = nullptr) {
    auto failure = state.check(entry);
    if (failure) return failure;
    Applied result = state.apply(++next_seq, entry);
    if (applied) *applied = std::move(result);
    return std::nullopt;
  }
  std::uint64_t act_ok(const v1::LogEntry& entry) {
    auto failure = act(entry);
    EXPECT_FALSE(failure) << (failure ? failure->message : "");
    return next_seq;
  }

  static v1::LogEntry created(v1::RoomKind kind, bool approval = false, bool side_chat = false) {
    auto entry = new_entry(host);
    entry.mutable_room_created()->set_kind(kind);
    entry.mutable_room_created()->set_title("Ask me anything");
    entry.mutable_room_created()->mutable_settings()->set_require_approval(approval);
    entry.mutable_room_created()->mutable_settings()->set_side_chat(side_chat);
    return entry;
  }
  static v1::LogEntry joined(const Membership& who, const std::string& connection) {
    auto entry = new_entry(who);
    entry.mutable_joined()->set_connection_id(connection);
    return entry;
  }
  static v1::LogEntry ask(const Membership& who, const std::string& text, bool anonymous = false) {
    auto entry = new_entry(who);
    entry.mutable_ask()->set_text(text);
    entry.mutable_ask()->set_anonymous(anonymous);
    return entry;
  }
  static v1::LogEntry vote(const Membership& who, std::uint64_t id, bool up = true) {
    auto entry = new_entry(who);
    entry.mutable_vote()->set_question_id(id);
    entry.mutable_vote()->set_up(up);
    return entry;
  }
  static v1::LogEntry on_question(const Membership& who, v1::QuestionTargetEntry* (v1::LogEntry::*field)(),
                                  std::uint64_t id) {
    auto entry = new_entry(who);
    (entry.*field)()->set_question_id(id);
    return entry;
  }
  static v1::LogEntry say(const Membership& who, const std::string& text, std::uint64_t reply_to = 0) {
    auto entry = new_entry(who);
    entry.mutable_say()->set_text(text);
    entry.mutable_say()->set_reply_to_message_id(reply_to);
    return entry;
  }

  void open_ama(bool approval = false) {
    act_ok(created(v1::ROOM_KIND_AMA, approval));
    act_ok(joined(host, "c-host"));
    act_ok(joined(alice, "c-alice"));
    act_ok(joined(bob, "c-bob"));
    act_ok(joined(moderator, "c-mod"));
  }
  const v1::Question& question_in(const v1::RoomSnapshot& snapshot, std::uint64_t id) {
    for (const auto& question : snapshot.questions()) {
      if (question.id() == id) return question;
    }
    ADD_FAILURE() << "question " << id << " not in snapshot";
    static v1::Question none;
    return none;
  }
};

TEST_F(RoomFold, RoomMustBeCreatedByHostBeforeAnythingElse) {
  EXPECT_EQ(state.check(joined(alice, "c"))->code, v1::ROOM_NOT_FOUND);
  auto by_participant = created(v1::ROOM_KIND_AMA);
  *by_participant.mutable_actor() = new_entry(alice).actor();
  EXPECT_EQ(state.check(by_participant)->code, v1::PERMISSION_DENIED);
  act_ok(created(v1::ROOM_KIND_AMA));
  EXPECT_EQ(state.check(created(v1::ROOM_KIND_AMA))->code, v1::ROOM_EXISTS);
  EXPECT_TRUE(state.exists());
}

TEST_F(RoomFold, JoinAndLeaveCountConnectionsPerIdentity) {
  act_ok(created(v1::ROOM_KIND_SUPPORT));
  Applied applied;
  ASSERT_FALSE(act(joined(alice, "c1"), &applied));
  ASSERT_TRUE(applied.event && applied.event->members_changed().joined_size() == 1);
  ASSERT_FALSE(act(joined(alice, "c2"), &applied));
  EXPECT_FALSE(applied.event) << "a second tab is not a second member";
  auto left = new_entry(alice);
  left.mutable_left()->set_connection_id("c1");
  ASSERT_FALSE(act(left, &applied));
  EXPECT_FALSE(applied.event);
  EXPECT_TRUE(state.is_present(alice.user_id));
  left.mutable_left()->set_connection_id("c2");
  ASSERT_FALSE(act(left, &applied));
  ASSERT_TRUE(applied.event && applied.event->members_changed().left_size() == 1);
  EXPECT_FALSE(state.is_present(alice.user_id));
}

// One PresenceEntry for a node's batch of arrivals and departures: staff get
// one membersChanged with the net change, each person once.
TEST_F(RoomFold, APresenceBatchIsOneEventWithTheNetChangeForStaffOnly) {
  act_ok(created(v1::ROOM_KIND_AMA));
  act_ok(joined(host, "c-host"));
  act_ok(joined(bob, "c-bob"));
  const auto change = [](const Membership& who, const std::string& connection, bool joins) {
    v1::PresenceEntry::Change out;
    *out.mutable_actor() = new_entry(who).actor();
    if (joins) {
      out.mutable_joined()->set_connection_id(connection);
    } else {
      out.mutable_left()->set_connection_id(connection);
      out.mutable_left()->set_reason(v1::MemberLeft::REASON_DISCONNECTED);
    }
    return out;
  };
  v1::LogEntry batch;
  auto* changes = batch.mutable_presence()->mutable_changes();
  *changes->Add() = change(alice, "c-alice", true);      // arrives
  *changes->Add() = change(bob, "c-bob", false);         // drops...
  *changes->Add() = change(bob, "c-bob-2", true);        // ...and is back: no news
  *changes->Add() = change(moderator, "c-mod", true);    // arrives...
  *changes->Add() = change(moderator, "c-mod", false);   // ...and goes: no news
  *changes->Add() = change(alice, "c-alice-2", true);    // a second tab: no news
  Applied applied;
  ASSERT_FALSE(act(batch, &applied));
  ASSERT_TRUE(applied.event);
  EXPECT_TRUE(applied.presence_changed);
  const auto& changed = applied.event->members_changed();
  ASSERT_EQ(changed.joined_size(), 1) << changed.ShortDebugString();
  EXPECT_EQ(changed.joined(0).person().user_id(), alice.user_id);
  EXPECT_EQ(changed.left_size(), 0) << changed.ShortDebugString();
  EXPECT_EQ(changed.present(), 3u);
  EXPECT_EQ(state.present(), 3u);
  EXPECT_TRUE(RoomState::may_see(applied.audience, host.user_id, host.role));
  EXPECT_FALSE(RoomState::may_see(applied.audience, alice.user_id, alice.role)) << "staff only";

  // Participants see the count and the staff; staff see everyone.
  const auto for_alice = state.snapshot_for(alice.user_id, alice.role);
  EXPECT_EQ(for_alice.present(), 3u);
  EXPECT_FALSE(for_alice.listed());
  ASSERT_EQ(for_alice.members_size(), 1);
  EXPECT_EQ(for_alice.members(0).person().user_id(), host.user_id);
  const auto for_host = state.snapshot_for(host.user_id, host.role);
  EXPECT_TRUE(for_host.listed());
  EXPECT_EQ(for_host.members_size(), 3);
  const auto pushed = state.presence_for(false);
  EXPECT_EQ(pushed.present(), 3u);
  EXPECT_EQ(pushed.members_size(), 0);
  ASSERT_EQ(pushed.staff_size(), 1);
  EXPECT_EQ(pushed.staff(0).person().user_id(), host.user_id);
}

// Support rooms list everyone to everyone up to member_list_limit people.
TEST_F(RoomFold, ASupportRoomListsItsMembersUpToItsLimit) {
  auto room = created(v1::ROOM_KIND_SUPPORT);
  room.mutable_room_created()->mutable_settings()->set_member_list_limit(3);
  act_ok(room);
  act_ok(joined(host, "c-host"));
  act_ok(joined(alice, "c-alice"));
  act_ok(joined(bob, "c-bob"));
  EXPECT_TRUE(state.lists_members());
  EXPECT_EQ(state.snapshot_for(alice.user_id, alice.role).members_size(), 3);
  EXPECT_EQ(state.presence_for(false).members_size(), 3);
  act_ok(joined(moderator, "c-mod"));
  EXPECT_FALSE(state.lists_members());
  const auto snapshot = state.snapshot_for(alice.user_id, alice.role);
  EXPECT_FALSE(snapshot.listed());
  EXPECT_EQ(snapshot.members_size(), 2) << "the host and the moderator";
  EXPECT_EQ(state.presence_for(false).members_size(), 0);
  auto too_many = new_entry(host);
  too_many.mutable_room_updated()->mutable_settings()->set_member_list_limit(kMaxMemberListLimit + 1);
  EXPECT_EQ(state.check(too_many)->code, v1::INVALID_ARGUMENT);
}

TEST_F(RoomFold, VoteCountsOncePerIdentityAndCanBeTakenBack) {
  open_ama();
  const auto q = act_ok(ask(alice, "How do I start?"));
  act_ok(vote(alice, q));
  Applied applied;
  ASSERT_FALSE(act(vote(alice, q), &applied));
  EXPECT_FALSE(applied.event) << "a repeated vote changes nothing";
  act_ok(vote(bob, q));
  EXPECT_EQ(question_in(state.snapshot_for(bob.user_id, bob.role), q).votes(), 2u);
  ASSERT_FALSE(act(vote(bob, q, false), &applied));
  ASSERT_TRUE(applied.event && applied.event->has_question_votes());
  EXPECT_EQ(applied.event->question_votes().votes(), 1u);
  EXPECT_FALSE(applied.event->has_actor()) << "votes never say who voted";
  const auto snapshot = state.snapshot_for(alice.user_id, alice.role);
  EXPECT_TRUE(question_in(snapshot, q).voted_by_me());
  EXPECT_FALSE(question_in(state.snapshot_for(bob.user_id, bob.role), q).voted_by_me());
}

// Two nodes can each take the same no-op-able command (a vote, a pin, a
// mute, a ban, a report) before either hears of the other's: both entries
// are appended, and the second one applied changes nothing. The fold says
// so, so that its sender is answered seq 0 (docs/protocol.md 1.4).
TEST_F(RoomFold, TheSecondOfTwoIdenticalEntriesChangesNothingAndSaysSo) {
  act_ok(created(v1::ROOM_KIND_AMA, /*approval=*/false, /*side_chat=*/true));
  act_ok(joined(host, "c-host"));
  act_ok(joined(alice, "c-alice"));
  act_ok(joined(bob, "c-bob"));
  const auto q = act_ok(ask(alice, "Twice?"));
  const auto m = act_ok(say(alice, "hello"));
  auto mute = new_entry(host);
  mute.mutable_mute()->set_user_id(bob.user_id);
  mute.mutable_mute()->set_muted(true);
  auto report = new_entry(bob);
  report.mutable_report()->set_message_id(m);
  auto ban = new_entry(host);
  ban.mutable_ban()->set_user_id(alice.user_id);
  ban.mutable_ban()->set_banned(true);
  const std::pair<const char*, v1::LogEntry> twice[] = {
      {"vote", vote(bob, q)}, {"pin", on_question(host, &v1::LogEntry::mutable_pin, q)}, {"report", report},
      {"mute", mute}, {"ban", ban}};
  for (const auto& [name, entry] : twice) {
    const Applied first = state.apply(++next_seq, entry);
    EXPECT_FALSE(first.changed_nothing) << name;
    EXPECT_FALSE(first.refused) << name;
    const Applied second = state.apply(++next_seq, entry);
    EXPECT_TRUE(second.changed_nothing) << name;
    EXPECT_FALSE(second.event) << name << ": no event for what changed nothing";
    EXPECT_FALSE(second.refused) << name;
  }
  EXPECT_EQ(question_in(state.snapshot_for(host.user_id, host.role), q).votes(), 1u);
}

TEST_F(RoomFold, SameEntryDeliveredTwiceIsAppliedOnce) {
  open_ama();
  const auto q = act_ok(ask(alice, "Once?"));
  const auto v = vote(bob, q);
  ASSERT_TRUE(state.apply(++next_seq, v).event);
  EXPECT_FALSE(state.apply(next_seq, v).event) << "same sequence again";
  EXPECT_FALSE(state.apply(next_seq - 1, v).event) << "an older sequence";
  EXPECT_EQ(question_in(state.snapshot_for("", v1::ROLE_PARTICIPANT), q).votes(), 1u);
}

TEST_F(RoomFold, SnapshotSortsByVotesThenAge) {
  open_ama();
  const auto first = act_ok(ask(alice, "first"));
  const auto second = act_ok(ask(bob, "second"));
  const auto third = act_ok(ask(bob, "third"));
  act_ok(vote(alice, third));
  const auto snapshot = state.snapshot_for(alice.user_id, alice.role);
  ASSERT_EQ(snapshot.questions_size(), 3);
  EXPECT_EQ(snapshot.questions(0).id(), third);
  EXPECT_EQ(snapshot.questions(1).id(), first);
  EXPECT_EQ(snapshot.questions(2).id(), second);
}

TEST_F(RoomFold, ApprovalQueueIsSeenOnlyByStaffAndAuthor) {
  open_ama(/*approval=*/true);
  Applied applied;
  ASSERT_FALSE(act(ask(alice, "pending?"), &applied));
  const auto q = next_seq;
  ASSERT_TRUE(applied.event);
  EXPECT_EQ(applied.event->question_asked().state(), v1::QUESTION_STATE_PENDING);
  EXPECT_TRUE(RoomState::may_see(applied.audience, alice.user_id, alice.role));
  EXPECT_TRUE(RoomState::may_see(applied.audience, host.user_id, host.role));
  EXPECT_FALSE(RoomState::may_see(applied.audience, bob.user_id, bob.role));
  EXPECT_EQ(state.snapshot_for(bob.user_id, bob.role).questions_size(), 0);
  EXPECT_EQ(state.snapshot_for(moderator.user_id, moderator.role).questions_size(), 1);
  EXPECT_EQ(state.check(vote(bob, q))->code, v1::QUESTION_NOT_FOUND) << "bob cannot know it exists";
  EXPECT_EQ(state.check(vote(alice, q))->code, v1::INVALID_STATE);
  EXPECT_EQ(state.check(on_question(alice, &v1::LogEntry::mutable_approve, q))->code, v1::PERMISSION_DENIED);

  ASSERT_FALSE(act(on_question(host, &v1::LogEntry::mutable_approve, q), &applied));
  EXPECT_FALSE(applied.audience.staff_only);
  EXPECT_EQ(applied.event->question_updated().state(), v1::QUESTION_STATE_OPEN);
  EXPECT_EQ(state.snapshot_for(bob.user_id, bob.role).questions_size(), 1);
  EXPECT_EQ(state.check(on_question(host, &v1::LogEntry::mutable_approve, q))->code, v1::INVALID_STATE);
}

TEST_F(RoomFold, HostsQuestionsSkipTheQueueAndDismissedOnesStayHidden) {
  open_ama(/*approval=*/true);
  const auto own = act_ok(ask(host, "host asks"));
  EXPECT_EQ(question_in(state.snapshot_for(bob.user_id, bob.role), own).state(), v1::QUESTION_STATE_OPEN);
  const auto q = act_ok(ask(alice, "spam"));
  Applied applied;
  ASSERT_FALSE(act(on_question(moderator, &v1::LogEntry::mutable_dismiss, q), &applied));
  EXPECT_TRUE(applied.audience.staff_only);
  EXPECT_EQ(state.snapshot_for(bob.user_id, bob.role).questions_size(), 1);
  EXPECT_EQ(question_in(state.snapshot_for(alice.user_id, alice.role), q).state(), v1::QUESTION_STATE_DISMISSED);
}

TEST_F(RoomFold, ADismissalCanBeTakenBackByStaffOnly) {
  open_ama(/*approval=*/true);
  const auto q = act_ok(ask(alice, "set aside by mistake"));
  const auto undo = [&](const Membership& who) {
    auto entry = on_question(who, &v1::LogEntry::mutable_dismiss, q);
    entry.mutable_dismiss()->set_undo(true);
    return entry;
  };
  EXPECT_EQ(state.check(undo(host))->code, v1::INVALID_STATE) << "it was never dismissed";
  act_ok(on_question(moderator, &v1::LogEntry::mutable_dismiss, q));
  EXPECT_EQ(state.check(undo(alice))->code, v1::PERMISSION_DENIED) << "its author cannot undo a dismissal";

  Applied applied;
  ASSERT_FALSE(act(undo(host), &applied));
  ASSERT_TRUE(applied.event);
  EXPECT_EQ(applied.event->question_updated().state(), v1::QUESTION_STATE_PENDING);
  EXPECT_TRUE(applied.audience.staff_only) << "it awaits approval again: still staff and its author only";
  EXPECT_TRUE(RoomState::may_see(applied.audience, alice.user_id, alice.role));
  EXPECT_EQ(state.snapshot_for(bob.user_id, bob.role).questions_size(), 0);
  EXPECT_EQ(state.check(undo(host))->code, v1::INVALID_STATE) << "taken back once only";
  act_ok(on_question(host, &v1::LogEntry::mutable_approve, q));
  EXPECT_EQ(question_in(state.snapshot_for(bob.user_id, bob.role), q).state(), v1::QUESTION_STATE_OPEN);
}

TEST_F(RoomFold, ADismissalIsNotTakenBackIntoAFullRoom) {
  Limits limits;
  limits.max_open_questions = 2;
  state = RoomState("room-1", limits);
  open_ama(/*approval=*/true);
  const auto q = act_ok(ask(alice, "one"));
  act_ok(on_question(host, &v1::LogEntry::mutable_dismiss, q));
  act_ok(ask(bob, "two"));
  act_ok(ask(bob, "three"));
  auto undo = on_question(host, &v1::LogEntry::mutable_dismiss, q);
  undo.mutable_dismiss()->set_undo(true);
  EXPECT_EQ(state.check(undo)->code, v1::TOO_MANY_QUESTIONS);
}

TEST_F(RoomFold, OneQuestionPinnedAtATimeAndAnsweringUnpins) {
  open_ama();
  const auto q1 = act_ok(ask(alice, "one"));
  const auto q2 = act_ok(ask(bob, "two"));
  EXPECT_EQ(state.check(on_question(alice, &v1::LogEntry::mutable_pin, q1))->code, v1::PERMISSION_DENIED);
  act_ok(on_question(host, &v1::LogEntry::mutable_pin, q1));
  Applied applied;
  ASSERT_FALSE(act(on_question(host, &v1::LogEntry::mutable_pin, q2), &applied));
  EXPECT_EQ(applied.event->question_pinned().previous_id(), q1);
  auto snapshot = state.snapshot_for(alice.user_id, alice.role);
  EXPECT_FALSE(question_in(snapshot, q1).pinned());
  EXPECT_TRUE(question_in(snapshot, q2).pinned());

  auto answer = new_entry(host);
  answer.mutable_answer()->set_question_id(q2);
  answer.mutable_answer()->set_text("Start small.");
  act_ok(answer);
  act_ok(on_question(host, &v1::LogEntry::mutable_mark_answered, q2));
  snapshot = state.snapshot_for(alice.user_id, alice.role);
  EXPECT_FALSE(question_in(snapshot, q2).pinned());
  EXPECT_EQ(question_in(snapshot, q2).state(), v1::QUESTION_STATE_ANSWERED);
  EXPECT_EQ(question_in(snapshot, q2).answer().text(), "Start small.");
  EXPECT_EQ(question_in(snapshot, q2).answer().by().user_id(), host.user_id);
  EXPECT_EQ(state.check(on_question(host, &v1::LogEntry::mutable_pin, q2))->code, v1::INVALID_STATE);
}

TEST_F(RoomFold, AnonymousQuestionsHideTheirAuthorFromEveryoneButTheAuthor) {
  open_ama();
  Applied applied;
  ASSERT_FALSE(act(ask(alice, "a private worry", /*anonymous=*/true), &applied));
  const auto q = next_seq;
  EXPECT_FALSE(applied.event->has_actor());
  EXPECT_EQ(applied.event->question_asked().author().user_id(), "");
  EXPECT_EQ(applied.event->question_asked().author().display_name(), "Anonymous");
  EXPECT_FALSE(applied.event->question_asked().yours());
  // Its author's connections get it as theirs, with their name: the
  // shared event cannot say whose it is.
  ASSERT_TRUE(applied.author_event);
  EXPECT_EQ(applied.author, alice.user_id);
  EXPECT_TRUE(applied.author_event->question_asked().yours());
  EXPECT_EQ(applied.author_event->question_asked().author().user_id(), alice.user_id);
  EXPECT_FALSE(applied.author_event->has_actor());
  EXPECT_EQ(question_in(state.snapshot_for(host.user_id, host.role), q).author().user_id(), "");
  EXPECT_FALSE(question_in(state.snapshot_for(host.user_id, host.role), q).yours());
  EXPECT_EQ(question_in(state.snapshot_for(alice.user_id, alice.role), q).author().user_id(), alice.user_id);
  EXPECT_TRUE(question_in(state.snapshot_for(alice.user_id, alice.role), q).yours());
  // A vote changes nothing that needs an author's copy.
  ASSERT_FALSE(act(vote(bob, q), &applied));
  EXPECT_FALSE(applied.author_event);
  // The author may still edit it; others may not.
  auto edit = new_entry(alice);
  edit.mutable_edit_question()->set_id(q);
  edit.mutable_edit_question()->set_text("a private worry, edited");
  ASSERT_FALSE(act(edit, &applied));
  EXPECT_FALSE(applied.event->has_actor());
  EXPECT_TRUE(applied.event->question_updated().has_edited_at());
  ASSERT_TRUE(applied.author_event);
  EXPECT_TRUE(applied.author_event->question_updated().yours());
  EXPECT_EQ(applied.author_event->question_updated().text(), "a private worry, edited");
  *edit.mutable_actor() = new_entry(bob).actor();
  EXPECT_EQ(state.check(edit)->code, v1::PERMISSION_DENIED);
}

TEST_F(RoomFold, DeletedItemsBecomeTombstones) {
  act_ok(created(v1::ROOM_KIND_SUPPORT));
  act_ok(joined(alice, "ca"));
  act_ok(joined(bob, "cb"));
  act_ok(joined(moderator, "cm"));
  const auto m1 = act_ok(say(alice, "I had a hard week"));
  const auto m2 = act_ok(say(bob, "me too", m1));
  auto remove = new_entry(bob);
  remove.mutable_delete_message()->set_message_id(m1);
  EXPECT_EQ(state.check(remove)->code, v1::PERMISSION_DENIED) << "only one's own";
  *remove.mutable_actor() = new_entry(moderator).actor();
  Applied applied;
  ASSERT_FALSE(act(remove, &applied));
  EXPECT_TRUE(applied.event->message_deleted().deleted());
  EXPECT_EQ(applied.event->message_deleted().text(), "");
  EXPECT_FALSE(applied.event->message_deleted().has_author());
  EXPECT_EQ(state.check(remove)->code, v1::MESSAGE_NOT_FOUND) << "deleted twice";
  const auto snapshot = state.snapshot_for(bob.user_id, bob.role);
  ASSERT_EQ(snapshot.messages_size(), 2);
  EXPECT_TRUE(snapshot.messages(0).deleted());
  EXPECT_EQ(snapshot.messages(0).text(), "");
  EXPECT_EQ(snapshot.messages(1).id(), m2);
  EXPECT_EQ(snapshot.messages(1).reply_to_message_id(), m1);
}

TEST_F(RoomFold, DeletedQuestionLosesTextVotesAndPin) {
  open_ama();
  const auto q = act_ok(ask(alice, "delete me"));
  act_ok(vote(bob, q));
  act_ok(on_question(host, &v1::LogEntry::mutable_pin, q));
  act_ok(on_question(alice, &v1::LogEntry::mutable_delete_question, q));
  const auto snapshot = state.snapshot_for(bob.user_id, bob.role);
  const auto& tombstone = question_in(snapshot, q);
  EXPECT_EQ(tombstone.state(), v1::QUESTION_STATE_DELETED);
  EXPECT_EQ(tombstone.text(), "");
  EXPECT_EQ(tombstone.votes(), 0u);
  EXPECT_FALSE(tombstone.pinned());
  EXPECT_EQ(state.check(vote(bob, q))->code, v1::QUESTION_NOT_FOUND);
}

TEST_F(RoomFold, DeletedPendingQuestionStaysAmongStaffAndAuthor) {
  open_ama(/*approval=*/true);
  const auto q = act_ok(ask(alice, "never approved"));
  Applied applied;
  ASSERT_FALSE(act(on_question(alice, &v1::LogEntry::mutable_delete_question, q), &applied));
  EXPECT_TRUE(applied.audience.staff_only);
  EXPECT_EQ(state.snapshot_for(bob.user_id, bob.role).questions_size(), 0) << "not even a tombstone";
  EXPECT_EQ(state.snapshot_for(host.user_id, host.role).questions_size(), 1);
}

TEST_F(RoomFold, SecondConnectionDoesNotRenameTheMember) {
  open_ama();
  Membership renamed = alice;
  renamed.display_name = "Someone Else";
  Applied applied;
  ASSERT_FALSE(act(joined(renamed, "c-alice-2"), &applied));
  EXPECT_FALSE(applied.event);
  const auto snapshot = state.snapshot_for(host.user_id, host.role);
  for (const auto& member : snapshot.members()) {
    if (member.person().user_id() == alice.user_id) {
      EXPECT_EQ(member.person().display_name(), "Guest-1111");
    }
  }
}

TEST_F(RoomFold, MutedMembersReadButCannotPost) {
  open_ama(false);
  auto mute = new_entry(alice);
  mute.mutable_mute()->set_user_id(bob.user_id);
  mute.mutable_mute()->set_muted(true);
  EXPECT_EQ(state.check(mute)->code, v1::PERMISSION_DENIED);
  *mute.mutable_actor() = new_entry(moderator).actor();
  act_ok(joined(moderator, "cm"));
  Applied applied;
  ASSERT_FALSE(act(mute, &applied));
  EXPECT_TRUE(applied.event->member_muted().muted());
  EXPECT_EQ(state.check(ask(bob, "let me speak"))->code, v1::MUTED);
  EXPECT_TRUE(state.snapshot_for(bob.user_id, bob.role).you_are_muted());
  // A moderator cannot mute the host.
  mute.mutable_mute()->set_user_id(host.user_id);
  EXPECT_EQ(state.check(mute)->code, v1::PERMISSION_DENIED);
  mute.mutable_mute()->set_user_id("nobody");
  EXPECT_EQ(state.check(mute)->code, v1::MEMBER_NOT_FOUND);
}

TEST_F(RoomFold, BannedIdentityIsRemovedAndCannotRejoin) {
  open_ama();
  auto ban = new_entry(host);
  ban.mutable_ban()->set_user_id(bob.user_id);
  ban.mutable_ban()->set_banned(true);
  Applied applied;
  ASSERT_FALSE(act(ban, &applied));
  EXPECT_EQ(applied.removed_user, bob.user_id);
  EXPECT_FALSE(state.is_present(bob.user_id));
  EXPECT_EQ(state.check(joined(bob, "c-bob-2"))->code, v1::BANNED);
  // A join that raced the ban is ignored by the fold.
  EXPECT_FALSE(state.apply(++next_seq, joined(bob, "c-bob-3")).event);
  EXPECT_FALSE(state.is_present(bob.user_id));
  ban.mutable_ban()->set_banned(false);
  act_ok(ban);
  act_ok(joined(bob, "c-bob-4"));
  EXPECT_TRUE(state.is_present(bob.user_id));
}

TEST_F(RoomFold, KickRemovesEveryConnectionButAllowsRejoin) {
  open_ama();
  act_ok(joined(bob, "c-bob-tab-2"));
  auto kick = new_entry(host);
  kick.mutable_kick()->set_user_id(bob.user_id);
  Applied applied;
  ASSERT_FALSE(act(kick, &applied));
  EXPECT_EQ(applied.event->member_left().reason(), v1::MemberLeft::REASON_KICKED);
  EXPECT_EQ(applied.removed_user, bob.user_id);
  EXPECT_FALSE(state.is_present(bob.user_id));
  EXPECT_EQ(state.check(kick)->code, v1::MEMBER_NOT_FOUND) << "not in the room any more";
  act_ok(joined(bob, "c-bob-5"));
}

TEST_F(RoomFold, ClosedRoomRefusesEverythingButLeavingAndErasing) {
  act_ok(created(v1::ROOM_KIND_AMA, /*approval=*/false, /*side_chat=*/true));
  act_ok(joined(host, "c-host"));
  act_ok(joined(alice, "c-alice"));
  act_ok(joined(bob, "c-bob"));
  act_ok(joined(moderator, "c-mod"));
  const auto question = act_ok(ask(alice, "before the close"));
  const auto message = act_ok(say(alice, "said before the close"));
  auto close = new_entry(moderator);
  close.mutable_room_closed();
  EXPECT_EQ(state.check(close)->code, v1::PERMISSION_DENIED) << "closing is the host's";
  *close.mutable_actor() = new_entry(host).actor();
  act_ok(close);

  // Every other entry a command can make (docs/protocol.md 2.6: "every other
  // room command, and any new join, gets ROOM_CLOSED"), each by someone who
  // could make it in an open room.
  std::vector<std::pair<std::string, v1::LogEntry>> refused;
  auto add = [&](const std::string& name, const Membership& who, auto fill) {
    auto entry = new_entry(who);
    fill(entry);
    refused.emplace_back(name, std::move(entry));
  };
  add("close again", host, [](v1::LogEntry& e) { e.mutable_room_closed(); });
  add("update", host, [](v1::LogEntry& e) { e.mutable_room_updated()->set_title("new title"); });
  add("join", moderator, [](v1::LogEntry& e) { e.mutable_joined()->set_connection_id("c-mod-2"); });
  add("mute", moderator, [&](v1::LogEntry& e) { e.mutable_mute()->set_user_id(bob.user_id); e.mutable_mute()->set_muted(true); });
  add("ban", moderator, [&](v1::LogEntry& e) { e.mutable_ban()->set_user_id(bob.user_id); e.mutable_ban()->set_banned(true); });
  add("kick", moderator, [&](v1::LogEntry& e) { e.mutable_kick()->set_user_id(bob.user_id); });
  add("ask", alice, [](v1::LogEntry& e) { e.mutable_ask()->set_text("late"); });
  add("vote", bob, [&](v1::LogEntry& e) { e.mutable_vote()->set_question_id(question); e.mutable_vote()->set_up(true); });
  add("approve", host, [&](v1::LogEntry& e) { e.mutable_approve()->set_question_id(question); });
  add("dismiss", host, [&](v1::LogEntry& e) { e.mutable_dismiss()->set_question_id(question); });
  add("pin", host, [&](v1::LogEntry& e) { e.mutable_pin()->set_question_id(question); });
  add("answer", host, [&](v1::LogEntry& e) {
    e.mutable_answer()->set_question_id(question); e.mutable_answer()->set_text("late answer");
  });
  add("mark answered", host, [&](v1::LogEntry& e) { e.mutable_mark_answered()->set_question_id(question); });
  add("edit question", alice, [&](v1::LogEntry& e) {
    e.mutable_edit_question()->set_id(question); e.mutable_edit_question()->set_text("edited");
  });
  add("delete question", alice, [&](v1::LogEntry& e) { e.mutable_delete_question()->set_question_id(question); });
  add("say", alice, [](v1::LogEntry& e) { e.mutable_say()->set_text("late"); });
  add("edit message", alice, [&](v1::LogEntry& e) {
    e.mutable_edit_message()->set_id(message); e.mutable_edit_message()->set_text("edited");
  });
  add("delete message", alice, [&](v1::LogEntry& e) { e.mutable_delete_message()->set_message_id(message); });
  add("release message", moderator, [&](v1::LogEntry& e) { e.mutable_release_message()->set_message_id(message); });
  add("report", bob, [&](v1::LogEntry& e) {
    e.mutable_report()->set_message_id(message); e.mutable_report()->set_reason("late");
  });
  for (const auto& [name, entry] : refused) {
    const auto failure = state.check(entry);
    ASSERT_TRUE(failure) << name << " was allowed in a closed room";
    EXPECT_EQ(failure->code, v1::ROOM_CLOSED) << name;
  }

  // Leaving and erasing one's own words stay possible.
  auto erase = new_entry(alice);
  erase.mutable_erase();
  act_ok(erase);
  auto left = new_entry(alice);
  left.mutable_left()->set_connection_id("c-alice");
  act_ok(left);
  EXPECT_FALSE(state.is_present(alice.user_id));
  EXPECT_TRUE(state.snapshot_for(bob.user_id, bob.role).room().closed());
}

TEST_F(RoomFold, ChatInAmaOnlyWithSideChat) {
  open_ama();
  EXPECT_EQ(state.check(say(alice, "hi"))->code, v1::CHAT_DISABLED);
  auto update = new_entry(host);
  update.mutable_room_updated()->mutable_settings()->set_side_chat(true);
  act_ok(update);
  act_ok(say(alice, "hi"));
  EXPECT_EQ(state.check(say(alice, "hi", 999))->code, v1::MESSAGE_NOT_FOUND);
}

static v1::LogEntry trim_entry(std::uint64_t up_to) {
  v1::LogEntry entry;
  entry.mutable_trim()->set_up_to_seq(up_to);
  return entry;
}

TEST_F(RoomFold, TrimRemovesOlderItemsAndThePinButKeepsModeration) {
  open_ama();                                     // 1..5
  const auto old_question = act_ok(ask(alice, "old"));  // 6
  act_ok(on_question(host, &v1::LogEntry::mutable_pin, old_question));
  auto mute = new_entry(host);
  mute.mutable_mute()->set_user_id(bob.user_id);
  mute.mutable_mute()->set_muted(true);
  act_ok(mute);                                   // 8
  const auto new_question = act_ok(ask(alice, "new"));  // 9
  Applied applied;
  ASSERT_FALSE(act(trim_entry(8), &applied));
  ASSERT_TRUE(applied.event && applied.event->has_items_expired());
  EXPECT_EQ(applied.event->items_expired().up_to_seq(), 8u);
  const auto snapshot = state.snapshot_for(alice.user_id, alice.role);
  ASSERT_EQ(snapshot.questions_size(), 1);
  EXPECT_EQ(snapshot.questions(0).id(), new_question);
  EXPECT_FALSE(snapshot.questions(0).pinned());
  EXPECT_TRUE(state.is_muted(bob.user_id)) << "retention removes content, not moderation";
  EXPECT_EQ(state.check(vote(bob, old_question))->code, v1::QUESTION_NOT_FOUND);
  EXPECT_FALSE(act(trim_entry(8), &applied));
  EXPECT_FALSE(applied.event) << "a second trim to the same point changes nothing";
  auto too_long = created(v1::ROOM_KIND_AMA);
  too_long.mutable_room_created()->mutable_settings()->set_retention_days(kMaxRetentionDays + 1);
  EXPECT_EQ(RoomState("r", Limits{}).check(too_long)->code, v1::INVALID_ARGUMENT);
}

TEST_F(RoomFold, RepliesToTrimmedMessagesStand) {
  act_ok(created(v1::ROOM_KIND_SUPPORT));
  act_ok(joined(alice, "c-alice"));
  const auto old_message = act_ok(say(alice, "old"));
  act_ok(trim_entry(old_message));
  EXPECT_FALSE(act(say(alice, "still about that", old_message)));
  EXPECT_EQ(state.check(say(alice, "?", old_message + 100))->code, v1::MESSAGE_NOT_FOUND);
}

TEST_F(RoomFold, CheckpointFoldsOnExactlyAsTheOriginal) {
  open_ama(true);
  const auto q1 = act_ok(ask(alice, "first", true));
  act_ok(on_question(host, &v1::LogEntry::mutable_approve, q1));
  act_ok(vote(bob, q1));
  const auto q2 = act_ok(ask(bob, "second"));
  auto answer = new_entry(host);
  answer.mutable_answer()->set_question_id(q1);
  answer.mutable_answer()->set_text("yes");
  act_ok(answer);
  act_ok(on_question(host, &v1::LogEntry::mutable_pin, q1));
  RoomState copy = RoomState::from_data("room-1", Limits{}, state.to_data());
  const std::vector<v1::LogEntry> more = {on_question(host, &v1::LogEntry::mutable_approve, q2), vote(alice, q2),
                                          on_question(host, &v1::LogEntry::mutable_pin, q2),
                                          on_question(host, &v1::LogEntry::mutable_mark_answered, q1), trim_entry(q1)};
  for (const auto& entry : more) {
    const auto seq = ++next_seq;
    const auto a = state.apply(seq, entry);
    const auto b = copy.apply(seq, entry);
    EXPECT_EQ(a.event.has_value(), b.event.has_value());
    if (a.event && b.event) {
      EXPECT_EQ(a.event->SerializeAsString(), b.event->SerializeAsString());
    }
  }
  for (const auto& viewer : {host, alice, bob}) {
    EXPECT_EQ(state.snapshot_for(viewer.user_id, viewer.role).SerializeAsString(),
              copy.snapshot_for(viewer.user_id, viewer.role).SerializeAsString());
  }
  EXPECT_EQ(copy.seq(), state.seq());
  EXPECT_EQ(copy.trimmed_up_to(), q1);
}

TEST_F(RoomFold, PendingQuestionsPerPersonAreCapped) {
  Limits limits;
  limits.max_pending_questions = 2;
  state = RoomState("room-1", limits);
  open_ama(/*approval=*/true);
  act_ok(ask(alice, "one"));
  act_ok(ask(alice, "two"));
  EXPECT_EQ(state.check(ask(alice, "three"))->code, v1::TOO_MANY_PENDING);
  EXPECT_FALSE(state.check(ask(bob, "mine"))) << "per person";
  EXPECT_FALSE(state.check(ask(host, "staff skip the queue")));
  act_ok(on_question(host, &v1::LogEntry::mutable_approve, next_seq - 1));
  EXPECT_FALSE(state.check(ask(alice, "three"))) << "an approved one frees a place";
}

TEST_F(RoomFold, SlowModePacesParticipantsByTheirEntriesTimes) {
  act_ok(created(v1::ROOM_KIND_SUPPORT));
  act_ok(joined(host, "c-host"));
  act_ok(joined(alice, "c-alice"));
  auto update = new_entry(host);
  update.mutable_room_updated()->mutable_settings()->set_slow_mode_seconds(30);
  act_ok(update);
  auto first = say(alice, "first");
  act_ok(first);
  auto soon = say(alice, "too soon");
  *soon.mutable_at() = first.at() + google::protobuf::util::TimeUtil::SecondsToDuration(10);
  const auto failure = state.check(soon);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, v1::SLOW_MODE);
  EXPECT_EQ(failure->retry_after_ms, 20000u);
  EXPECT_FALSE(state.check(say(host, "staff are not paced")));
  auto later = say(alice, "later");
  *later.mutable_at() = first.at() + google::protobuf::util::TimeUtil::SecondsToDuration(30);
  EXPECT_FALSE(state.check(later));
  // A checkpoint keeps the pace.
  const RoomState copy = RoomState::from_data("room-1", Limits{}, state.to_data());
  EXPECT_EQ(copy.check(soon)->code, v1::SLOW_MODE);
  update.mutable_room_updated()->mutable_settings()->set_slow_mode_seconds(kMaxSlowModeSeconds + 1);
  EXPECT_EQ(state.check(update)->code, v1::INVALID_ARGUMENT);
}

TEST_F(RoomFold, TheCareNoticeIsTheHostsToSetEveryoneSeesItAndItIsShort) {
  act_ok(created(v1::ROOM_KIND_SUPPORT));
  act_ok(joined(host, "c-host"));
  act_ok(joined(alice, "c-alice"));
  const std::string notice = "Peer support from people who have been there: not therapy, not emergency care.";
  auto update = new_entry(host);
  update.mutable_room_updated()->mutable_settings()->set_care_notice(notice);
  update.mutable_room_updated()->mutable_settings_mask()->add_paths("care_notice");
  auto by_alice = new_entry(alice);
  *by_alice.mutable_room_updated() = update.room_updated();
  EXPECT_EQ(state.check(by_alice)->code, v1::PERMISSION_DENIED);
  act_ok(update);
  EXPECT_EQ(state.snapshot_for(alice.user_id, alice.role).room().settings().care_notice(), notice);
  const RoomState copy = RoomState::from_data("room-1", Limits{}, state.to_data());
  EXPECT_EQ(copy.snapshot_for(alice.user_id, alice.role).room().settings().care_notice(), notice);

  auto too_long = new_entry(host);
  // 301 characters of two bytes each: counted in characters, not bytes.
  std::string long_notice;
  for (int i = 0; i < 301; ++i) long_notice += "\u00e9";
  too_long.mutable_room_updated()->mutable_settings()->set_care_notice(long_notice);
  too_long.mutable_room_updated()->mutable_settings_mask()->add_paths("care_notice");
  EXPECT_EQ(state.check(too_long)->code, v1::TEXT_TOO_LONG);
  long_notice.resize(long_notice.size() - 2);
  too_long.mutable_room_updated()->mutable_settings()->set_care_notice(long_notice);
  EXPECT_FALSE(state.check(too_long));
}

TEST_F(RoomFold, CrisisHoldKeepsAFlaggedMessageAmongStaffUntilReleased) {
  auto room = created(v1::ROOM_KIND_SUPPORT);
  room.mutable_room_created()->mutable_settings()->set_crisis_policy(v1::CRISIS_POLICY_HOLD);
  act_ok(room);
  act_ok(joined(moderator, "c-mod"));
  act_ok(joined(alice, "c-alice"));
  act_ok(joined(bob, "c-bob"));
  auto worrying = say(alice, "I want to end my life");
  worrying.mutable_say()->set_flagged(true);
  Applied applied;
  ASSERT_FALSE(act(worrying, &applied));
  const auto id = next_seq;
  EXPECT_TRUE(applied.audience.staff_only);
  EXPECT_EQ(applied.audience.also_user, alice.user_id) << "the writer still sees their own words";
  EXPECT_FALSE(applied.event->message_posted().flagged()) << "the flag is for staff only";
  EXPECT_TRUE(applied.event->message_posted().held());
  ASSERT_TRUE(applied.staff_event);
  EXPECT_TRUE(applied.staff_event->message_posted().flagged());
  EXPECT_EQ(applied.staff_event->alert().kind(), v1::Alert::KIND_CRISIS);
  EXPECT_EQ(applied.staff_event->alert().message_id(), id);

  EXPECT_EQ(state.snapshot_for(bob.user_id, bob.role).messages_size(), 0) << "held from others";
  EXPECT_EQ(state.snapshot_for(alice.user_id, alice.role).messages(0).flagged(), false);
  EXPECT_TRUE(state.snapshot_for(moderator.user_id, moderator.role).messages(0).flagged());
  EXPECT_EQ(state.check(say(bob, "re", id))->code, v1::MESSAGE_NOT_FOUND) << "no replies to what you cannot see";

  auto release = new_entry(bob);
  release.mutable_release_message()->set_message_id(id);
  EXPECT_EQ(state.check(release)->code, v1::MESSAGE_NOT_FOUND);
  *release.mutable_actor() = new_entry(moderator).actor();
  ASSERT_FALSE(act(release, &applied));
  EXPECT_FALSE(applied.audience.staff_only) << "released: everyone";
  EXPECT_FALSE(applied.event->message_edited().held());
  EXPECT_EQ(state.snapshot_for(bob.user_id, bob.role).messages_size(), 1);
  EXPECT_EQ(state.check(release)->code, v1::INVALID_STATE);
  const RoomState copy = RoomState::from_data("room-1", Limits{}, state.to_data());
  EXPECT_TRUE(copy.snapshot_for(moderator.user_id, moderator.role).messages(0).flagged()) << "kept in checkpoints";
}

TEST_F(RoomFold, CrisisDeliverShowsTheQuestionButAlertsStaff) {
  open_ama();
  auto worrying = ask(alice, "Is it normal to feel suicidal at night?");
  worrying.mutable_ask()->set_flagged(true);
  Applied applied;
  ASSERT_FALSE(act(worrying, &applied));
  EXPECT_FALSE(applied.audience.staff_only);
  EXPECT_EQ(applied.event->question_asked().state(), v1::QUESTION_STATE_OPEN);
  ASSERT_TRUE(applied.staff_event);
  EXPECT_EQ(applied.staff_event->alert().question_id(), next_seq);
  EXPECT_FALSE(state.snapshot_for(bob.user_id, bob.role).questions(0).flagged());
  EXPECT_TRUE(state.snapshot_for(host.user_id, host.role).questions(0).flagged());

  auto hold = new_entry(host);
  hold.mutable_room_updated()->mutable_settings()->set_crisis_policy(v1::CRISIS_POLICY_HOLD);
  act_ok(hold);
  ASSERT_FALSE(act(worrying, &applied));
  EXPECT_EQ(applied.event->question_asked().state(), v1::QUESTION_STATE_PENDING) << "held: waits for approval";
}

TEST_F(RoomFold, ReportsReachStaffOnlyAndCountOncePerReporter) {
  act_ok(created(v1::ROOM_KIND_SUPPORT));
  act_ok(joined(moderator, "c-mod"));
  act_ok(joined(alice, "c-alice"));
  act_ok(joined(bob, "c-bob"));
  const auto id = act_ok(say(alice, "something unkind"));
  auto report = new_entry(bob);
  report.mutable_report()->set_message_id(id);
  report.mutable_report()->set_reason("unkind to a newcomer");
  Applied applied;
  ASSERT_FALSE(act(report, &applied));
  EXPECT_TRUE(applied.audience.staff_only);
  EXPECT_TRUE(applied.audience.also_user.empty()) << "not even the author hears of it";
  EXPECT_EQ(applied.event->item_reported().reports(), 1u);
  EXPECT_EQ(applied.event->alert().kind(), v1::Alert::KIND_REPORT);
  EXPECT_TRUE(state.changes_nothing(report)) << "a second report by the same person";
  EXPECT_EQ(state.snapshot_for(moderator.user_id, moderator.role).messages(0).reports(), 1u);
  EXPECT_EQ(state.snapshot_for(alice.user_id, alice.role).messages(0).reports(), 0u) << "staff only";
  auto own = new_entry(alice);
  own.mutable_report()->set_message_id(id);
  EXPECT_EQ(state.check(own)->code, v1::INVALID_ARGUMENT);
  auto missing = new_entry(bob);
  missing.mutable_report()->set_message_id(id + 100);
  EXPECT_EQ(state.check(missing)->code, v1::MESSAGE_NOT_FOUND);
}

TEST_F(RoomFold, SupportRoomsTakeNoQuestions) {
  act_ok(created(v1::ROOM_KIND_SUPPORT));
  act_ok(joined(alice, "c-alice"));
  EXPECT_EQ(state.check(ask(alice, "?"))->code, v1::WRONG_ROOM_KIND);
}

TEST_F(RoomFold, TextLimitsCountCharactersNotBytes) {
  Limits limits;
  limits.max_question_chars = 5;
  RoomState small("r", limits);
  auto room = created(v1::ROOM_KIND_AMA);
  ASSERT_FALSE(small.check(room));
  small.apply(1, room);
  small.apply(2, joined(alice, "c-alice"));
  EXPECT_FALSE(small.check(ask(alice, "héllo"))) << "5 characters, 6 bytes";
  EXPECT_EQ(small.check(ask(alice, "hello!"))->code, v1::TEXT_TOO_LONG);
  EXPECT_EQ(small.check(ask(alice, "   "))->code, v1::INVALID_ARGUMENT);
}

TEST_F(RoomFold, EditsAreMarkedAndOnlyByTheAuthor) {
  act_ok(created(v1::ROOM_KIND_SUPPORT));
  act_ok(joined(alice, "c-alice"));
  act_ok(joined(bob, "c-bob"));
  const auto m = act_ok(say(alice, "typo"));
  auto edit = new_entry(bob);
  edit.mutable_edit_message()->set_id(m);
  edit.mutable_edit_message()->set_text("fixed");
  EXPECT_EQ(state.check(edit)->code, v1::PERMISSION_DENIED);
  *edit.mutable_actor() = new_entry(alice).actor();
  Applied applied;
  ASSERT_FALSE(act(edit, &applied));
  EXPECT_EQ(applied.event->message_edited().text(), "fixed");
  EXPECT_TRUE(applied.event->message_edited().has_edited_at());
}

TEST_F(RoomFold, FoldIgnoresEntriesThatNoLongerFit) {
  open_ama();
  // Appended by a node that had not yet seen that alice is muted.
  auto mute = new_entry(host);
  mute.mutable_mute()->set_user_id(alice.user_id);
  mute.mutable_mute()->set_muted(true);
  act_ok(mute);
  const auto applied = state.apply(++next_seq, ask(alice, "raced the mute"));
  EXPECT_FALSE(applied.event);
  ASSERT_TRUE(applied.refused);
  EXPECT_EQ(applied.refused->code, v1::MUTED) << "the sender can be told why";
  EXPECT_EQ(state.snapshot_for(host.user_id, host.role).questions_size(), 0);
  EXPECT_EQ(state.seq(), next_seq) << "the sequence still advances";
}

TEST_F(RoomFold, CommandsStillOnTheirWayAfterABanOrKickDoNothing) {
  open_ama();
  auto ban = new_entry(host);
  ban.mutable_ban()->set_user_id(bob.user_id);
  ban.mutable_ban()->set_banned(true);
  const auto queued = ask(bob, "posted before the ban landed");
  ASSERT_FALSE(state.check(queued));
  act_ok(ban);
  auto applied = state.apply(++next_seq, queued);
  EXPECT_FALSE(applied.event);
  EXPECT_EQ(applied.refused->code, v1::BANNED);

  auto kick = new_entry(host);
  kick.mutable_kick()->set_user_id(alice.user_id);
  const auto queued_too = ask(alice, "posted before the kick landed");
  act_ok(kick);
  applied = state.apply(++next_seq, queued_too);
  EXPECT_FALSE(applied.event);
  EXPECT_EQ(applied.refused->code, v1::NOT_IN_ROOM);
}

TEST_F(RoomFold, RoleIsTheHighestOfThePresentConnections) {
  open_ama();
  Membership alice_as_moderator = alice;
  alice_as_moderator.role = v1::ROLE_MODERATOR;
  act_ok(joined(alice_as_moderator, "c-alice-staff"));
  auto role_of_alice = [&] {
    const auto snapshot = state.snapshot_for(host.user_id, host.role);
    for (const auto& member : snapshot.members()) {
      if (member.person().user_id() == alice.user_id) return member.person().role();
    }
    return v1::ROLE_UNSPECIFIED;
  };
  EXPECT_EQ(role_of_alice(), v1::ROLE_MODERATOR);
  // So a moderator cannot mute her: equal rank.
  auto mute = new_entry(moderator);
  mute.mutable_mute()->set_user_id(alice.user_id);
  mute.mutable_mute()->set_muted(true);
  EXPECT_EQ(state.check(mute)->code, v1::PERMISSION_DENIED);
  auto left = new_entry(alice_as_moderator);
  left.mutable_left()->set_connection_id("c-alice-staff");
  act_ok(left);
  EXPECT_EQ(role_of_alice(), v1::ROLE_PARTICIPANT);
}

TEST_F(RoomFold, NoOpCommandsAreRecognised) {
  open_ama();
  const auto q = act_ok(ask(alice, "q"));
  EXPECT_FALSE(state.changes_nothing(vote(bob, q)));
  act_ok(vote(bob, q));
  EXPECT_TRUE(state.changes_nothing(vote(bob, q)));
  EXPECT_FALSE(state.changes_nothing(vote(bob, q, false)));
  EXPECT_TRUE(state.changes_nothing(on_question(host, &v1::LogEntry::mutable_pin, 0)));
  EXPECT_FALSE(state.changes_nothing(ask(alice, "another")));
}

TEST_F(RoomFold, AnonymousQuestionsFromStaffWaitInTheQueueToo) {
  open_ama(/*approval=*/true);
  Applied applied;
  ASSERT_FALSE(act(ask(moderator, "asked anonymously", /*anonymous=*/true), &applied));
  EXPECT_EQ(applied.event->question_asked().state(), v1::QUESTION_STATE_PENDING)
      << "appearing at once would give away that staff asked it";
  ASSERT_FALSE(act(ask(moderator, "asked openly"), &applied));
  EXPECT_EQ(applied.event->question_asked().state(), v1::QUESTION_STATE_OPEN);
}

TEST_F(RoomFold, AnonymousMembersAreForgottenWhenGoneUnlessMutedOrBanned) {
  open_ama();
  auto left = new_entry(alice);
  left.mutable_left()->set_connection_id("c-alice");
  act_ok(left);
  auto mute = new_entry(host);
  mute.mutable_mute()->set_user_id(alice.user_id);
  mute.mutable_mute()->set_muted(true);
  EXPECT_EQ(state.check(mute)->code, v1::MEMBER_NOT_FOUND) << "her identity cannot come back";
  mute.mutable_mute()->set_user_id(bob.user_id);
  act_ok(mute);
  left = new_entry(bob);
  left.mutable_left()->set_connection_id("c-bob");
  act_ok(left);
  EXPECT_TRUE(state.is_muted(bob.user_id));
  mute.mutable_mute()->set_muted(false);
  EXPECT_FALSE(state.check(mute)) << "a muted member's record is kept";

  // A banned anonymous member: the ban outlives their leaving, and keeps
  // their identity out.
  Membership carol{"anon:c", "Guest-3333", v1::ROLE_PARTICIPANT};
  act_ok(joined(carol, "c-carol"));
  auto ban = new_entry(host);
  ban.mutable_ban()->set_user_id(carol.user_id);
  ban.mutable_ban()->set_banned(true);
  act_ok(ban);
  EXPECT_FALSE(state.is_present(carol.user_id));
  EXPECT_TRUE(state.is_banned(carol.user_id));
  EXPECT_EQ(state.check(joined(carol, "c-carol-2"))->code, v1::BANNED);
  ban.mutable_ban()->set_banned(false);
  EXPECT_FALSE(state.check(ban)) << "a banned member's record is kept, so the ban can be lifted";
}

// 10,000 named people join a support room in slow mode, each says one thing
// and leaves. A day later the room remembers only those it must (the staff
// member still here, the one who was muted), and slow mode's record of
// their posts is gone: neither the state nor its checkpoint grows with
// everyone who ever passed through. A state started from a checkpoint
// forgets alike.
TEST_F(RoomFold, PeopleWhoLeftAndOldPostsAreForgottenADayLaterUnlessMuted) {
  using google::protobuf::util::TimeUtil;
  const auto at = [](std::int64_t seconds) { return TimeUtil::SecondsToTimestamp(1'800'000'000 + seconds); };
  auto timed = [&](v1::LogEntry entry, std::int64_t seconds) {
    *entry.mutable_at() = at(seconds);
    return entry;
  };
  auto create = created(v1::ROOM_KIND_SUPPORT);
  create.mutable_room_created()->mutable_settings()->set_slow_mode_seconds(60);
  act_ok(timed(create, 0));
  act_ok(timed(joined(host, "c-host"), 0));
  constexpr int kPeople = 10000;
  for (int i = 0; i < kPeople; ++i) {
    const Membership person{"user-" + std::to_string(i), "Person " + std::to_string(i), v1::ROLE_PARTICIPANT};
    act_ok(timed(joined(person, "c-" + std::to_string(i)), 1));
    act_ok(timed(say(person, "hello"), 1));
    auto left = new_entry(person);
    left.mutable_left()->set_connection_id("c-" + std::to_string(i));
    act_ok(timed(left, 2));
  }
  auto mute = [&](const std::string& user_id) {
    auto entry = new_entry(host);
    entry.mutable_mute()->set_user_id(user_id);
    entry.mutable_mute()->set_muted(true);
    return entry;
  };
  // Within the day, a late mute still finds who left.
  act_ok(timed(mute("user-7"), 3600));
  EXPECT_EQ(state.to_data().members_size(), kPeople + 1);
  EXPECT_EQ(state.to_data().last_posts_size(), kPeople);
  const v1::RoomStateData before = state.to_data();

  act_ok(timed(say(host, "a day later"), 24 * 3600 + 3));
  const auto after = state.to_data();
  EXPECT_EQ(after.members_size(), 2) << "the host, here, and user-7, muted";
  EXPECT_EQ(after.last_posts_size(), 0);
  EXPECT_EQ(state.check(timed(mute("user-8"), 24 * 3600 + 4))->code, v1::MEMBER_NOT_FOUND);
  EXPECT_FALSE(state.check(timed(mute("user-7"), 24 * 3600 + 4)).has_value() &&
               state.check(timed(mute("user-7"), 24 * 3600 + 4))->code == v1::MEMBER_NOT_FOUND);

  // From the checkpoint of before, the same entry forgets the same people.
  RoomState restored = RoomState::from_data("room-1", Limits{}, before);
  restored.apply(next_seq, timed(say(host, "a day later"), 24 * 3600 + 3));
  EXPECT_EQ(restored.to_data().members_size(), 2);
  EXPECT_EQ(restored.to_data().last_posts_size(), 0);
}

// docs/privacy.md: an anonymous member is kept only while present, muted
// or banned. One muted or banned while here, who then left, is forgotten
// once the mute or ban is lifted, name included (issue 15.9).
TEST_F(RoomFold, AnAnonymousMemberWhoLeftIsForgottenWhenTheirMuteOrBanIsLifted) {
  act_ok(created(v1::ROOM_KIND_SUPPORT));
  act_ok(joined(host, "c-host"));
  for (const bool mute : {true, false}) {
    const Membership guest{mute ? "anon:00000000000000aa" : "anon:00000000000000bb", "Guest Secretname",
                           v1::ROLE_PARTICIPANT};
    act_ok(joined(guest, "c-guest"));
    const auto moderate = [&](bool on) {
      auto entry = new_entry(host);
      if (mute) {
        entry.mutable_mute()->set_user_id(guest.user_id);
        entry.mutable_mute()->set_muted(on);
      } else {
        entry.mutable_ban()->set_user_id(guest.user_id);
        entry.mutable_ban()->set_banned(on);
      }
      return entry;
    };
    act_ok(moderate(true));
    if (mute) {  // a ban took them out already
      auto left = new_entry(guest);
      left.mutable_left()->set_connection_id("c-guest");
      act_ok(left);
    }
    const auto holds_name = [&] {
      return state.to_data().SerializeAsString().find("Guest Secretname") != std::string::npos;
    };
    EXPECT_TRUE(holds_name()) << (mute ? "muted" : "banned") << ": kept, for when they come back";
    act_ok(moderate(false));
    EXPECT_FALSE(holds_name()) << (mute ? "unmuted" : "unbanned") << ": nothing left to keep them for";
  }
}

// Limits::messages_in_memory and closed_questions_in_memory: however long a
// room lives, it holds its latest items, so a node's memory does not grow
// with its history; older ones can still be deleted, nothing else.
TEST_F(RoomFold, ARoomHoldsItsLatestMessagesAndClosedQuestionsOnly) {
  Limits limits;
  limits.messages_in_memory = 3;
  limits.snapshot_messages = 3;
  limits.closed_questions_in_memory = 2;
  limits.max_open_questions = 3;
  state = RoomState("room-1", limits);
  act_ok(created(v1::ROOM_KIND_AMA, false, /*side_chat=*/true));
  act_ok(joined(host, "c-host"));
  act_ok(joined(alice, "c-alice"));
  act_ok(joined(bob, "c-bob"));

  std::vector<std::uint64_t> said;
  for (int i = 0; i < 6; ++i) said.push_back(act_ok(say(alice, "m" + std::to_string(i))));
  EXPECT_EQ(state.to_data().messages_size(), 3);
  EXPECT_EQ(state.to_data().messages(0).id(), said[3]);
  EXPECT_TRUE(state.forgot_message(said[0]));
  EXPECT_FALSE(state.forgot_message(said[4]));

  auto edit = new_entry(alice);
  edit.mutable_edit_message()->set_id(said[0]);
  edit.mutable_edit_message()->set_text("changed");
  EXPECT_EQ(state.check(edit)->code, v1::MESSAGE_NOT_FOUND);
  auto report = new_entry(bob);
  report.mutable_report()->set_message_id(said[0]);
  EXPECT_EQ(state.check(report)->code, v1::MESSAGE_NOT_FOUND);
  const auto reply = state.check(say(bob, "a reply to an old one", said[0]));
  ASSERT_TRUE(reply) << "nothing here says whether bob could see it";
  EXPECT_EQ(reply->code, v1::MESSAGE_NOT_FOUND);
  // A delete passes the fold: Room checked the author against the log.
  auto remove = new_entry(alice);
  remove.mutable_delete_message()->set_message_id(said[0]);
  Applied deleted;
  ASSERT_FALSE(act(remove, &deleted));
  ASSERT_TRUE(deleted.event && deleted.event->has_message_deleted());
  EXPECT_EQ(deleted.event->message_deleted().id(), said[0]);
  EXPECT_TRUE(deleted.event->message_deleted().deleted());
  EXPECT_FALSE(deleted.event->has_actor()) << "it may have been held: who deleted it is not said";
  EXPECT_EQ(state.to_data().messages_size(), 3) << "nothing comes back";

  // Open and pending questions are capped; closed ones are held up to their
  // own cap, the oldest forgotten first.
  std::vector<std::uint64_t> asked;
  for (int i = 0; i < 3; ++i) asked.push_back(act_ok(ask(bob, "q" + std::to_string(i))));
  const auto full = state.check(ask(alice, "one too many"));
  ASSERT_TRUE(full);
  EXPECT_EQ(full->code, v1::TOO_MANY_QUESTIONS);
  EXPECT_FALSE(state.check(vote(alice, asked[0]))) << "votes are not questions";
  act_ok(on_question(host, &v1::LogEntry::mutable_mark_answered, asked[0]));
  asked.push_back(act_ok(ask(alice, "q3: a place came free")));
  act_ok(on_question(host, &v1::LogEntry::mutable_mark_answered, asked[1]));
  auto gone = new_entry(bob);
  gone.mutable_delete_question()->set_question_id(asked[2]);
  act_ok(gone);
  // Three closed, two held: the oldest closed one is forgotten, the open
  // one asked before it is not.
  EXPECT_TRUE(state.forgot_question(asked[0]));
  EXPECT_FALSE(state.forgot_question(asked[1]));
  EXPECT_FALSE(state.forgot_question(asked[3]));
  EXPECT_EQ(state.check(vote(alice, asked[0]))->code, v1::QUESTION_NOT_FOUND);
  EXPECT_FALSE(state.check(vote(alice, asked[1])));
  EXPECT_EQ(state.to_data().questions_size(), 3);
  auto drop = new_entry(bob);
  drop.mutable_delete_question()->set_question_id(asked[0]);
  Applied dropped;
  ASSERT_FALSE(act(drop, &dropped));
  ASSERT_TRUE(dropped.event && dropped.event->has_question_deleted());
  EXPECT_EQ(dropped.event->question_deleted().id(), asked[0]);

  // A checkpoint holds what the state holds, and knows what it forgot.
  const RoomState copy = RoomState::from_data("room-1", limits, state.to_data());
  EXPECT_TRUE(copy.forgot_message(said[1]));
  EXPECT_TRUE(copy.forgot_question(asked[0]));
  EXPECT_EQ(copy.snapshot_for(host.user_id, host.role).SerializeAsString(),
            state.snapshot_for(host.user_id, host.role).SerializeAsString());
  EXPECT_EQ(copy.to_data().messages_forgotten_up_to(), said[2]);
  // A checkpoint written under larger limits is cut down to these.
  Limits smaller = limits;
  smaller.messages_in_memory = 1;
  smaller.snapshot_messages = 1;
  const RoomState cut = RoomState::from_data("room-1", smaller, state.to_data());
  EXPECT_EQ(cut.to_data().messages_size(), 1);
  EXPECT_TRUE(cut.forgot_message(said[4]));
}

// A held message waits for staff: newer messages do not push it out.
TEST_F(RoomFold, AHeldMessageIsNotForgottenWhileOthersCanGo) {
  Limits limits;
  limits.messages_in_memory = 2;
  limits.snapshot_messages = 2;
  state = RoomState("room-1", limits);
  act_ok(created(v1::ROOM_KIND_SUPPORT));
  act_ok(joined(host, "c-host"));
  act_ok(joined(alice, "c-alice"));
  auto hold = new_entry(host);
  hold.mutable_room_updated()->mutable_settings()->set_crisis_policy(v1::CRISIS_POLICY_HOLD);
  act_ok(hold);
  auto flagged = say(alice, "held for staff");
  flagged.mutable_say()->set_flagged(true);
  const auto held = act_ok(flagged);
  std::vector<std::uint64_t> said;
  for (int i = 0; i < 4; ++i) said.push_back(act_ok(say(alice, "m" + std::to_string(i))));
  EXPECT_FALSE(state.forgot_message(held));
  EXPECT_TRUE(state.forgot_message(said[1]));
  EXPECT_FALSE(state.forgot_message(said[3]));
  auto release = new_entry(host);
  release.mutable_release_message()->set_message_id(held);
  EXPECT_FALSE(state.check(release)) << "staff can still release it";
}

}  // namespace
}  // namespace hearth
