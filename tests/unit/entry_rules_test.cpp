// The table of entry kinds (server/domain/commands/entry_rules.hpp) against the
// proto itself: every kind of log entry has its rules, in one family; every
// client command becomes an entry with rules or is one the session answers;
// every kind of event has its place in the web client; every kind says its
// transcript line. (The CLI prints an event kind it has no line for by its
// name and fields, clients/cli/format.cpp, so it needs nothing for a new one.)
#include "domain/commands/entry_rules.hpp"

#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "domain/command.hpp"
#include "domain/room_state.hpp"

namespace hearth {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::OneofDescriptor;

std::vector<const FieldDescriptor*> fields_of(const OneofDescriptor* oneof) {
  std::vector<const FieldDescriptor*> fields;
  for (int i = 0; i < oneof->field_count(); ++i) fields.push_back(oneof->field(i));
  return fields;
}

// What the session answers itself: these are not entries of a room's log.
const std::set<std::string> kSessionCommands = {"hello", "create_room",   "join_room", "leave_room",
                                                "ping",  "create_invite", "forget_me", "list_members"};

TEST(EntryRules, EveryKindOfEntryHasItsRulesInOneFamily) {
  std::map<int, int> listed;
  for (const CommandFamily& family : command_families()) {
    for (const EntryRules& rules : family.entries) ++listed[rules.kind];
  }
  const auto* kinds = v1::LogEntry::descriptor()->FindOneofByName("kind");
  ASSERT_NE(kinds, nullptr);
  for (const FieldDescriptor* field : fields_of(kinds)) {
    SCOPED_TRACE(field->name());
    EXPECT_EQ(listed[field->number()], 1) << "in exactly one family's table";
    const EntryRules* rules = rules_for(static_cast<v1::LogEntry::KindCase>(field->number()));
    ASSERT_NE(rules, nullptr);
    EXPECT_EQ(rules->kind, field->number());
    EXPECT_NE(rules->apply, nullptr) << "every kind folds (if only to nothing)";
    EXPECT_NE(rules->transcript, nullptr) << "every kind says its transcript line (no_transcript_line: none)";
    if (rules->gate == Gate::creation) {
      EXPECT_NE(rules->check, nullptr);
    }
    if (rules->taken_when_closed) {
      EXPECT_EQ(rules->gate, Gate::member);
    }
    listed.erase(field->number());
  }
  EXPECT_TRUE(listed.empty()) << "a family lists a kind the proto does not have";
  EXPECT_EQ(rules_for(v1::LogEntry::KIND_NOT_SET), nullptr);
}

TEST(EntryRules, EveryCommandBecomesAnEntryWithRulesOrIsTheSessions) {
  const auto* commands = v1::ClientMessage::descriptor()->FindOneofByName("command");
  ASSERT_NE(commands, nullptr);
  std::set<std::string> session_seen;
  for (const FieldDescriptor* field : fields_of(commands)) {
    SCOPED_TRACE(field->name());
    const CommandRules* rules = rules_for(static_cast<v1::ClientMessage::CommandCase>(field->number()));
    if (kSessionCommands.contains(field->name())) {
      EXPECT_EQ(rules, nullptr) << "the session's own command";
      session_seen.insert(field->name());
      continue;
    }
    ASSERT_NE(rules, nullptr) << "a command that is neither the session's nor a family's";
    EXPECT_EQ(rules->command, field->number());
    // The command with every id 1: the entry it makes has rules of its own.
    v1::ClientMessage message;
    google::protobuf::Message* body = message.GetReflection()->MutableMessage(&message, field);
    const auto* described = body->GetDescriptor();
    for (int i = 0; i < described->field_count(); ++i) {
      const FieldDescriptor* id = described->field(i);
      if (id->cpp_type() == FieldDescriptor::CPPTYPE_UINT64 && id->name().ends_with("_id")) {
        if (id->name() == "message_id" && described->FindFieldByName("question_id"))
          continue;  // one of the two
        body->GetReflection()->SetUInt64(body, id, 1);
      }
    }
    v1::LogEntry entry;
    const auto failure = entry_for_command(message, entry);
    ASSERT_FALSE(failure) << failure->message;
    EXPECT_NE(rules_for(entry.kind_case()), nullptr) << "it makes an entry of kind " << entry.kind_case();
    const auto* made = v1::LogEntry::descriptor()->FindFieldByNumber(entry.kind_case());
    ASSERT_NE(made, nullptr);
    // ...of the family that builds it: a command and its entry live in one
    // file. (But a private reply, care's, is a message: chat's say.)
    if (field->name() == "reply_privately") {
      EXPECT_EQ(entry.kind_case(), v1::LogEntry::kSay);
      continue;
    }
    const auto families = command_families();
    const auto family = std::find_if(families.begin(), families.end(), [&](const CommandFamily& f) {
      return std::any_of(f.commands.begin(), f.commands.end(),
                         [&](const CommandRules& c) { return c.command == field->number(); });
    });
    ASSERT_NE(family, families.end());
    EXPECT_TRUE(std::any_of(family->entries.begin(), family->entries.end(),
                            [&](const EntryRules& e) { return e.kind == entry.kind_case(); }))
        << "it makes " << made->name() << ", an entry of another family";
  }
  EXPECT_EQ(session_seen, kSessionCommands) << "a command listed as the session's that the proto lacks";
}

TEST(EntryRules, EveryKindOfEventHasItsPlaceInTheWebClient) {
  std::ifstream in(std::string(HEARTH_SOURCE_DIR) + "/clients/web/js/room.js");
  ASSERT_TRUE(in) << "clients/web/js/room.js";
  std::stringstream source;
  source << in.rdbuf();
  const auto* kinds = v1::Event::descriptor()->FindOneofByName("kind");
  ASSERT_NE(kinds, nullptr);
  for (const FieldDescriptor* field : fields_of(kinds)) {
    if (field->options().deprecated()) continue;  // no server sends it
    EXPECT_NE(source.str().find("event." + field->json_name()), std::string::npos)
        << "RoomModel.applyEvent does not read event." << field->json_name();
  }
}

}  // namespace
}  // namespace hearth
