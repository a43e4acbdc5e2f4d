#include "domain/command.hpp"

#include <gtest/gtest.h>

namespace hearth {
namespace {

TEST(Command, RoomCommandsBecomeLogEntries) {
  v1::ClientMessage message;
  message.mutable_vote_question()->set_question_id(5);
  message.mutable_vote_question()->set_up(true);
  v1::LogEntry entry;
  ASSERT_FALSE(entry_for_command(message, entry));
  EXPECT_EQ(entry.vote().question_id(), 5u);
  EXPECT_TRUE(entry.vote().up());

  message.mutable_send_message()->set_text("hi");
  message.mutable_send_message()->set_reply_to_question_id(3);
  ASSERT_FALSE(entry_for_command(message, entry));
  EXPECT_EQ(entry.say().reply_to_question_id(), 3u);
}

TEST(Command, ZeroIdsAreRefusedBeforeReachingTheRoom) {
  v1::ClientMessage message;
  message.mutable_approve_question();
  v1::LogEntry entry;
  EXPECT_EQ(entry_for_command(message, entry)->code, v1::INVALID_ARGUMENT);
  message.mutable_pin_question();  // 0 is "unpin": fine
  EXPECT_FALSE(entry_for_command(message, entry));
}

TEST(Command, NonRoomCommandsAreNotEntries) {
  v1::ClientMessage message;
  v1::LogEntry entry;
  EXPECT_EQ(entry_for_command(message, entry)->code, v1::UNKNOWN_COMMAND);
  message.mutable_ping();
  EXPECT_EQ(entry_for_command(message, entry)->code, v1::UNKNOWN_COMMAND);
}

TEST(Command, NewEntryStampsActorAndTime) {
  const auto entry = new_entry(Membership{"u1", "Una", v1::ROLE_MODERATOR});
  EXPECT_EQ(entry.actor().user_id(), "u1");
  EXPECT_EQ(entry.actor().role(), v1::ROLE_MODERATOR);
  EXPECT_GT(entry.at().seconds(), 1'700'000'000);
}

TEST(Command, RoomIdsAreUrlSafe) {
  EXPECT_TRUE(valid_room_id("ama-2026_11"));
  EXPECT_FALSE(valid_room_id(""));
  EXPECT_FALSE(valid_room_id("a b"));
  EXPECT_FALSE(valid_room_id("{room:1}"));
  EXPECT_FALSE(valid_room_id(std::string(65, 'a')));
}

TEST(Command, DisplayNamesAreTrimmedAndBounded) {
  std::string out;
  EXPECT_FALSE(clean_display_name("  Sam  ", 40, out));
  EXPECT_EQ(out, "Sam");
  EXPECT_EQ(clean_display_name("a\nb", 40, out)->code, v1::INVALID_ARGUMENT);
  EXPECT_EQ(clean_display_name(std::string(41, 'x'), 40, out)->code, v1::TEXT_TOO_LONG);
}

}  // namespace
}  // namespace hearth
