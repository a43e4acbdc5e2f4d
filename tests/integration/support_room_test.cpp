// A peer-support room: chat with replies, edits and deletes, and a moderator
// who deletes, mutes, kicks and bans. Every change reaches everyone live.
#include <algorithm>
#include <gtest/gtest.h>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

class SupportRoom : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.request_ok(hello(ServerProcess::token("host", room_, "Facilitator", "host-1")));
    host_.request_ok(create_room(room_, v1::ROOM_KIND_SUPPORT));
    moderator_.request_ok(hello(ServerProcess::token("moderator", room_, "Mo", "mod-1")));
    moderator_.request_ok(join(room_));
    riley_.request_ok(hello("", "Riley"));
    riley_id_ = riley_.request_ok(join(room_)).snapshot().you().user_id();
    jo_.request_ok(hello("", "Jo"));
    jo_id_ = jo_.request_ok(join(room_)).snapshot().you().user_id();
    for (auto* client : {&host_, &moderator_, &riley_, &jo_}) client->events().clear();
    // Drain the joins each saw live.
    for (auto* client : {&host_, &moderator_, &riley_, &jo_}) {
      client->request_ok(ping());
      client->events().clear();
    }
  }

  v1::ClientMessage command(const std::function<void(v1::ClientMessage&)>& fill) {
    v1::ClientMessage message;
    message.set_room_id(room_);
    fill(message);
    return message;
  }

  ServerProcess server_;
  const std::string room_ = "circle-1";
  WsClient host_{server_.port()};
  WsClient moderator_{server_.port(), Encoding::binary};
  WsClient riley_{server_.port()};
  WsClient jo_{server_.port(), Encoding::binary};
  std::string riley_id_, jo_id_;
};

TEST_F(SupportRoom, ChatRepliesEditsAndOwnDeletes) {
  const auto first = riley_.request_ok(say(room_, "Rough week. Anyone else?")).accepted().seq();
  const auto reply = jo_.request_ok(say(room_, "Same here", first)).accepted().seq();
  auto event = riley_.next_event_where([](const v1::Event& e) { return e.has_message_posted(); });
  EXPECT_EQ(event.message_posted().id(), first);
  event = riley_.next_event_where([](const v1::Event& e) { return e.has_message_posted(); });
  EXPECT_EQ(event.message_posted().reply_to_message_id(), first);
  EXPECT_EQ(event.message_posted().author().display_name(), "Jo");

  EXPECT_EQ(riley_.request_error(command([&](auto& m) {
                      m.mutable_edit_message()->set_message_id(reply);
                      m.mutable_edit_message()->set_text("not mine");
                    })).code(),
            v1::PERMISSION_DENIED);
  jo_.request_ok(command([&](auto& m) {
    m.mutable_edit_message()->set_message_id(reply);
    m.mutable_edit_message()->set_text("Same here, honestly");
  }));
  event = host_.next_event_where([](const v1::Event& e) { return e.has_message_edited(); });
  EXPECT_EQ(event.message_edited().text(), "Same here, honestly");
  EXPECT_TRUE(event.message_edited().has_edited_at());

  EXPECT_EQ(jo_.request_error(command([&](auto& m) { m.mutable_delete_message()->set_message_id(first); })).code(),
            v1::PERMISSION_DENIED);
  riley_.request_ok(command([&](auto& m) { m.mutable_delete_message()->set_message_id(first); }));
  event = jo_.next_event_where([](const v1::Event& e) { return e.has_message_deleted(); });
  EXPECT_EQ(event.message_deleted().id(), first);
  EXPECT_EQ(event.message_deleted().text(), "");

  WsClient late(server_.port());
  const auto snapshot = late.request_ok(join(room_)).snapshot();
  ASSERT_EQ(snapshot.messages_size(), 2);
  EXPECT_TRUE(snapshot.messages(0).deleted());
  EXPECT_EQ(snapshot.messages(1).text(), "Same here, honestly");
  EXPECT_EQ(snapshot.members_size(), 5);
}

TEST_F(SupportRoom, ModeratorDeletesAnyMessageAndEveryoneSeesATombstone) {
  const auto id = riley_.request_ok(say(room_, "something harmful")).accepted().seq();
  moderator_.request_ok(command([&](auto& m) { m.mutable_delete_message()->set_message_id(id); }));
  for (auto* client : {&host_, &riley_, &jo_}) {
    const auto event = client->next_event_where([](const v1::Event& e) { return e.has_message_deleted(); });
    EXPECT_EQ(event.message_deleted().id(), id);
    EXPECT_TRUE(event.message_deleted().deleted());
    EXPECT_EQ(event.message_deleted().text(), "");
    EXPECT_EQ(event.actor().display_name(), "Mo") << "who did it is on record";
  }
}

TEST_F(SupportRoom, MutedMemberReadsButCannotPost) {
  moderator_.request_ok(command([&](auto& m) {
    m.mutable_mute_member()->set_user_id(jo_id_);
    m.mutable_mute_member()->set_muted(true);
  }));
  const auto muted = jo_.next_event_where([](const v1::Event& e) { return e.has_member_muted(); });
  EXPECT_TRUE(muted.member_muted().muted());
  EXPECT_EQ(jo_.request_error(say(room_, "hello?")).code(), v1::MUTED);
  const auto id = riley_.request_ok(say(room_, "Jo can still read this")).accepted().seq();
  EXPECT_EQ(jo_.next_event_where([](const v1::Event& e) { return e.has_message_posted(); }).message_posted().id(), id);
  moderator_.request_ok(command([&](auto& m) {
    m.mutable_mute_member()->set_user_id(jo_id_);
    m.mutable_mute_member()->set_muted(false);
  }));
  jo_.request_ok(say(room_, "thanks"));
}

TEST_F(SupportRoom, KickedMemberIsOutButMayRejoin) {
  moderator_.request_ok(command([&](auto& m) { m.mutable_kick_member()->set_user_id(riley_id_); }));
  const auto left = riley_.next_event_where([](const v1::Event& e) { return e.has_member_left(); });
  EXPECT_EQ(left.member_left().reason(), v1::MemberLeft::REASON_KICKED);
  EXPECT_EQ(left.member_left().person().user_id(), riley_id_);
  // Staff hear of it; other participants only see the list change: a
  // removal is between the moderators and the one removed.
  EXPECT_EQ(host_.next_event_where([](const v1::Event& e) { return e.has_member_left(); }).member_left().reason(),
            v1::MemberLeft::REASON_KICKED);
  jo_.next_presence_where([&](const v1::Presence& p) {
    return p.listed() && std::none_of(p.members().begin(), p.members().end(),
                                      [&](const v1::Member& m) { return m.person().user_id() == riley_id_; });
  });
  EXPECT_EQ(riley_.request_error(say(room_, "am I here?")).code(), v1::NOT_IN_ROOM);
  // No longer receives the room's events.
  jo_.request_ok(say(room_, "after the kick"));
  riley_.request_ok(ping());
  EXPECT_TRUE(riley_.events().empty());
  jo_.request_ok(ping());
  for (const auto& event : jo_.events()) EXPECT_FALSE(event.has_member_left()) << event.ShortDebugString();
  riley_.request_ok(join(room_));
  riley_.request_ok(say(room_, "back"));
}

TEST_F(SupportRoom, BannedIdentityCannotRejoin) {
  host_.request_ok(command([&](auto& m) {
    m.mutable_ban_member()->set_user_id(jo_id_);
    m.mutable_ban_member()->set_banned(true);
  }));
  const auto banned = jo_.next_event_where([](const v1::Event& e) { return e.has_member_banned(); });
  EXPECT_TRUE(banned.member_banned().banned());
  EXPECT_EQ(jo_.request_error(say(room_, "hello?")).code(), v1::NOT_IN_ROOM);
  EXPECT_EQ(jo_.request_error(join(room_)).code(), v1::BANNED);
  // The moderator cannot ban the host (higher rank), nor the host themself,
  // nor a moderator another of equal rank (docs/protocol.md 2.22).
  const auto ban = [&](const std::string& user_id) {
    return command([&](auto& m) {
      m.mutable_ban_member()->set_user_id(user_id);
      m.mutable_ban_member()->set_banned(true);
    });
  };
  EXPECT_EQ(moderator_.request_error(ban("host-1")).code(), v1::PERMISSION_DENIED);
  EXPECT_EQ(host_.request_error(ban("host-1")).code(), v1::INVALID_ARGUMENT) << "yourself";
  WsClient other_moderator(server_.port());
  other_moderator.request_ok(hello(ServerProcess::token("moderator", room_, "Max", "mod-2")));
  other_moderator.request_ok(join(room_));
  EXPECT_EQ(moderator_.request_error(ban("mod-2")).code(), v1::PERMISSION_DENIED) << "equal rank";
  // None of the refused bans happened: the host is still in, and can speak.
  host_.request_ok(say(room_, "still here"));
  for (;;) {
    const auto event = riley_.next_event();
    if (event.has_member_banned()) {
      EXPECT_EQ(event.member_banned().person().user_id(), jo_id_) << "only Jo's ban";
    }
    if (event.has_message_posted()) {
      EXPECT_EQ(event.message_posted().text(), "still here");
      break;
    }
  }
}

TEST_F(SupportRoom, ClosingIsFinal) {
  EXPECT_EQ(moderator_.request_error(command([](auto& m) { m.mutable_close_room(); })).code(), v1::PERMISSION_DENIED);
  host_.request_ok(command([](auto& m) { m.mutable_close_room(); }));
  const auto closed = riley_.next_event_where([](const v1::Event& e) { return e.has_room_closed(); });
  EXPECT_TRUE(closed.room_closed().closed());
  EXPECT_EQ(riley_.request_error(say(room_, "anyone?")).code(), v1::ROOM_CLOSED);
  WsClient late(server_.port());
  EXPECT_EQ(late.request_error(join(room_)).code(), v1::ROOM_CLOSED);
}

TEST_F(SupportRoom, MembersListUpdatesLive) {
  WsClient newcomer(server_.port());
  const auto snapshot = newcomer.request_ok(join(room_, "Nova")).snapshot();
  // A support room this small lists everyone to everyone.
  EXPECT_EQ(snapshot.members_size(), 5);
  EXPECT_TRUE(snapshot.listed());
  EXPECT_EQ(snapshot.present(), 5u);
  const auto named = [](const v1::Presence& p, const std::string& name) {
    return std::any_of(p.members().begin(), p.members().end(),
                       [&](const v1::Member& m) { return m.person().display_name() == name; });
  };
  auto presence = riley_.next_presence_where([&](const v1::Presence& p) { return named(p, "Nova"); });
  EXPECT_TRUE(presence.listed());
  EXPECT_EQ(presence.present(), 5u);
  const auto joined = host_.next_event_where(says_someone_joined);
  EXPECT_EQ(joined.members_changed().joined(0).person().display_name(), "Nova");
  newcomer.close();
  presence = riley_.next_presence_where([&](const v1::Presence& p) { return !named(p, "Nova"); });
  EXPECT_EQ(presence.present(), 4u);
  const auto left = host_.next_event_where(says_someone_left);
  EXPECT_EQ(left.members_changed().left(0).person().display_name(), "Nova");
  EXPECT_EQ(left.members_changed().left(0).reason(), v1::MemberLeft::REASON_DISCONNECTED);
  // Participants get presence as pushes only, never as events.
  riley_.request_ok(ping());
  for (const auto& event : riley_.events()) EXPECT_FALSE(event.has_members_changed()) << event.ShortDebugString();
}

}  // namespace
}  // namespace hearth::testing
