// Care and safety: reporting an item to staff (ReportEntry), staff marking
// an item's alerts handled (HandledEntry), staff replying privately to the
// author of an item (a SayEntry: chat.cpp folds it), and "erase my data"
// (EraseEntry).
#include "domain/commands/entry_rules.hpp"
#include "domain/room_state.hpp"
#include "domain/transcript_line.hpp"

namespace hearth {

struct RoomState::CareRules {
  static std::optional<Failure> check_report(const RoomState& state, const v1::LogEntry& entry) {
    const auto& report = entry.report();
    const v1::Actor& actor = entry.actor();
    if (count_code_points(report.reason()) > kMaxReportReasonChars) {
      return fail(v1::TEXT_TOO_LONG,
                  "a reason is at most " + std::to_string(kMaxReportReasonChars) + " characters");
    }
    if (state.forgot_question(report.question_id()) || state.forgot_message(report.message_id())) {
      return fail(report.question_id() != 0 ? v1::QUESTION_NOT_FOUND : v1::MESSAGE_NOT_FOUND,
                  "this is too old to report here: ask a moderator to look at it");
    }
    const v1::Person* author = nullptr;
    if (report.question_id() != 0) {
      const QuestionRecord* question = state.visible_question(report.question_id(), actor);
      if (question == nullptr) return fail(v1::QUESTION_NOT_FOUND, "no such question");
      author = &question->author;
    } else {
      const MessageRecord* message = state.visible_message(report.message_id(), actor);
      if (message == nullptr) return fail(v1::MESSAGE_NOT_FOUND, "no such message");
      author = &message->author;
    }
    if (author->user_id() == actor.user_id())
      return fail(v1::INVALID_ARGUMENT, "you cannot report what you wrote");
    return std::nullopt;
  }

  static std::optional<Failure> check_handled(const RoomState& state, const v1::LogEntry& entry) {
    const auto& handled = entry.handled();
    if (!is_staff(entry.actor().role()))
      return fail(v1::PERMISSION_DENIED, "only hosts and moderators handle alerts");
    if (auto failure =
            state.check_one_item(handled.question_id(), handled.message_id(), "to have alerts here")) {
      return failure;
    }
    const QuestionRecord* question =
        handled.question_id() != 0 ? state.find_question(handled.question_id()) : nullptr;
    const MessageRecord* message =
        handled.message_id() != 0 ? state.find_message(handled.message_id()) : nullptr;
    if (handled.question_id() != 0 && question == nullptr)
      return fail(v1::QUESTION_NOT_FOUND, "no such question");
    if (handled.message_id() != 0 && message == nullptr)
      return fail(v1::MESSAGE_NOT_FOUND, "no such message");
    const bool raised = question ? question->flagged || !question->reporters.empty()
                                 : message->flagged || !message->reporters.empty();
    if (!raised) return fail(v1::INVALID_STATE, "nothing about it needs handling: no crisis flag, no report");
    return std::nullopt;
  }

  static bool report_changes_nothing(const RoomState& state, const v1::LogEntry& entry) {
    const auto& report = entry.report();
    const auto& reporter = entry.actor().user_id();
    if (report.question_id() != 0) {
      const QuestionRecord* question = state.find_question(report.question_id());
      return question && question->reporters.contains(reporter);
    }
    const MessageRecord* message = state.find_message(report.message_id());
    return message && message->reporters.contains(reporter);
  }

  static bool handled_changes_nothing(const RoomState& state, const v1::LogEntry& entry) {
    const QuestionRecord* question = state.find_question(entry.handled().question_id());
    const MessageRecord* message = state.find_message(entry.handled().message_id());
    return question ? question->handled_by.has_value() : message && message->handled_by.has_value();
  }

  static bool apply_report(RoomState& state, Fold& fold) {
    const auto& report = fold.entry.report();
    const std::string& reporter = fold.entry.actor().user_id();
    // A new report needs attention again, whoever handled the last.
    std::unordered_set<std::string>* reporters = nullptr;
    if (report.question_id() != 0) {
      QuestionRecord& question = state.questions_.at(report.question_id());
      reporters = &question.reporters;
      if (!reporters->insert(reporter).second) return false;
      question.handled_by.reset();
    } else {
      MessageRecord& message = state.messages_.at(report.message_id());
      reporters = &message.reporters;
      if (!reporters->insert(reporter).second) return false;
      message.handled_by.reset();
    }
    auto* reported = fold.event.mutable_item_reported();
    reported->set_question_id(report.question_id());
    reported->set_message_id(report.message_id());
    reported->set_reports(static_cast<std::uint32_t>(reporters->size()));
    reported->set_reason(report.reason());
    reported->set_reporter_reports(state.reports_by(reporter));
    auto* alert = fold.event.mutable_alert();
    alert->set_kind(v1::Alert::KIND_REPORT);
    alert->set_question_id(report.question_id());
    alert->set_message_id(report.message_id());
    fold.out.audience = Audience{true, {}};  // staff only: not even the author
    return true;
  }

  static bool apply_handled(RoomState& state, Fold& fold) {
    const auto& handled = fold.entry.handled();
    auto& handled_by = handled.question_id() != 0 ? state.questions_.at(handled.question_id()).handled_by
                                                  : state.messages_.at(handled.message_id()).handled_by;
    handled_by = person_of(fold.entry.actor());
    fold.event.mutable_alert_handled()->set_question_id(handled.question_id());
    fold.event.mutable_alert_handled()->set_message_id(handled.message_id());
    fold.out.audience = Audience{true, {}};  // staff only
    return true;
  }

  static bool apply_erase(RoomState& state, Fold& fold) {
    const std::string& eraser = fold.entry.actor().user_id();
    // Their name goes too, also from the member list while they stay (the
    // entry itself carries none: Room::erase).
    state.redact(eraser);
    fold.out.presence_changed = true;
    auto* erased = fold.event.mutable_content_erased();
    v1::ContentErased for_staff;
    for (auto& [id, question] : state.questions_) {
      // Their anonymous questions each go by a deletion of their own
      // (Room::run_erasure): here they would be tied to the person.
      if (question.anonymous && question.author.user_id() == eraser && fold.entry.erase().anonymous_apart())
        continue;
      if (question.author.user_id() == eraser && question.state != v1::QUESTION_STATE_DELETED) {
        question.state = v1::QUESTION_STATE_DELETED;
        question.text.clear();
        question.voters.clear();
        question.answer.reset();
        question.flagged = false;
        question.reporters.clear();
        if (state.pinned_ == id) state.pinned_ = 0;
        state.note_question_state(question);
      } else if (question.answer && question.answer->by().user_id() == eraser) {
        question.answer.reset();
      } else {
        continue;
      }
      *for_staff.add_questions() = state.question_view(question, "");
      if (!state.question_audience(question).staff_only)
        *erased->add_questions() = for_staff.questions().rbegin()[0];
    }
    for (auto& [id, message] : state.messages_) {
      if (message.author.user_id() != eraser || message.deleted) continue;
      message.deleted = true;
      message.text.clear();
      message.flagged = false;
      message.reporters.clear();
      *for_staff.add_messages() = state.message_view(message);
      if (!state.message_audience(message).staff_only)
        *erased->add_messages() = for_staff.messages().rbegin()[0];
    }
    // Forgotten items only for staff: whether each was ever public (held,
    // pending) is not known here, and listing one that was not beside this
    // person's public items would tell everyone of it.
    state.add_forgotten_erased(fold.entry.erase(), for_staff);
    // Who erased is not said: the items are the news.
    fold.event.clear_actor();
    if (for_staff.questions_size() != erased->questions_size() ||
        for_staff.messages_size() != erased->messages_size()) {
      v1::Event staff = fold.event;
      *staff.mutable_content_erased() = std::move(for_staff);
      fold.out.staff_event = std::move(staff);
    }
    return true;
  }

  // One of the two ids (check_one_item).
  static std::uint64_t reported_item(const v1::LogEntry& entry) {
    const auto& report = entry.report();
    return report.question_id() != 0 ? report.question_id() : report.message_id();
  }
  static std::uint64_t handled_item(const v1::LogEntry& entry) {
    const auto& handled = entry.handled();
    return handled.question_id() != 0 ? handled.question_id() : handled.message_id();
  }
  static bool redact_report(v1::LogEntry& entry) {
    const bool had = !entry.report().reason().empty();
    entry.mutable_report()->clear_reason();
    return had;
  }

  // Transcript lines (transcript_line.hpp).
  static bool line_report(const TranscriptContext& c) {
    const auto& report = c.entry.report();
    c.line.action = report.question_id() ? "reported question" : "reported message";
    c.line.item = report.question_id() ? report.question_id() : report.message_id();
    if (!report.reason().empty()) c.line.text = report.reason();
    return true;
  }
  static bool line_handled(const TranscriptContext& c) {
    const auto& handled = c.entry.handled();
    c.line.action = handled.question_id() ? "marked handled question" : "marked handled message";
    c.line.item = handled.question_id() ? handled.question_id() : handled.message_id();
    return true;
  }
  static bool line_erase(const TranscriptContext& c) {
    c.line.action = "erased everything they had written";
    return true;
  }

  static constexpr EntryRules entries[] = {
      {.kind = v1::LogEntry::kReport,
       .gate = Gate::member,
       .check = check_report,
       .apply = apply_report,
       .changes_nothing = report_changes_nothing,
       .item = reported_item,
       .redact = redact_report,
       .transcript = line_report},
      {.kind = v1::LogEntry::kHandled,
       .gate = Gate::member,
       .check = check_handled,
       .apply = apply_handled,
       .changes_nothing = handled_changes_nothing,
       .item = handled_item,
       .transcript = line_handled},
      // Erasing what you wrote is a right, also in a closed room.
      {.kind = v1::LogEntry::kErase,
       .gate = Gate::own_content,
       .apply = apply_erase,
       .transcript = line_erase},
  };
};

namespace {

std::optional<Failure> build_report(const v1::ClientMessage& message, v1::LogEntry& entry) {
  const auto& report = message.report_item();
  if (auto failure = one_of_two_ids(report.question_id(), report.message_id())) return failure;
  auto* out = entry.mutable_report();
  out->set_question_id(report.question_id());
  out->set_message_id(report.message_id());
  out->set_reason(report.reason());
  return std::nullopt;
}

std::optional<Failure> build_private_reply(const v1::ClientMessage& message, v1::LogEntry& entry) {
  const auto& reply = message.reply_privately();
  if (auto failure = one_of_two_ids(reply.question_id(), reply.message_id())) return failure;
  auto* out = entry.mutable_say();
  out->set_text(reply.text());
  out->set_reply_to_question_id(reply.question_id());
  out->set_reply_to_message_id(reply.message_id());
  out->set_private_reply(true);
  return std::nullopt;
}

std::optional<Failure> build_handled(const v1::ClientMessage& message, v1::LogEntry& entry) {
  const auto& handled = message.mark_handled();
  if (auto failure = one_of_two_ids(handled.question_id(), handled.message_id())) return failure;
  entry.mutable_handled()->set_question_id(handled.question_id());
  entry.mutable_handled()->set_message_id(handled.message_id());
  return std::nullopt;
}

std::optional<Failure> build_erase(const v1::ClientMessage&, v1::LogEntry& entry) {
  entry.mutable_erase();
  return std::nullopt;
}

constexpr CommandRules kCommands[] = {
    {v1::ClientMessage::kReportItem, build_report},
    {v1::ClientMessage::kReplyPrivately, build_private_reply},
    {v1::ClientMessage::kMarkHandled, build_handled},
    {v1::ClientMessage::kEraseMyContent, build_erase},
};

}  // namespace

CommandFamily care_family() {
  return {RoomState::CareRules::entries, kCommands};
}

}  // namespace hearth
