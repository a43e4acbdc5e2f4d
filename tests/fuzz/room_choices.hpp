// What the two room fuzzers, session_fuzzer.cpp (commands through the server)
// and log_fuzzer.cpp (entries straight into the fold), read alike from their
// input: small limits, marked texts, room kinds and settings, the ids of
// questions and messages; and the common part of their seed scripts. One
// copy, so that the two cannot drift apart in what rooms they make.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/limits.hpp"
#include "fuzz_input.hpp"
#include "hearth/v1/protocol.pb.h"
#include "privacy_watch.hpp"

namespace hearth::fuzz {

// Small limits, so that the fuzzers reach every bound. Each target adds the
// bounds only it reaches.
Limits small_room_limits();

// What the fuzzer's own bytes in a text may be. Log entries hold only what
// decoding let through (UTF-8), so the log fuzzer writes ASCII; the session
// fuzzer sends any bytes, for the decoder to refuse.
enum class TextBytes { any, ascii };

// A text: marked (so that it can be traced), maybe with a crisis phrase, too
// long, blank or with the fuzzer's own bytes (with no '~', so that they can
// fake no marker). Seed scripts name the style: 0 marked, 4 with a crisis
// phrase, 5 blank, 6 too long, 7 with the fuzzer's bytes.
std::string fuzz_text(FuzzInput& in, MarkerBook& book, MarkerKind kind, TextBytes bytes);

// Seed scripts name the kind: 0 AMA, 1 support, 2 unspecified.
v1::RoomKind fuzz_room_kind(FuzzInput& in);

// Seed scripts name the settings as bits: 1 approval, 2 side chat, 4 invite
// only, 8 hold, 16 slow mode, 32/64 retention (0, 1, 2 or 4000 days).
v1::RoomSettings fuzz_settings(FuzzInput& in);

// A question or message id: mostly one of `ids` (null: none yet), else any
// small number, for the commands on items that never were.
std::uint64_t fuzz_item(FuzzInput& in, const std::vector<std::uint64_t>* ids);

// Set the member, question or message a command (or a log entry's part)
// names, and return it for the rest. The order in which input is read is the
// seeds' format: `with_question(c, question())->set_up(in.flag())` reads the
// id first (C++17 evaluates the object of a member call before its
// arguments); never pass one reading call as another's argument, whose order
// is unspecified.
template <typename Command>
Command* with_member(Command* command, const std::string& user_id) {
  command->set_user_id(user_id);
  return command;
}
template <typename Command>
Command* with_question(Command* command, std::uint64_t id) {
  command->set_question_id(id);
  return command;
}
template <typename Command>
Command* with_message(Command* command, std::uint64_t id) {
  command->set_message_id(id);
  return command;
}

// The part of a target's seed script that is the same in both: bytes written
// in the order the target's reader reads them. `Script` is the target's own
// script (derived from this one, for chaining), `Op` its opcodes.
template <typename Script, typename Op>
class SeedScript {
 public:
  Script& op(Op op) { return arg(op); }
  Script& arg(unsigned value) {
    writer_.byte(value);
    return static_cast<Script&>(*this);
  }
  std::string str() const { return writer_.str(); }

 protected:
  SeedWriter writer_;
};

}  // namespace hearth::fuzz
