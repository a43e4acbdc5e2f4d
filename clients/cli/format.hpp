// How hearth-cli shows server messages and reads typed commands. Pure
// functions, so that they can be tested without a server.
#pragma once

#include <optional>
#include <string>

#include "hearth/v1/protocol.pb.h"

namespace hearth::cli {

// One or more human-readable lines for `message`, ending in a newline.
std::string describe(const v1::ServerMessage& message);

// Turns a typed line into a command for `room_id`: a JSON ClientMessage
// (`{...}`; roomId is filled in when missing), a shortcut (`/ask text`,
// `/vote 12`...), or plain text, which is said in the room. Returns nullopt
// and sets `error` for a line it cannot use; an empty `error` with nullopt
// means "nothing to send".
std::optional<v1::ClientMessage> parse_line(const std::string& line, const std::string& room_id, std::string& error);

// The shortcut summary printed by /help.
const char* shortcut_help();

}  // namespace hearth::cli
