#include "domain/command.hpp"

#include <google/protobuf/util/time_util.h>

#include "domain/commands/entry_rules.hpp"
#include "domain/room_state.hpp"

namespace hearth {

v1::LogEntry new_entry(const Membership& actor) {
  v1::LogEntry entry;
  *entry.mutable_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
  auto* out = entry.mutable_actor();
  out->set_user_id(actor.user_id);
  out->set_display_name(actor.display_name);
  out->set_role(actor.role);
  return entry;
}

CrisisOutcome flag_crisis(v1::LogEntry& entry, const CrisisRules& rules) {
  const auto judge = [&](const std::string& text, auto* item) {
    const CrisisOutcome outcome = rules.classify(text).outcome;
    item->set_flagged(outcome == CrisisOutcome::crisis);
    return outcome;
  };
  switch (entry.kind_case()) {
    case v1::LogEntry::kAsk:
      return judge(entry.ask().text(), entry.mutable_ask());
    case v1::LogEntry::kSay:
      // Staff writing privately to someone in crisis use the words too.
      if (entry.say().private_reply()) return CrisisOutcome::none;
      return judge(entry.say().text(), entry.mutable_say());
    case v1::LogEntry::kEditQuestion:
      return judge(entry.edit_question().text(), entry.mutable_edit_question());
    case v1::LogEntry::kEditMessage:
      return judge(entry.edit_message().text(), entry.mutable_edit_message());
    default:
      return CrisisOutcome::none;
  }
}

void note_support_shown(v1::LogEntry& entry, const std::string& support) {
  switch (entry.kind_case()) {
    case v1::LogEntry::kAsk:
      entry.mutable_ask()->set_support_shown(support);
      break;
    case v1::LogEntry::kSay:
      entry.mutable_say()->set_support_shown(support);
      break;
    case v1::LogEntry::kEditQuestion:
      entry.mutable_edit_question()->set_support_shown(support);
      break;
    case v1::LogEntry::kEditMessage:
      entry.mutable_edit_message()->set_support_shown(support);
      break;
    default:
      break;
  }
}

std::optional<Failure> check_passcode(std::string_view passcode) {
  const auto length = count_code_points(std::string(passcode));
  if (length < 4 || length > 128) return Failure{v1::INVALID_ARGUMENT, "a passcode has 4 to 128 characters"};
  return std::nullopt;
}

std::optional<Failure> entry_for_command(const v1::ClientMessage& message, v1::LogEntry& entry) {
  const CommandRules* rules = rules_for(message.command_case());
  if (rules == nullptr) return Failure{v1::UNKNOWN_COMMAND, "unknown command"};
  return rules->build(message, entry);
}

bool valid_room_id(std::string_view room_id) {
  if (room_id.empty() || room_id.size() > 64) return false;
  for (const char c : room_id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::optional<Failure> clean_display_name(std::string_view name, std::size_t max_chars, std::string& out) {
  const auto first = name.find_first_not_of(" \t");
  const auto last = name.find_last_not_of(" \t");
  out = first == std::string_view::npos ? std::string() : std::string(name.substr(first, last - first + 1));
  for (const char c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Failure{v1::INVALID_ARGUMENT, "display name holds control characters"};
    }
  }
  if (count_code_points(out) > max_chars) {
    return Failure{v1::TEXT_TOO_LONG, "display name is longer than " + std::to_string(max_chars) + " characters"};
  }
  return std::nullopt;
}

}  // namespace hearth
