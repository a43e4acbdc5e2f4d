#include "command.hpp"

#include <google/protobuf/util/time_util.h>

#include "passcode_hash.hpp"
#include "room_state.hpp"

namespace hearth {
namespace {

Failure missing(const char* field) { return Failure{v1::INVALID_ARGUMENT, std::string(field) + " is required"}; }

// Commands that name one item: a question or a message, not both.
std::optional<Failure> one_item(std::uint64_t question_id, std::uint64_t message_id) {
  if ((question_id == 0) != (message_id == 0)) return std::nullopt;
  return Failure{v1::INVALID_ARGUMENT, "name a question or a message: one of the two ids"};
}

}  // namespace

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
  using M = v1::ClientMessage;
  switch (message.command_case()) {
    case M::kUpdateRoom: {
      const auto& update = message.update_room();
      auto* out = entry.mutable_room_updated();
      // Only the settings the mask names change (RoomState::settings_after),
      // so a client that sends one setting cannot reset the others.
      if (update.has_settings() && update.settings_mask().paths().empty()) {
        return Failure{v1::INVALID_ARGUMENT,
                       "name the settings to change in settings_mask; the others are kept"};
      }
      if (!update.settings_mask().paths().empty()) {
        *out->mutable_settings() = update.settings();
        *out->mutable_settings_mask() = update.settings_mask();
      }
      out->set_allow_loosening(update.allow_loosening());
      out->set_title(update.title());
      if (!update.passcode().empty()) {
        if (auto failure = check_passcode(update.passcode())) return failure;
        out->set_passcode_hash(hash_passcode(update.passcode()));
      }
      out->set_remove_passcode(update.remove_passcode());
      return std::nullopt;
    }
    case M::kCloseRoom:
      entry.mutable_room_closed();
      return std::nullopt;
    case M::kReportItem: {
      const auto& report = message.report_item();
      if (auto failure = one_item(report.question_id(), report.message_id())) return failure;
      auto* out = entry.mutable_report();
      out->set_question_id(report.question_id());
      out->set_message_id(report.message_id());
      out->set_reason(report.reason());
      return std::nullopt;
    }
    case M::kReleaseMessage:
      if (message.release_message().message_id() == 0) return Failure{v1::INVALID_ARGUMENT, "message_id is required"};
      entry.mutable_release_message()->set_message_id(message.release_message().message_id());
      return std::nullopt;
    case M::kAskQuestion:
      entry.mutable_ask()->set_text(message.ask_question().text());
      entry.mutable_ask()->set_anonymous(message.ask_question().anonymous());
      return std::nullopt;
    case M::kVoteQuestion:
      if (message.vote_question().question_id() == 0) return missing("question_id");
      entry.mutable_vote()->set_question_id(message.vote_question().question_id());
      entry.mutable_vote()->set_up(message.vote_question().up());
      return std::nullopt;
    case M::kApproveQuestion:
      if (message.approve_question().question_id() == 0) return missing("question_id");
      entry.mutable_approve()->set_question_id(message.approve_question().question_id());
      return std::nullopt;
    case M::kDismissQuestion:
      if (message.dismiss_question().question_id() == 0) return missing("question_id");
      entry.mutable_dismiss()->set_question_id(message.dismiss_question().question_id());
      return std::nullopt;
    case M::kPinQuestion:  // 0 unpins
      entry.mutable_pin()->set_question_id(message.pin_question().question_id());
      return std::nullopt;
    case M::kAnswerQuestion:
      if (message.answer_question().question_id() == 0) return missing("question_id");
      entry.mutable_answer()->set_question_id(message.answer_question().question_id());
      entry.mutable_answer()->set_text(message.answer_question().text());
      return std::nullopt;
    case M::kMarkAnswered:
      if (message.mark_answered().question_id() == 0) return missing("question_id");
      entry.mutable_mark_answered()->set_question_id(message.mark_answered().question_id());
      return std::nullopt;
    case M::kEditQuestion:
      if (message.edit_question().question_id() == 0) return missing("question_id");
      entry.mutable_edit_question()->set_id(message.edit_question().question_id());
      entry.mutable_edit_question()->set_text(message.edit_question().text());
      return std::nullopt;
    case M::kDeleteQuestion:
      if (message.delete_question().question_id() == 0) return missing("question_id");
      entry.mutable_delete_question()->set_question_id(message.delete_question().question_id());
      return std::nullopt;
    case M::kSendMessage: {
      auto* out = entry.mutable_say();
      out->set_text(message.send_message().text());
      out->set_reply_to_message_id(message.send_message().reply_to_message_id());
      out->set_reply_to_question_id(message.send_message().reply_to_question_id());
      return std::nullopt;
    }
    case M::kReplyPrivately: {
      const auto& reply = message.reply_privately();
      if (auto failure = one_item(reply.question_id(), reply.message_id())) return failure;
      auto* out = entry.mutable_say();
      out->set_text(reply.text());
      out->set_reply_to_question_id(reply.question_id());
      out->set_reply_to_message_id(reply.message_id());
      out->set_private_reply(true);
      return std::nullopt;
    }
    case M::kMarkHandled: {
      const auto& handled = message.mark_handled();
      if (auto failure = one_item(handled.question_id(), handled.message_id())) return failure;
      entry.mutable_handled()->set_question_id(handled.question_id());
      entry.mutable_handled()->set_message_id(handled.message_id());
      return std::nullopt;
    }
    case M::kEditMessage:
      if (message.edit_message().message_id() == 0) return missing("message_id");
      entry.mutable_edit_message()->set_id(message.edit_message().message_id());
      entry.mutable_edit_message()->set_text(message.edit_message().text());
      return std::nullopt;
    case M::kDeleteMessage:
      if (message.delete_message().message_id() == 0) return missing("message_id");
      entry.mutable_delete_message()->set_message_id(message.delete_message().message_id());
      return std::nullopt;
    case M::kEraseMyContent:
      entry.mutable_erase();
      return std::nullopt;
    case M::kMuteMember:
      entry.mutable_mute()->set_user_id(message.mute_member().user_id());
      entry.mutable_mute()->set_muted(message.mute_member().muted());
      return std::nullopt;
    case M::kKickMember:
      entry.mutable_kick()->set_user_id(message.kick_member().user_id());
      return std::nullopt;
    case M::kBanMember:
      entry.mutable_ban()->set_user_id(message.ban_member().user_id());
      entry.mutable_ban()->set_banned(message.ban_member().banned());
      return std::nullopt;
    default:
      return Failure{v1::UNKNOWN_COMMAND, "unknown command"};
  }
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
