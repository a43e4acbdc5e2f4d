// A whole AMA against the real server: a host with approval on, three
// participants (both encodings), questions, votes, approval, pin, answer;
// then a late joiner whose snapshot must match what everyone saw live.
#include <gtest/gtest.h>

#include <map>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

// A client's picture of the question board, built only from what the server
// sent it: a snapshot, then events in order.
struct Board {
  std::map<std::uint64_t, v1::Question> questions;
  std::uint64_t last_seq = 0;
  bool seq_order_ok = true;

  void load(const v1::RoomSnapshot& snapshot) {
    for (const auto& question : snapshot.questions()) questions[question.id()] = question;
    last_seq = snapshot.seq();
  }
  void apply(const v1::Event& event) {
    if (event.seq() <= last_seq) seq_order_ok = false;
    last_seq = event.seq();
    if (event.has_question_asked()) questions[event.question_asked().id()] = event.question_asked();
    if (event.has_question_updated()) questions[event.question_updated().id()] = event.question_updated();
    if (event.has_question_deleted()) questions[event.question_deleted().id()] = event.question_deleted();
    if (event.has_question_votes()) questions[event.question_votes().question_id()].set_votes(event.question_votes().votes());
    if (event.has_question_pinned()) {
      if (auto it = questions.find(event.question_pinned().previous_id()); it != questions.end()) it->second.set_pinned(false);
      if (auto it = questions.find(event.question_pinned().question_id()); it != questions.end()) it->second.set_pinned(true);
    }
  }
  void drain(WsClient& client) {
    // A ping's reply comes after every event queued before it.
    client.request_ok(ping());
    while (!client.events().empty()) {
      apply(client.events().front());
      client.events().pop_front();
    }
  }
  // The public board: what every participant should agree on.
  std::map<std::uint64_t, std::string> public_view() const {
    std::map<std::uint64_t, std::string> out;
    for (const auto& [id, q] : questions) {
      if (q.state() != v1::QUESTION_STATE_OPEN && q.state() != v1::QUESTION_STATE_ANSWERED) continue;
      out[id] = q.text() + "|" + std::to_string(q.votes()) + "|" + v1::QuestionState_Name(q.state()) + "|" +
                (q.pinned() ? "pinned" : "") + "|" + q.answer().text() + "|" + q.author().display_name();
    }
    return out;
  }
};

TEST(Ama, WholeSessionAndLateJoinerSnapshotMatchesLiveEvents) {
  ServerProcess server;
  const std::string room = "ama-1";
  WsClient host(server.port());
  ASSERT_TRUE(host.request_ok(hello(ServerProcess::token("host", room, "Dr. Ada", "ada"))).has_welcome());
  Board host_board;
  host_board.load(host.request_ok(create_room(room, v1::ROOM_KIND_AMA, /*approval=*/true)).snapshot());

  WsClient sam(server.port());
  WsClient anon(server.port(), Encoding::binary);
  WsClient kai(server.port());
  Board boards[3];
  WsClient* participants[3] = {&sam, &anon, &kai};
  // Sam's join brings the resume token that brings a second tab back as Sam.
  sam.request_ok(hello("", "Sam"));
  const auto sam_join = sam.request_ok(join(room, "Sam")).snapshot();
  ASSERT_FALSE(sam_join.resume_token().empty());
  boards[0].load(sam_join);
  EXPECT_EQ(sam_join.you().display_name(), "Sam");
  const auto anon_join = anon.request_ok(join(room)).snapshot();
  boards[1].load(anon_join);
  EXPECT_TRUE(anon.last_frame_was_binary());
  EXPECT_EQ(anon_join.you().display_name().substr(0, 6), "Guest-") << "no name given: a pseudonym";
  boards[2].load(kai.request_ok(join(room, "Kai")).snapshot());

  // Questions go to the approval queue.
  const auto q1 = sam.request_ok(ask(room, "How do I start a gratitude practice?")).accepted().seq();
  const auto q2 = anon.request_ok(ask(room, "Is it normal to feel numb?", /*anonymous=*/true)).accepted().seq();
  const auto q3 = kai.request_ok(ask(room, "buy cheap pills")).accepted().seq();
  for (auto id : {q1, q2, q3}) {
    const auto event = host.next_event_where([](const v1::Event& e) { return e.has_question_asked(); });
    EXPECT_EQ(event.question_asked().id(), id);
    EXPECT_EQ(event.question_asked().state(), v1::QUESTION_STATE_PENDING);
    host_board.apply(event);
  }
  EXPECT_EQ(host_board.questions.at(q2).author().display_name(), "Anonymous");
  EXPECT_EQ(host_board.questions.at(q2).author().user_id(), "");

  auto approve = [&](std::uint64_t id) {
    v1::ClientMessage message;
    message.set_room_id(room);
    message.mutable_approve_question()->set_question_id(id);
    return host.request_ok(message);
  };
  approve(q1);
  approve(q2);
  v1::ClientMessage dismiss;
  dismiss.set_room_id(room);
  dismiss.mutable_dismiss_question()->set_question_id(q3);
  host.request_ok(dismiss);

  // Votes, one per person, and one taken back.
  sam.request_ok(vote(room, q2));
  anon.request_ok(vote(room, q2));
  kai.request_ok(vote(room, q1));
  kai.request_ok(vote(room, q2));
  anon.request_ok(vote(room, q2, /*up=*/false));
  sam.request_ok(vote(room, q2));  // again: counts once
  EXPECT_EQ(sam.request_error(vote(room, q3)).code(), v1::QUESTION_NOT_FOUND) << "a dismissed question is not Sam's to see";

  v1::ClientMessage pin;
  pin.set_room_id(room);
  pin.mutable_pin_question()->set_question_id(q2);
  host.request_ok(pin);
  v1::ClientMessage answer;
  answer.set_room_id(room);
  answer.mutable_answer_question()->set_question_id(q2);
  answer.mutable_answer_question()->set_text("Yes, numbness is a common response to stress.");
  host.request_ok(answer);
  v1::ClientMessage answered;
  answered.set_room_id(room);
  answered.mutable_mark_answered()->set_question_id(q2);
  host.request_ok(answered);
  pin.mutable_pin_question()->set_question_id(q1);
  host.request_ok(pin);

  host_board.drain(host);
  for (int i = 0; i < 3; ++i) boards[i].drain(*participants[i]);

  // What every participant saw live.
  const auto expected = boards[0].public_view();
  ASSERT_EQ(expected.size(), 2u);
  EXPECT_EQ(expected.at(q2), "Is it normal to feel numb?|2|QUESTION_STATE_ANSWERED||"
                             "Yes, numbness is a common response to stress.|Anonymous");
  EXPECT_EQ(expected.at(q1), "How do I start a gratitude practice?|1|QUESTION_STATE_OPEN|pinned||Sam");
  for (int i = 0; i < 3; ++i) {
    auto seen = boards[i].public_view();
    // Its anonymous author (participant 1) saw it live as theirs, under
    // their own name; nobody else could tell whose it is.
    EXPECT_EQ(boards[i].questions.at(q2).yours(), i == 1) << "participant " << i;
    if (i == 1) {
      EXPECT_FALSE(seen.at(q2).ends_with("|Anonymous"));
      EXPECT_FALSE(boards[i].questions.at(q2).author().user_id().empty());
      seen[q2] = expected.at(q2);
    }
    EXPECT_EQ(seen, expected) << "participant " << i;
    EXPECT_TRUE(boards[i].seq_order_ok) << "participant " << i;
  }
  EXPECT_EQ(host_board.public_view(), expected);
  EXPECT_TRUE(boards[2].questions.contains(q3)) << "Kai sees his own dismissed question";
  EXPECT_EQ(boards[2].questions.at(q3).state(), v1::QUESTION_STATE_DISMISSED);
  EXPECT_FALSE(boards[0].questions.contains(q3)) << "nobody else ever heard of it";

  // The late joiner gets the same board in one snapshot, sorted by votes.
  WsClient late(server.port());
  const auto snapshot = late.request_ok(join(room, "Late")).snapshot();
  Board late_board;
  late_board.load(snapshot);
  EXPECT_EQ(late_board.public_view(), expected);
  ASSERT_EQ(snapshot.questions_size(), 2);
  EXPECT_EQ(snapshot.questions(0).id(), q2);
  EXPECT_EQ(snapshot.questions(1).id(), q1);
  EXPECT_FALSE(snapshot.questions(0).voted_by_me());
  EXPECT_EQ(snapshot.present(), 5u);
  EXPECT_FALSE(snapshot.listed());
  for (const auto& member : snapshot.members()) {
    EXPECT_NE(member.person().role(), v1::ROLE_PARTICIPANT) << "an AMA names its staff only";
  }
  EXPECT_GE(snapshot.seq(), boards[0].last_seq);

  // Whether the caller voted is per caller: Sam (voted for q2 only), back in
  // a second tab with his resume token, sees his own vote and no other; a
  // new anonymous identity sees none.
  WsClient sam_second_tab(server.port());
  const auto sams = sam_second_tab.request_ok(join(room, "Sam", sam_join.resume_token())).snapshot();
  EXPECT_EQ(sams.you().user_id(), sam_join.you().user_id());
  std::map<std::uint64_t, bool> sam_voted;
  for (const auto& question : sams.questions()) sam_voted[question.id()] = question.voted_by_me();
  EXPECT_EQ(sam_voted, (std::map<std::uint64_t, bool>{{q1, false}, {q2, true}}));
  WsClient stranger(server.port());
  ASSERT_TRUE(stranger.request_ok(hello("", "Stranger")).has_welcome());
  const auto other = stranger.request_ok(join(room)).snapshot();
  ASSERT_EQ(other.questions_size(), 2);
  for (const auto& question : other.questions()) EXPECT_FALSE(question.voted_by_me()) << "a new anonymous identity";
}

TEST(Ama, SeveralRoomsOnOneConnection) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "*", "Dr. Ada", "ada")));
  host.request_ok(create_room("room-a", v1::ROOM_KIND_AMA));
  host.request_ok(create_room("room-b", v1::ROOM_KIND_SUPPORT));
  WsClient guest(server.port(), Encoding::binary);
  guest.request_ok(join("room-a"));
  guest.request_ok(join("room-b"));
  const auto q = guest.request_ok(ask("room-a", "question in a")).accepted().seq();
  guest.request_ok(say("room-b", "hello b"));
  const auto in_a = host.next_event_where([](const v1::Event& e) { return e.has_question_asked(); });
  EXPECT_EQ(in_a.room_id(), "room-a");
  EXPECT_EQ(in_a.question_asked().id(), q);
  const auto in_b = host.next_event_where([](const v1::Event& e) { return e.has_message_posted(); });
  EXPECT_EQ(in_b.room_id(), "room-b");
  EXPECT_EQ(in_b.message_posted().text(), "hello b");
  // Leaving one room leaves the other alone.
  v1::ClientMessage leave;
  leave.set_room_id("room-a");
  leave.mutable_leave_room();
  EXPECT_TRUE(guest.request_ok(leave).has_left());
  EXPECT_EQ(guest.request_error(ask("room-a", "still here?")).code(), v1::NOT_IN_ROOM);
  guest.request_ok(say("room-b", "still in b"));
}

TEST(Ama, CreatedRoomWithoutIdGetsOne) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("admin", "*", "Op", "op")));
  const auto snapshot = host.request_ok(create_room("", v1::ROOM_KIND_AMA)).snapshot();
  EXPECT_EQ(snapshot.room().room_id().size(), 10u);
  EXPECT_EQ(snapshot.you().role(), v1::ROLE_ADMIN);
}

}  // namespace
}  // namespace hearth::testing
