// Protocol dispatch without I/O: which commands act on a room, and the log
// entry each room command becomes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "domain/crisis.hpp"
#include "domain/membership.hpp"
#include "hearth/v1/log.pb.h"
#include "hearth/v1/protocol.pb.h"
#include "protocol/error.hpp"

namespace hearth {

// A log entry by `actor`, stamped with the current time.
v1::LogEntry new_entry(const Membership& actor);

// The log entry for a room command (ask, vote, say, mute, ...), or a
// failure for arguments no room could accept (a zero id, say). Commands that
// are not plain appends (hello, create, join, leave, ping) are not handled
// here: for them, and for no command at all, it returns UNKNOWN_COMMAND.
std::optional<Failure> entry_for_command(const v1::ClientMessage& message, v1::LogEntry& entry);

// What the crisis rules say of a question's, message's or edit's text; the
// entry is flagged if its writer may be at risk (CRISIS).
CrisisOutcome flag_crisis(v1::LogEntry& entry, const CrisisRules& rules);
// Records in a flagged entry the words of support its writer is shown with
// the reply, so that the staff alert can say what they were shown.
void note_support_shown(v1::LogEntry& entry, const std::string& support);

// A passcode someone set for a room: 4 to 128 characters.
std::optional<Failure> check_passcode(std::string_view passcode);

// Room ids: 1 to 64 of [A-Za-z0-9_-], so that they are safe in URLs, Redis
// keys and file names.
bool valid_room_id(std::string_view room_id);

// A display name as given, trimmed; a failure if it is too long or holds
// control characters.
std::optional<Failure> clean_display_name(std::string_view name, std::size_t max_chars, std::string& out);

}  // namespace hearth
