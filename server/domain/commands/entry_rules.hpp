// One table, keyed by the kind of a log entry (LogEntry.kind), of everything
// the domain knows about that kind. Each command family has a file here that
// fills its part of it: lifecycle, membership, moderation, questions, chat
// and care. For each kind, that file holds
//   - the entry a client's command makes (CommandRules),
//   - who may append it, and when (the gate, then its own check),
//   - its fold: what it does to the room's state and whom it tells,
//   - when it would change nothing (a second identical vote),
//   - the question or message it acts on (retention uses it),
//   - what of it goes with "erase my data" (redact_entry), and
//   - its line in the room's transcript (transcript.hpp).
// RoomState's check() and apply(), redact_entry(), item_acted_on() and
// entry_for_command() are short dispatchers over it. A kind or a command
// the proto has and the table lacks fails EntryRules.EveryKindAndCommand-
// HasItsRules (tests/unit/entry_rules_test.cpp), which walks the proto.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "hearth/v1/log.pb.h"
#include "hearth/v1/protocol.pb.h"
#include "protocol/error.hpp"

namespace hearth {

class RoomState;
struct Applied;
struct TranscriptContext;

// What RoomState::check() asks of every entry of a kind before its own check.
enum class Gate {
  creation,     // nothing: the kind's check says whether the room may be made
  server,       // the room exists (the server's own entries, and a Left, always fit)
  own_content,  // the room exists and the actor is in it, even once it is closed
  arrival,      // the room exists and is open, and the actor is not banned
  member,       // the room exists and is open; the actor is not banned and is in it
};

// The entry being applied, as RoomState::apply() hands it to a kind's fold.
struct Fold {
  std::uint64_t seq;
  const v1::LogEntry& entry;
  // The event members are told of: room, sequence, time and actor are set.
  v1::Event& event;
  Applied& out;
};

struct EntryRules {
  v1::LogEntry::KindCase kind;
  Gate gate;
  // Its own check, after the gate; null: the gate is all.
  std::optional<Failure> (*check)(const RoomState&, const v1::LogEntry&) = nullptr;
  // Its change to the state. True once it has filled the event; false if
  // nobody is told (fold.out says what else changed, if anything).
  bool (*apply)(RoomState&, Fold&) = nullptr;
  // Whether an entry that passed check() would change nothing; null: never.
  bool (*changes_nothing)(const RoomState&, const v1::LogEntry&) = nullptr;
  // The question or message it acts on (item_acted_on); null: none.
  std::uint64_t (*item)(const v1::LogEntry&) = nullptr;
  // Erases the text its author wrote in it (redact_entry), returning
  // whether there was any; null: it holds none (the name goes anyway).
  bool (*redact)(v1::LogEntry&) = nullptr;
  // For Gate::member: whether a closed room still takes this entry; null: no.
  bool (*taken_when_closed)(const v1::LogEntry&) = nullptr;
  // Its line in the room's transcript (transcript_line.hpp), false for
  // none; every kind says (no_transcript_line, if it makes none).
  bool (*transcript)(const TranscriptContext&) = nullptr;
};

// A client's command that is appended to the room's log as an entry.
struct CommandRules {
  v1::ClientMessage::CommandCase command;
  // Fills `entry` (whose actor and time are set) from the command; a typed
  // failure for one that is malformed whatever the room's state.
  std::optional<Failure> (*build)(const v1::ClientMessage&, v1::LogEntry&);
};

// One family's part of the table.
struct CommandFamily {
  std::span<const EntryRules> entries;
  std::span<const CommandRules> commands;
};

CommandFamily lifecycle_family();
CommandFamily membership_family();
CommandFamily moderation_family();
CommandFamily question_family();
CommandFamily chat_family();
CommandFamily care_family();
// All of them: what the table is made of.
std::array<CommandFamily, 6> command_families();

// The rules for `kind`, or null (KIND_NOT_SET, or a kind no family has).
const EntryRules* rules_for(v1::LogEntry::KindCase kind);
// The rules for a command that becomes an entry, or null: one the session
// answers itself (hello, joinRoom, ping...), or one unknown.
const CommandRules* rules_for(v1::ClientMessage::CommandCase command);

// For the families' checks and builders.
inline Failure fail(v1::ErrorCode code, std::string message) {
  return Failure{code, std::move(message)};
}
inline Failure missing(const char* field) {
  return fail(v1::INVALID_ARGUMENT, std::string(field) + " is required");
}
// Commands that name one item: a question or a message, not both.
inline std::optional<Failure> one_of_two_ids(std::uint64_t question_id, std::uint64_t message_id) {
  if ((question_id == 0) != (message_id == 0)) return std::nullopt;
  return fail(v1::INVALID_ARGUMENT, "name a question or a message: one of the two ids");
}
// Replaces `text` by kErasedText unless it is empty or erased already;
// whether it did.
bool erase_text(std::string* text);
v1::Person person_of(const v1::Actor& actor);

}  // namespace hearth
