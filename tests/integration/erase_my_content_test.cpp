// eraseMyContent (docs/protocol.md 2.26) by a member who is muted, and sent
// twice: a mute does not stop it, it lifts no mute, and the second one is
// harmless (an empty erasure); what others wrote stays.
#include <gtest/gtest.h>

#include <algorithm>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

v1::ClientMessage erase(const std::string& room) {
  v1::ClientMessage message;
  message.set_room_id(room);
  message.mutable_erase_my_content();
  return message;
}

bool content_erased(const v1::Event& e) {
  return e.has_content_erased();
}

// docs/protocol.md 2.26 ("any member, about themselves, muted ones included
// ... Sending it again is harmless: it erases what you wrote since (often
// nothing: then both lists of the event are empty) ... Never ROOM_CLOSED,
// MUTED or BANNED"), 1.6 ("Muted members can still ... erase what they
// wrote"), 3.18, 6.2 (the erasure's transcript line).
TEST(EraseMyContent, AMutedMemberMayEraseAndErasingTwiceIsHarmless) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "group", "Lee", "lee")));
  host.request_ok(create_room("group", v1::ROOM_KIND_SUPPORT));
  WsClient river(server.port());
  const auto river_id = river.request_ok(join("group", "River")).snapshot().you().user_id();
  WsClient obi(server.port(), Encoding::binary);
  obi.request_ok(join("group", "Obi"));

  const auto said = river.request_ok(say("group", "river's first words")).accepted().seq();
  const auto reply = obi.request_ok(say("group", "obi answers river", said)).accepted().seq();
  v1::ClientMessage mute;
  mute.set_room_id("group");
  mute.mutable_mute_member()->set_user_id(river_id);
  mute.mutable_mute_member()->set_muted(true);
  host.request_ok(mute);
  EXPECT_EQ(river.request_error(say("group", "can I still talk?")).code(), v1::MUTED);

  // Muted, River erases: accepted, and everyone hears it.
  const auto first = river.request_ok(erase("group")).accepted().seq();
  EXPECT_GT(first, reply);
  for (auto* client : {&obi, &host}) {
    const auto event = client->next_event_where(content_erased);
    EXPECT_EQ(event.seq(), first);
    EXPECT_FALSE(event.has_actor()) << "the event does not say who erased";
    ASSERT_EQ(event.content_erased().messages_size(), 1);
    EXPECT_EQ(event.content_erased().messages(0).id(), said);
    EXPECT_TRUE(event.content_erased().messages(0).deleted());
    EXPECT_EQ(event.content_erased().messages(0).text(), "");
  }

  // Again: harmless, an erasure of nothing.
  const auto second = river.request_ok(erase("group")).accepted().seq();
  EXPECT_GT(second, first);
  for (auto* client : {&obi, &host}) {
    const auto event = client->next_event_where(content_erased);
    EXPECT_EQ(event.seq(), second);
    EXPECT_EQ(event.content_erased().messages_size(), 0);
    EXPECT_EQ(event.content_erased().questions_size(), 0);
  }

  // The mute stands; River's connection and membership go on.
  EXPECT_EQ(river.request_error(say("group", "and now?")).code(), v1::MUTED);
  EXPECT_TRUE(river.request_ok(ping()).has_pong());

  // What others wrote stays, the reply to River included; River's words are
  // a tombstone, River's name is gone from the member list.
  WsClient late(server.port());
  const auto snapshot = late.request_ok(join("group", "Lou")).snapshot();
  ASSERT_EQ(snapshot.messages_size(), 2);
  EXPECT_EQ(snapshot.messages(0).id(), said);
  EXPECT_TRUE(snapshot.messages(0).deleted());
  EXPECT_EQ(snapshot.messages(1).id(), reply);
  EXPECT_EQ(snapshot.messages(1).text(), "obi answers river");
  EXPECT_EQ(snapshot.messages(1).reply_to_message_id(), said);
  bool river_listed = false;
  for (const auto& member : snapshot.members()) {
    if (member.person().user_id() != river_id) continue;
    river_listed = true;
    EXPECT_EQ(member.person().display_name(), "");
    EXPECT_FALSE(member.muted()) << "who is muted is for staff to know";
  }
  EXPECT_TRUE(river_listed);
  // Staff see the mute, and no name either.
  const auto page = host.request_ok(list_members("group")).members();
  const auto it = std::find_if(page.members().begin(), page.members().end(),
                               [&](const v1::Member& m) { return m.person().user_id() == river_id; });
  ASSERT_NE(it, page.members().end());
  EXPECT_EQ(it->person().display_name(), "");
  EXPECT_TRUE(it->muted());

  // The transcript has both erasures and none of River's words.
  const auto transcript =
      http_request(server.port(), boost::beast::http::verb::get, "/rooms/group/transcript",
                   "Bearer " + ServerProcess::token("host", "group", "Lee", "lee"));
  ASSERT_EQ(transcript.result_int(), 200);
  const std::string& body = transcript.body();
  const std::string line = "erased everything they had written";
  const auto at = body.find(line);
  ASSERT_NE(at, std::string::npos);
  EXPECT_NE(body.find(line, at + line.size()), std::string::npos) << "one line per erasure";
  EXPECT_EQ(body.find("river's first words"), std::string::npos);
  EXPECT_NE(body.find("obi answers river"), std::string::npos);
}

}  // namespace
}  // namespace hearth::testing
