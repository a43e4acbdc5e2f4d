// One line of a room's transcript (transcript.hpp), as each kind of log
// entry describes itself: its family's EntryRules::transcript fills it from
// a TranscriptContext, which also knows what the whole log says about the
// items it names (deleted since, asked anonymously).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "hearth/v1/log.pb.h"
#include "hearth/v1/protocol.pb.h"

namespace hearth {

struct TranscriptLine {
  std::uint64_t seq = 0;
  std::string at;
  std::string who;      // display name, "Anonymous", "Hearth" (the server), or empty
  std::string user_id;  // empty for anonymous acts
  std::string role;
  std::string action;  // e.g. "asked", "deleted message"
  std::uint64_t item = 0;
  std::optional<std::string> text;  // nullopt: none, or withheld (deleted)
  bool tombstone = false;
  std::string target;  // for moderation: whom
};

// What the transcript learns from the whole log before it writes a line.
struct TranscriptFates {
  std::set<std::uint64_t> deleted_questions;
  std::set<std::uint64_t> deleted_messages;
  std::map<std::uint64_t, std::string> anonymous_author;  // question id -> its author, if anonymous
  std::map<std::uint64_t, std::uint32_t> votes;           // question id -> final count
  std::string title;
};

// The entry being described; the line comes with its time and actor set.
struct TranscriptContext {
  std::uint64_t seq;
  const v1::LogEntry& entry;
  const v1::Event& seen;  // the event the entry made, as staff see it
  const TranscriptFates& fates;
  TranscriptLine& line;

  // The author of an anonymous question stays anonymous in everything they
  // do to it; a moderator acting on it is named.
  void hide_author_of(std::uint64_t question) const;
  // The line is about this item, with its text unless it was deleted since.
  void question_text(std::uint64_t question, const std::string& text) const;
  void message_text(std::uint64_t message, const std::string& text) const;
  // A line of the server's own, by nobody.
  void by_hearth() const;
  // A line about `person` alone, as if by them.
  void by(const v1::Person& person) const;
};

// What stands for a name its owner erased (docs/privacy.md).
inline constexpr const char* kNameErased = "(name erased)";

// A person's name in the transcript: theirs, or kNameErased.
inline std::string name_of(const v1::Person& person) {
  return person.display_name().empty() ? kNameErased : person.display_name();
}

// A kind of entry that makes no line of its own.
inline bool no_transcript_line(const TranscriptContext&) {
  return false;
}

}  // namespace hearth
