// The limits docs/protocol.md 1.9 documents, through a real server: text
// lengths at the boundary (the longest accepted, one more refused with the
// documented code, counted in code points), the snapshot's cap on messages,
// leaveRoom passing when the frame budget is spent, slow mode, the cap on
// pending questions, chat turned off, and members a room does not know.
// Each refusal leaves the offender's connection usable and changes nothing
// anyone else sees.
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

using google::protobuf::util::TimeUtil;

// A room command for `room`, filled in by `fill`.
v1::ClientMessage in_room(const std::string& room, const std::function<void(v1::ClientMessage&)>& fill) {
  v1::ClientMessage message;
  message.set_room_id(room);
  fill(message);
  return message;
}

// Exactly `code_points` code points, most of them two bytes long and one of
// them four: a server counting bytes would refuse these long before the
// limit.
std::string text_of(std::size_t code_points) {
  std::string text = "\xF0\x9F\x8C\xBF";                             // U+1F33F, four bytes
  for (std::size_t i = 1; i < code_points; ++i) text += "\xC3\xA9";  // U+00E9, two bytes
  return text;
}

v1::ClientMessage update_room(const std::string& room, const v1::RoomSettings& settings,
                              const std::string& title, const std::string& passcode = "") {
  auto message = update_settings(room, settings);
  message.mutable_update_room()->set_title(title);
  message.mutable_update_room()->set_passcode(passcode);
  return message;
}

v1::ClientMessage join_with_passcode(const std::string& room, const std::string& passcode) {
  auto message = join(room);
  message.mutable_join_room()->set_passcode(passcode);
  return message;
}

// docs/protocol.md 1.9 (limits), 2.2, 2.5, 2.13, 2.17, 2.23, 2.25, 5.1.
TEST(DocumentedLimits, AnswersMessagesTitlesReasonsPasscodesAndInviteLifetimesAtTheirBoundaries) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "*", "Dr. Ada", "ada")));

  // Titles: 200 code points (2.2).
  auto too_long_title = create_room("ama", v1::ROOM_KIND_AMA, false, /*side_chat=*/true);
  too_long_title.mutable_create_room()->set_title(text_of(201));
  EXPECT_EQ(host.request_error(too_long_title).code(), v1::TEXT_TOO_LONG);
  auto longest_title = create_room("ama", v1::ROOM_KIND_AMA, false, /*side_chat=*/true);
  longest_title.mutable_create_room()->set_title(text_of(200));
  const auto created = host.request_ok(longest_title).snapshot();
  EXPECT_EQ(created.room().title(), text_of(200));

  WsClient member(server.port());
  member.request_ok(join("ama", "Pat"));
  WsClient observer(server.port(), Encoding::binary);
  observer.request_ok(join("ama", "Obi"));

  // updateRoom's title has the same limit (2.5); the refusal changed nothing.
  v1::RoomSettings settings;
  settings.set_side_chat(true);
  EXPECT_EQ(host.request_error(update_room("ama", settings, text_of(201))).code(), v1::TEXT_TOO_LONG);
  host.request_ok(update_room("ama", settings, "Renamed " + text_of(192)));  // 200 in all

  // Answers: 4000 code points (2.13).
  const auto question = member.request_ok(ask("ama", "How do I rest?")).accepted().seq();
  auto answer = [&](std::size_t length) {
    return in_room("ama", [&](v1::ClientMessage& m) {
      m.mutable_answer_question()->set_question_id(question);
      m.mutable_answer_question()->set_text(text_of(length));
    });
  };
  EXPECT_EQ(host.request_error(answer(4001)).code(), v1::TEXT_TOO_LONG);
  host.request_ok(answer(4000));

  // Chat messages: 2000 code points (2.17).
  EXPECT_EQ(member.request_error(say("ama", text_of(2001))).code(), v1::TEXT_TOO_LONG);
  member.request_ok(say("ama", text_of(2000)));

  // A report's reason: 500 code points (2.25). The refused one did not count
  // as the member's report: the accepted one is the first (its seq is not 0).
  const auto host_message = host.request_ok(say("ama", "Welcome, everyone.")).accepted().seq();
  auto report = [&](std::size_t length) {
    return in_room("ama", [&](v1::ClientMessage& m) {
      m.mutable_report_item()->set_message_id(host_message);
      m.mutable_report_item()->set_reason(text_of(length));
    });
  };
  EXPECT_EQ(member.request_error(report(501)).code(), v1::TEXT_TOO_LONG);
  EXPECT_GT(member.request_ok(report(500)).accepted().seq(), 0u);
  const auto reported = host.next_event_where([](const v1::Event& e) { return e.has_item_reported(); });
  EXPECT_EQ(reported.item_reported().reason(), text_of(500)) << "the whole reason reaches staff";
  EXPECT_EQ(reported.item_reported().reports(), 1u);

  // Invite lifetimes: at most 30 days (2.23).
  auto invite = [&](std::uint32_t ttl) {
    return in_room("ama", [&](v1::ClientMessage& m) { m.mutable_create_invite()->set_ttl_seconds(ttl); });
  };
  EXPECT_EQ(host.request_error(invite(2592001)).code(), v1::INVALID_ARGUMENT);
  const auto now = TimeUtil::GetCurrentTime().seconds();
  const auto longest = host.request_ok(invite(2592000)).invite();
  EXPECT_FALSE(longest.token().empty());
  EXPECT_NEAR(static_cast<double>(longest.expires_at().seconds()), static_cast<double>(now + 2592000), 60);
  const auto by_default = host.request_ok(invite(0)).invite();
  EXPECT_NEAR(static_cast<double>(by_default.expires_at().seconds()),
              static_cast<double>(now + 7 * 24 * 3600), 60)
      << "0 means 7 days";

  // Passcodes: 4 to 128 code points, in createRoom and updateRoom (1.12).
  auto private_room = [&](const std::string& id, const std::string& passcode) {
    auto message = create_room(id, v1::ROOM_KIND_SUPPORT);
    message.mutable_create_room()->mutable_settings()->set_invite_only(true);
    message.mutable_create_room()->set_passcode(passcode);
    return message;
  };
  EXPECT_EQ(host.request_error(private_room("p-short", text_of(3))).code(), v1::INVALID_ARGUMENT);
  EXPECT_EQ(host.request_error(private_room("p-long", text_of(129))).code(), v1::INVALID_ARGUMENT);
  EXPECT_TRUE(host.request_ok(private_room("p-short", text_of(4))).snapshot().room().has_passcode());
  EXPECT_TRUE(host.request_ok(private_room("p-long", text_of(128))).snapshot().room().has_passcode());
  v1::RoomSettings private_settings;
  private_settings.set_invite_only(true);
  EXPECT_EQ(host.request_error(update_room("p-short", private_settings, "", text_of(3))).code(),
            v1::INVALID_ARGUMENT);
  EXPECT_EQ(host.request_error(update_room("p-short", private_settings, "", text_of(129))).code(),
            v1::INVALID_ARGUMENT);
  host.request_ok(update_room("p-short", private_settings, "", "new-" + text_of(124)));  // 128 in all
  // Each passcode was kept whole: the accepted ones let people in, the
  // refused update did not replace the one before it.
  WsClient guest(server.port());
  guest.request_ok(join_with_passcode("p-long", text_of(128)));
  guest.request_ok(join_with_passcode("p-short", "new-" + text_of(124)));
  WsClient other_guest(server.port());
  EXPECT_EQ(other_guest.request_error(join_with_passcode("p-short", text_of(4))).code(), v1::PASSCODE_WRONG);

  // Every refusal left its sender's connection working...
  EXPECT_TRUE(host.request_ok(ping()).has_pong());
  EXPECT_TRUE(member.request_ok(ping()).has_pong());
  // ...and nobody else saw any of it: what a late joiner finds is exactly
  // what was accepted.
  WsClient late(server.port());
  const auto snapshot = late.request_ok(join("ama", "Lou")).snapshot();
  EXPECT_EQ(snapshot.room().title(), "Renamed " + text_of(192));
  ASSERT_EQ(snapshot.questions_size(), 1);
  EXPECT_EQ(snapshot.questions(0).answer().text(), text_of(4000));
  ASSERT_EQ(snapshot.messages_size(), 2);
  EXPECT_EQ(snapshot.messages(0).text(), text_of(2000));
  // The observer heard only accepted changes, in order.
  host.request_ok(say("ama", "end of the test"));
  std::vector<std::string> heard;
  for (;;) {
    const auto event = observer.next_event();
    if (event.has_message_posted() && event.message_posted().text() == "end of the test") break;
    if (event.has_members_changed()) continue;  // presence is not what is tested
    heard.push_back(event.has_room_updated()       ? "roomUpdated"
                    : event.has_question_asked()   ? "questionAsked"
                    : event.has_question_updated() ? "questionUpdated"
                    : event.has_message_posted()   ? "messagePosted"
                                                   : event.ShortDebugString());
    if (event.has_item_reported()) ADD_FAILURE() << "reports reach staff only";
  }
  const std::vector<std::string> expected{"roomUpdated", "questionAsked", "questionUpdated", "messagePosted",
                                          "messagePosted"};
  EXPECT_EQ(heard, expected);
}

// docs/protocol.md 1.9 (limits: "chat messages in a snapshot, 200 most
// recent") and 4 ("the most recent chat messages (200 by default), oldest
// first, tombstones included").
TEST(DocumentedLimits, ASnapshotCarriesThe200LatestMessagesOldestFirstTombstonesIncluded) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 205; ++i) {
    ids.push_back(host.request_ok(say("r", "message " + std::to_string(i))).accepted().seq());
    host.events().clear();
  }
  // One of the 200 latest becomes a tombstone.
  host.request_ok(
      in_room("r", [&](v1::ClientMessage& m) { m.mutable_delete_message()->set_message_id(ids[150]); }));

  WsClient late(server.port());
  const auto snapshot = late.request_ok(join("r", "Lou")).snapshot();
  ASSERT_EQ(snapshot.messages_size(), 200);
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(snapshot.messages(i).id(), ids[static_cast<std::size_t>(i) + 5]) << "position " << i;
  }
  EXPECT_EQ(snapshot.messages(0).text(), "message 5");
  EXPECT_EQ(snapshot.messages(199).text(), "message 204");
  const auto& tombstone = snapshot.messages(150 - 5);
  EXPECT_TRUE(tombstone.deleted());
  EXPECT_EQ(tombstone.text(), "");
}

// docs/protocol.md 1.9 ("leaveRoom is always allowed and draws on neither
// budget") and 2 ("RATE_LIMITED ... every command but leaveRoom").
TEST(DocumentedLimits, ALeaveRoomPassesWhenTheConnectionHasSpentItsBudget) {
  // Budgets that refill far slower than the test runs.
  ServerProcess server({"--message-rate", "0.01", "--message-burst", "4", "--identity-message-rate", "0.01",
                        "--identity-message-burst", "4"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Lee", "lee")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient flooder(server.port());
  const auto flooder_id = flooder.request_ok(join("r", "Flo")).snapshot().you().user_id();  // 1 of 4
  host.next_event_where(says_someone_joined);

  int pongs = 0;
  v1::Reply reply;
  for (int i = 0; i < 10; ++i) {
    reply = flooder.request(ping());
    if (reply.has_error()) break;
    ++pongs;
  }
  EXPECT_EQ(pongs, 3) << "a burst of 4, the join included";
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), v1::RATE_LIMITED);
  EXPECT_GT(reply.error().retry_after_ms(), 0u);
  EXPECT_EQ(flooder.request_error(say("r", "let me say one more thing")).code(), v1::RATE_LIMITED);

  v1::ClientMessage leave;
  leave.set_room_id("r");
  leave.mutable_leave_room();
  EXPECT_TRUE(flooder.request_ok(leave).has_left()) << "out of budget, but leaving is always allowed";
  const auto left = host.next_event_where(says_someone_left);
  ASSERT_NE(says_left(left, flooder_id), nullptr);
  EXPECT_EQ(says_left(left, flooder_id)->reason(), v1::MemberLeft::REASON_LEFT);
  // A leave with nothing to leave spends the budget as any frame does (else
  // it would be a way to make the server answer without limit); and the
  // leave before gave the connection no budget back.
  EXPECT_EQ(flooder.request_error(leave).code(), v1::RATE_LIMITED);
  EXPECT_EQ(flooder.request_error(ping()).code(), v1::RATE_LIMITED);
  EXPECT_TRUE(host.request_ok(ping()).has_pong()) << "others keep their own budgets";
}

class RoomLimits : public ::testing::Test {
 protected:
  void SetUp() override { host_.request_ok(hello(ServerProcess::token("host", "*", "Dr. Ada", "ada"))); }

  // Waits (bounded) for the next event of `client` about a chat message or a
  // question, skipping presence.
  static v1::Event next_item_event(WsClient& client) {
    return client.next_event_where(
        [](const v1::Event& e) { return !e.has_members_changed(); });
  }

  ServerProcess server_;
  WsClient host_{server_.port()};
};

// docs/protocol.md 1.9 (slow mode), 2.5 ("a new slowModeSeconds applies at
// once, counted from each participant's last post"), 2.8, 2.17, 5.1.
TEST_F(RoomLimits, SlowModeLetsAParticipantPostOncePerIntervalButNotStaffAndEditsAreNotPosts) {
  auto create = create_room("slow", v1::ROOM_KIND_AMA, false, /*side_chat=*/true);
  create.mutable_create_room()->mutable_settings()->set_slow_mode_seconds(60);
  host_.request_ok(create);
  WsClient pat(server_.port());
  pat.request_ok(join("slow", "Pat"));
  WsClient sam(server_.port(), Encoding::binary);
  sam.request_ok(join("slow", "Sam"));

  const auto first = pat.request_ok(say("slow", "first")).accepted().seq();
  const auto refused = pat.request_error(say("slow", "second"));
  EXPECT_EQ(refused.code(), v1::SLOW_MODE);
  EXPECT_GT(refused.retry_after_ms(), 0u);
  EXPECT_LE(refused.retry_after_ms(), 60000u);
  // A question is a post too; a refused post does not restart the wait.
  const auto again = pat.request_error(ask("slow", "a question?"));
  EXPECT_EQ(again.code(), v1::SLOW_MODE);
  EXPECT_LE(again.retry_after_ms(), refused.retry_after_ms());
  // Editing is not a post; nor is voting.
  pat.request_ok(in_room("slow", [&](v1::ClientMessage& m) {
    m.mutable_edit_message()->set_message_id(first);
    m.mutable_edit_message()->set_text("first, edited");
  }));
  const auto question = host_.request_ok(ask("slow", "Staff question")).accepted().seq();
  pat.request_ok(vote("slow", question));
  // Each participant has their own wait; staff have none.
  sam.request_ok(say("slow", "sam's first"));
  host_.request_ok(say("slow", "host one"));
  host_.request_ok(say("slow", "host two"));
  EXPECT_TRUE(pat.request_ok(ping()).has_pong());

  // Turned on later, slow mode counts from the post made before it.
  host_.request_ok(create_room("later", v1::ROOM_KIND_SUPPORT));
  pat.request_ok(join("later", "Pat"));
  pat.request_ok(say("later", "before slow mode"));
  v1::RoomSettings slow;
  slow.set_slow_mode_seconds(60);
  host_.request_ok(update_room("later", slow, ""));
  EXPECT_EQ(pat.request_error(say("later", "after slow mode")).code(), v1::SLOW_MODE);

  // Sam saw exactly the accepted posts and edits of room "slow".
  std::vector<std::string> texts;
  host_.request_ok(say("slow", "end"));
  for (;;) {
    const auto event = next_item_event(sam);
    if (event.has_message_posted() && event.message_posted().text() == "end") break;
    if (event.has_message_posted()) texts.push_back(event.message_posted().text());
    if (event.has_message_edited()) texts.push_back(event.message_edited().text());
    if (event.has_question_asked()) texts.push_back(event.question_asked().text());
  }
  const std::vector<std::string> expected{"first",       "first, edited", "Staff question",
                                          "sam's first", "host one",      "host two"};
  EXPECT_EQ(texts, expected);
}

// docs/protocol.md 1.9 (pending questions), 2.8, 5.1 ("TOO_MANY_PENDING
// included, it is 0").
TEST_F(RoomLimits, AParticipantWithFivePendingQuestionsMustWaitForOneToBeHandled) {
  host_.request_ok(create_room("queue", v1::ROOM_KIND_AMA, /*approval=*/true));
  WsClient pat(server_.port());
  pat.request_ok(join("queue", "Pat"));
  WsClient sam(server_.port());
  sam.request_ok(join("queue", "Sam"));

  std::vector<std::uint64_t> pending;
  for (int i = 0; i < 5; ++i)
    pending.push_back(pat.request_ok(ask("queue", "pending " + std::to_string(i))).accepted().seq());
  const auto refused = pat.request_error(ask("queue", "a sixth"));
  EXPECT_EQ(refused.code(), v1::TOO_MANY_PENDING);
  EXPECT_EQ(refused.retry_after_ms(), 0u) << "the server names no time";
  // One person's queue is not another's.
  sam.request_ok(ask("queue", "sam's question"));
  // Staff questions skip the queue and do not count, unless anonymous.
  for (int i = 0; i < 5; ++i) host_.request_ok(ask("queue", "anonymous staff " + std::to_string(i), true));
  EXPECT_EQ(host_.request_error(ask("queue", "a sixth anonymous one", true)).code(), v1::TOO_MANY_PENDING);
  host_.request_ok(ask("queue", "a named staff question"));

  // Approving one makes room for one; deleting one, for another.
  host_.request_ok(in_room(
      "queue", [&](v1::ClientMessage& m) { m.mutable_approve_question()->set_question_id(pending[0]); }));
  pat.request_ok(ask("queue", "now a sixth"));
  EXPECT_EQ(pat.request_error(ask("queue", "a seventh")).code(), v1::TOO_MANY_PENDING);
  pat.request_ok(in_room(
      "queue", [&](v1::ClientMessage& m) { m.mutable_delete_question()->set_question_id(pending[1]); }));
  pat.request_ok(ask("queue", "now a seventh"));

  // The refused questions exist nowhere: a moderator's snapshot (staff see
  // every pending question) holds the accepted ones only.
  WsClient staff(server_.port());
  const auto snapshot =
      staff.request_ok(join("queue", "", ServerProcess::token("moderator", "queue", "Mo", "mo"))).snapshot();
  std::set<std::string> texts;
  for (const auto& question : snapshot.questions()) texts.insert(question.text());
  EXPECT_FALSE(texts.contains("a sixth"));
  EXPECT_FALSE(texts.contains("a seventh"));
  EXPECT_FALSE(texts.contains("a sixth anonymous one"));
  EXPECT_TRUE(texts.contains("now a sixth"));
  EXPECT_TRUE(texts.contains("now a seventh"));
  EXPECT_TRUE(texts.contains("sam's question"));
}

// docs/protocol.md 2.5 ("turning sideChat off stops new messages and edits
// (CHAT_DISABLED) but not deletions"), 2.17, 2.18, 2.19.
TEST_F(RoomLimits, ChatIsRefusedInAnAmaWithoutSideChatButDeletionsStillWork) {
  host_.request_ok(create_room("ama", v1::ROOM_KIND_AMA));
  WsClient pat(server_.port());
  pat.request_ok(join("ama", "Pat"));
  WsClient sam(server_.port(), Encoding::binary);
  sam.request_ok(join("ama", "Sam"));
  EXPECT_EQ(pat.request_error(say("ama", "hello?")).code(), v1::CHAT_DISABLED);
  EXPECT_TRUE(pat.request_ok(ping()).has_pong());

  v1::RoomSettings chat_on;
  chat_on.set_side_chat(true);
  host_.request_ok(update_room("ama", chat_on, ""));
  const auto id = pat.request_ok(say("ama", "now it works")).accepted().seq();
  host_.request_ok(update_room("ama", v1::RoomSettings(), ""));
  EXPECT_EQ(pat.request_error(say("ama", "and now?")).code(), v1::CHAT_DISABLED);
  EXPECT_EQ(pat.request_error(in_room("ama",
                                      [&](v1::ClientMessage& m) {
                                        m.mutable_edit_message()->set_message_id(id);
                                        m.mutable_edit_message()->set_text("edited");
                                      }))
                .code(),
            v1::CHAT_DISABLED);
  pat.request_ok(
      in_room("ama", [&](v1::ClientMessage& m) { m.mutable_delete_message()->set_message_id(id); }));

  // Sam saw the message posted and deleted, never edited.
  const auto posted = sam.next_event_where([](const v1::Event& e) { return e.has_message_posted(); });
  EXPECT_EQ(posted.message_posted().text(), "now it works");
  const auto next = sam.next_event_where([](const v1::Event& e) {
    return e.has_message_edited() || e.has_message_deleted() || e.has_message_posted();
  });
  EXPECT_TRUE(next.has_message_deleted()) << next.ShortDebugString();
}

// docs/protocol.md 2.20 ("never joined this room, or an anonymous member who
// has gone ... one who comes back with their resume token is known again
// once they rejoin"), 2.21 (a kick: "not present"), 2.22, 5.1.
TEST_F(RoomLimits, MembersTheRoomDoesNotKnowAreNotFound) {
  host_.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  auto member_command = [](const std::string& kind, const std::string& user_id) {
    return in_room("r", [&](v1::ClientMessage& m) {
      if (kind == "mute") {
        m.mutable_mute_member()->set_user_id(user_id);
        m.mutable_mute_member()->set_muted(true);
      } else if (kind == "ban") {
        m.mutable_ban_member()->set_user_id(user_id);
        m.mutable_ban_member()->set_banned(true);
      } else {
        m.mutable_kick_member()->set_user_id(user_id);
      }
    });
  };
  v1::ClientMessage leave;
  leave.set_room_id("r");
  leave.mutable_leave_room();

  for (const char* kind : {"mute", "ban", "kick"}) {
    EXPECT_EQ(host_.request_error(member_command(kind, "never-joined")).code(), v1::MEMBER_NOT_FOUND) << kind;
  }

  // An anonymous member who has gone is forgotten...
  WsClient anonymous(server_.port());
  anonymous.request_ok(hello("", "Ash"));
  const auto ash_join = anonymous.request_ok(join("r")).snapshot();
  const auto ash = ash_join.you().user_id();
  const auto resume_token = ash_join.resume_token();
  anonymous.request_ok(leave);
  EXPECT_EQ(host_.request_error(member_command("mute", ash)).code(), v1::MEMBER_NOT_FOUND);
  EXPECT_EQ(host_.request_error(member_command("ban", ash)).code(), v1::MEMBER_NOT_FOUND);
  // ...until they come back with their resume token and rejoin.
  WsClient back(server_.port());
  EXPECT_EQ(back.request_ok(join("r", "", resume_token)).snapshot().you().user_id(), ash);
  EXPECT_GT(host_.request_ok(member_command("mute", ash)).accepted().seq(), 0u);
  EXPECT_TRUE(
      back.next_event_where([](const v1::Event& e) { return e.has_member_muted(); }).member_muted().muted());

  // Someone with a token is remembered after leaving: a mute reaches them,
  // a kick does not (they are not present).
  WsClient named(server_.port());
  named.request_ok(join("r", "", ServerProcess::token("participant", "r", "Nia", "nia")));
  named.request_ok(leave);
  EXPECT_GT(host_.request_ok(member_command("mute", "nia")).accepted().seq(), 0u);
  EXPECT_EQ(host_.request_error(member_command("kick", "nia")).code(), v1::MEMBER_NOT_FOUND);

  // The host carries on; the refusals changed nothing: Ash is still here.
  EXPECT_TRUE(host_.request_ok(ping()).has_pong());
  WsClient late(server_.port());
  const auto snapshot = late.request_ok(join("r")).snapshot();
  std::set<std::string> present;
  for (const auto& member : snapshot.members()) present.insert(member.person().user_id());
  EXPECT_TRUE(present.contains(ash));
  EXPECT_TRUE(present.contains("ada"));
  EXPECT_FALSE(present.contains("nia"));
}

}  // namespace
}  // namespace hearth::testing
