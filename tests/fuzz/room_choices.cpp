// What the room fuzzers read alike from their input: see room_choices.hpp.
#include "room_choices.hpp"

namespace hearth::fuzz {

Limits small_room_limits() {
  Limits limits;
  limits.max_question_chars = 40;
  limits.max_answer_chars = 40;
  limits.max_message_chars = 40;
  limits.max_title_chars = 20;
  limits.max_pending_questions = 2;
  limits.snapshot_messages = 6;
  return limits;
}

std::string fuzz_text(FuzzInput& in, MarkerBook& book, MarkerKind kind, TextBytes bytes) {
  const unsigned style = in.pick(8);
  if (style == 5) return " \t ";
  std::string out = book.make(kind);
  if (style == 4) out += " I want to end my life";
  if (style == 6) out += std::string(kind == MarkerKind::reason ? 600 : 50, 'x');
  if (style == 7) {
    for (const char c : in.bytes(8)) {
      if (c == '~')
        out.push_back('-');
      else
        out.push_back(bytes == TextBytes::ascii ? static_cast<char>(c & 0x7F) : c);
    }
  }
  return out;
}

v1::RoomKind fuzz_room_kind(FuzzInput& in) {
  const v1::RoomKind kinds[] = {v1::ROOM_KIND_AMA, v1::ROOM_KIND_SUPPORT, v1::ROOM_KIND_UNSPECIFIED};
  return kinds[in.pick(3)];
}

v1::RoomSettings fuzz_settings(FuzzInput& in) {
  const unsigned bits = in.byte();
  v1::RoomSettings settings;
  settings.set_require_approval(bits & 1);
  settings.set_side_chat(bits & 2);
  settings.set_invite_only(bits & 4);
  settings.set_crisis_policy(bits & 8 ? v1::CRISIS_POLICY_HOLD : v1::CRISIS_POLICY_DELIVER);
  settings.set_slow_mode_seconds(bits & 16 ? 2 : 0);
  const unsigned days[] = {0, 1, 2, 4000};
  settings.set_retention_days(days[(bits >> 5) & 3]);
  return settings;
}

std::uint64_t fuzz_item(FuzzInput& in, const std::vector<std::uint64_t>* ids) {
  const unsigned choice = in.byte();
  if (ids == nullptr || ids->empty() || choice >= 224) return choice % 32;
  return (*ids)[choice % ids->size()];
}

}  // namespace hearth::fuzz
