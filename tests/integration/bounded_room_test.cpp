// A room holds its latest items in memory, however long it lives
// (docs/protocol.md 1.9: --messages-in-memory, --closed-questions-in-memory,
// --max-open-questions), through real nodes on a real Redis: what it forgot
// stays in the log and the transcript, its author or staff can still delete
// it on any node (checked against the log), nobody else can, nothing else
// can change it, and an erasure still takes it from everyone's screen.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

constexpr const char* kRoom = "long-room";

v1::ClientMessage delete_message(std::uint64_t id) {
  return room_command(kRoom, [&](v1::ClientMessage& m) { m.mutable_delete_message()->set_message_id(id); });
}

std::vector<std::string> bounded(const RedisProcess& redis) {
  auto args = redis.node_args();
  for (const char* arg : {"--messages-in-memory", "5", "--snapshot-messages", "5"}) args.emplace_back(arg);
  return args;
}

// Waits for `client`'s next event that deletes message `id`.
bool sees_deleted(WsClient& client, std::uint64_t id) {
  const auto event = client.next_event_where(
      [&](const v1::Event& e) { return e.has_message_deleted() && e.message_deleted().id() == id; });
  return event.message_deleted().deleted();
}

TEST(BoundedRoom, AForgottenMessageStaysInTheLogAndOnlyItsAuthorOrStaffCanDeleteIt) {
  RedisProcess redis;
  ServerProcess node_a(bounded(redis));
  ServerProcess node_b(bounded(redis));
  WsClient host(node_a.port());
  host.request_ok(hello(ServerProcess::token("host", kRoom, "Lee", "lee")));
  host.request_ok(create_room(kRoom, v1::ROOM_KIND_SUPPORT));
  const std::string alice_token = ServerProcess::token("participant", kRoom, "Al", "alice");
  WsClient alice(node_a.port());
  alice.request_ok(join(kRoom, "", alice_token));
  WsClient alice_elsewhere(node_b.port());  // the same person, on the other node
  alice_elsewhere.request_ok(join(kRoom, "", alice_token));
  WsClient bob(node_b.port());
  const auto bob_joined = bob.request_ok(join(kRoom, "Bob")).snapshot();

  std::vector<std::uint64_t> said;
  for (int i = 0; i < 9; ++i)
    said.push_back(alice.request_ok(say(kRoom, "alice " + std::to_string(i))).accepted().seq());
  said.push_back(bob.request_ok(say(kRoom, "bob says one thing")).accepted().seq());
  // Both nodes applied all of it before anyone acts on the old ones.
  for (WsClient* client : {&alice_elsewhere, &bob}) {
    client->next_event_where([&](const v1::Event& e) { return e.seq() == said.back(); });
  }

  // Only the latest five are held: a late joiner's snapshot has them.
  WsClient late(node_b.port());
  const auto snapshot = late.request_ok(join(kRoom, "Lou")).snapshot();
  ASSERT_EQ(snapshot.messages_size(), 5);
  EXPECT_EQ(snapshot.messages(0).id(), said[5]);

  // The author deletes a forgotten message from the other node.
  EXPECT_EQ(alice_elsewhere.request_ok(delete_message(said[0])).accepted().seq() > 0, true);
  EXPECT_TRUE(sees_deleted(bob, said[0]));
  EXPECT_TRUE(sees_deleted(alice, said[0]));
  // Somebody else may not, a moderator may.
  const auto refused = bob.request_error(delete_message(said[1]));
  EXPECT_EQ(refused.code(), v1::PERMISSION_DENIED) << refused.message();
  host.request_ok(delete_message(said[2]));
  EXPECT_TRUE(sees_deleted(bob, said[2]));
  // An id among them that is no message.
  EXPECT_EQ(bob.request_error(delete_message(bob_joined.seq())).code(), v1::MESSAGE_NOT_FOUND);
  // Nothing else changes a forgotten message.
  const auto edit = alice.request_error(room_command(kRoom, [&](v1::ClientMessage& m) {
    m.mutable_edit_message()->set_message_id(said[3]);
    m.mutable_edit_message()->set_text("a new text for an old message");
  }));
  EXPECT_EQ(edit.code(), v1::MESSAGE_NOT_FOUND);
  EXPECT_NE(edit.message().find("too old"), std::string::npos) << edit.message();
  const auto report = bob.request_error(
      room_command(kRoom, [&](v1::ClientMessage& m) { m.mutable_report_item()->set_message_id(said[3]); }));
  EXPECT_EQ(report.code(), v1::MESSAGE_NOT_FOUND);
  EXPECT_EQ(bob.request_error(say(kRoom, "a reply to an old message", said[3])).code(),
            v1::MESSAGE_NOT_FOUND);

  // The transcript holds every message still there, forgotten or not.
  const auto transcript = http_request(node_b.port(), boost::beast::http::verb::get,
                                       std::string("/rooms/") + kRoom + "/transcript",
                                       "Bearer " + ServerProcess::token("host", kRoom, "Lee", "lee"));
  ASSERT_EQ(transcript.result_int(), 200);
  const std::string& body = transcript.body();
  EXPECT_EQ(body.find("alice 0"), std::string::npos);
  EXPECT_NE(body.find("alice 1"), std::string::npos);
  EXPECT_EQ(body.find("alice 2"), std::string::npos);
  for (int i = 3; i < 9; ++i) EXPECT_NE(body.find("alice " + std::to_string(i)), std::string::npos) << i;

  // An erasure names to staff every message of hers still in the log, the
  // forgotten ones too; others hear only of those the room holds (whether
  // a forgotten one was ever public, held or not, is not known here).
  late.events().clear();
  host.events().clear();
  alice.request_ok(room_command(kRoom, [](v1::ClientMessage& m) { m.mutable_erase_my_content(); }));
  const auto named_by = [](WsClient& client) {
    const auto erased = client.next_event_where([](const v1::Event& e) { return e.has_content_erased(); });
    std::set<std::uint64_t> named;
    for (const auto& message : erased.content_erased().messages()) {
      EXPECT_TRUE(message.deleted());
      EXPECT_EQ(message.text(), "");
      named.insert(message.id());
    }
    return named;
  };
  const auto to_staff = named_by(host);
  const auto to_others = named_by(late);
  for (std::size_t i = 0; i < 9; ++i) {
    if (i == 0 || i == 2) continue;  // deleted before
    EXPECT_TRUE(to_staff.contains(said[i])) << "alice " << i;
    EXPECT_EQ(to_others.contains(said[i]), i >= 5) << "alice " << i;
  }
  EXPECT_FALSE(to_staff.contains(said[9])) << "bob's";
}

TEST(BoundedRoom, AnAmaTakesAtMostItsOpenQuestionsAndForgetsItsOldestClosedOnes) {
  ServerProcess server({"--max-open-questions", "3", "--closed-questions-in-memory", "2"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "ama", "Dr. Ada", "ada")));
  host.request_ok(create_room("ama", v1::ROOM_KIND_AMA));
  const std::string pat_token = ServerProcess::token("participant", "ama", "Pat", "pat");
  WsClient pat(server.port());
  pat.request_ok(join("ama", "", pat_token));
  WsClient sam(server.port());
  sam.request_ok(join("ama", "Sam"));

  std::vector<std::uint64_t> asked;
  for (int i = 0; i < 3; ++i)
    asked.push_back(pat.request_ok(ask("ama", "q" + std::to_string(i), true)).accepted().seq());
  const auto full = sam.request_error(ask("ama", "one too many"));
  EXPECT_EQ(full.code(), v1::TOO_MANY_QUESTIONS) << full.message();
  const auto answered = [&](std::uint64_t id) {
    return room_command("ama", [&](v1::ClientMessage& m) { m.mutable_mark_answered()->set_question_id(id); });
  };
  host.request_ok(answered(asked[0]));
  asked.push_back(sam.request_ok(ask("ama", "q3: a place came free")).accepted().seq());
  host.request_ok(answered(asked[1]));
  host.request_ok(answered(asked[2]));

  // Three closed, two held: the first is forgotten. Votes on it are
  // refused; its (anonymous) author can still delete it, unnamed.
  EXPECT_EQ(sam.request_error(vote("ama", asked[0])).code(), v1::QUESTION_NOT_FOUND);
  sam.request_ok(vote("ama", asked[1]));
  const auto deleting = room_command(
      "ama", [&](v1::ClientMessage& m) { m.mutable_delete_question()->set_question_id(asked[0]); });
  EXPECT_EQ(sam.request_error(deleting).code(), v1::PERMISSION_DENIED);
  pat.request_ok(deleting);
  const auto gone = sam.next_event_where(
      [&](const v1::Event& e) { return e.has_question_deleted() && e.question_deleted().id() == asked[0]; });
  EXPECT_EQ(gone.question_deleted().state(), v1::QUESTION_STATE_DELETED);
  EXPECT_FALSE(gone.has_actor()) << "it was asked anonymously: the delete names nobody";

  WsClient late(server.port());
  const auto snapshot = late.request_ok(join("ama", "Lou")).snapshot();
  std::set<std::uint64_t> ids;
  for (const auto& question : snapshot.questions()) ids.insert(question.id());
  EXPECT_EQ(ids, (std::set<std::uint64_t>{asked[1], asked[2], asked[3]}));
}

}  // namespace
}  // namespace hearth::testing
