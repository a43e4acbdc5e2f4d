// An AMA's questions: asked (anonymously or not), voted on, approved or
// dismissed by staff, pinned, answered, marked answered, edited and deleted
// by their authors.
#include "domain/commands/entry_rules.hpp"
#include "domain/room_state.hpp"
#include "domain/transcript_line.hpp"

namespace hearth {

struct RoomState::QuestionRules {
  // The question an entry of every kind here but Ask acts on.
  static std::uint64_t target(const v1::LogEntry& entry) {
    switch (entry.kind_case()) {
      case v1::LogEntry::kVote:
        return entry.vote().question_id();
      case v1::LogEntry::kApprove:
        return entry.approve().question_id();
      case v1::LogEntry::kDismiss:
        return entry.dismiss().question_id();
      case v1::LogEntry::kPin:
        return entry.pin().question_id();
      case v1::LogEntry::kAnswer:
        return entry.answer().question_id();
      case v1::LogEntry::kMarkAnswered:
        return entry.mark_answered().question_id();
      case v1::LogEntry::kEditQuestion:
        return entry.edit_question().id();
      case v1::LogEntry::kDeleteQuestion:
        return entry.delete_question().question_id();
      default:
        return 0;
    }
  }

  static std::optional<Failure> check_ask(const RoomState& state, const v1::LogEntry& entry) {
    const v1::Actor& actor = entry.actor();
    if (state.kind_ != v1::ROOM_KIND_AMA) return fail(v1::WRONG_ROOM_KIND, "questions are for AMA rooms");
    if (state.muted_.contains(actor.user_id())) return fail(v1::MUTED, "you are muted in this room");
    if (auto failure = state.check_text(entry.ask().text(), state.limits_.max_question_chars, "question")) {
      return failure;
    }
    if (auto failure = state.check_slow_mode(entry)) return failure;
    if (auto failure =
            check_room_for_one_more(state, "vote for one of them, or ask once some are answered")) {
      return failure;
    }
    // Only questions that will wait count: staff skip the queue unless anonymous.
    const bool will_wait =
        state.settings_.require_approval() && (!is_staff(actor.role()) || entry.ask().anonymous());
    if (will_wait) {
      const auto pending =
          std::count_if(state.questions_.begin(), state.questions_.end(), [&](const auto& item) {
            return item.second.state == v1::QUESTION_STATE_PENDING &&
                   item.second.author.user_id() == actor.user_id();
          });
      if (static_cast<std::size_t>(pending) >= state.limits_.max_pending_questions) {
        return fail(v1::TOO_MANY_PENDING, std::to_string(state.limits_.max_pending_questions) +
                                              " of your questions already await approval");
      }
    }
    return std::nullopt;
  }

  // Room for one more question open or awaiting approval
  // (Limits::max_open_questions); `what_then` says what the refused can do.
  static std::optional<Failure> check_room_for_one_more(const RoomState& state, std::string_view what_then) {
    const std::size_t max_open = state.limits_.max_open_questions;
    if (state.questions_.size() - state.closed_questions_.size() < max_open) return std::nullopt;
    return fail(v1::TOO_MANY_QUESTIONS,
                "this room has " + std::to_string(max_open) +
                    " questions open or awaiting approval, as many as it takes: " + std::string(what_then));
  }

  // Taking a dismissal back: the question awaits approval again, so it
  // counts against the room's open questions as a new one would.
  static std::optional<Failure> check_undismiss(const RoomState& state, const QuestionRecord& question) {
    if (question.state != v1::QUESTION_STATE_DISMISSED) {
      return fail(v1::INVALID_STATE, "the question is not dismissed");
    }
    return check_room_for_one_more(state, "approve, dismiss or answer some first");
  }

  // Every kind but Ask: the question must be one the actor can see, in a
  // state the kind allows.
  static std::optional<Failure> check_on_question(const RoomState& state, const v1::LogEntry& entry) {
    const v1::Actor& actor = entry.actor();
    const bool staff = is_staff(actor.role());
    if (state.kind_ != v1::ROOM_KIND_AMA) return fail(v1::WRONG_ROOM_KIND, "questions are for AMA rooms");
    const std::uint64_t id = target(entry);
    const bool staff_action = entry.has_approve() || entry.has_dismiss() || entry.has_pin() ||
                              entry.has_answer() || entry.has_mark_answered();
    if (staff_action && !staff) return fail(v1::PERMISSION_DENIED, "only hosts and moderators may do this");
    if (entry.has_pin() && id == 0) return std::nullopt;  // unpin
    if (state.forgot_question(id)) {
      // Room checked the author (or a staff role) against the log.
      if (entry.has_delete_question()) return std::nullopt;
      return fail(v1::QUESTION_NOT_FOUND, "this question is too old to change; it can still be deleted");
    }
    const QuestionRecord* question = state.visible_question(id, actor);
    if (question == nullptr) return fail(v1::QUESTION_NOT_FOUND, "no such question");
    const auto question_state = question->state;
    const bool open = question_state == v1::QUESTION_STATE_OPEN;
    const bool own = question->author.user_id() == actor.user_id();
    switch (entry.kind_case()) {
      case v1::LogEntry::kVote:
        if (!open && question_state != v1::QUESTION_STATE_ANSWERED) {
          return fail(v1::INVALID_STATE, "only approved questions take votes");
        }
        return std::nullopt;
      case v1::LogEntry::kDismiss:
        if (entry.dismiss().undo()) return check_undismiss(state, *question);
        [[fallthrough]];
      case v1::LogEntry::kApprove:
        if (question_state != v1::QUESTION_STATE_PENDING) {
          return fail(v1::INVALID_STATE, "the question is not awaiting approval");
        }
        return std::nullopt;
      case v1::LogEntry::kPin:
      case v1::LogEntry::kMarkAnswered:
        if (!open) return fail(v1::INVALID_STATE, "the question is not open");
        return std::nullopt;
      case v1::LogEntry::kAnswer:
        if (!open && question_state != v1::QUESTION_STATE_ANSWERED) {
          return fail(v1::INVALID_STATE, "only approved questions can be answered");
        }
        return state.check_text(entry.answer().text(), state.limits_.max_answer_chars, "answer");
      case v1::LogEntry::kEditQuestion:
        if (!own) return fail(v1::PERMISSION_DENIED, "you can only edit your own questions");
        if (state.muted_.contains(actor.user_id())) return fail(v1::MUTED, "you are muted in this room");
        if (question_state != v1::QUESTION_STATE_PENDING && !open) {
          return fail(v1::INVALID_STATE, "answered or dismissed questions cannot be edited");
        }
        return state.check_text(entry.edit_question().text(), state.limits_.max_question_chars, "question");
      case v1::LogEntry::kDeleteQuestion:
        if (!own && (!staff || entry.delete_question().erasing())) {
          return fail(v1::PERMISSION_DENIED, "you can only delete your own questions");
        }
        return std::nullopt;
      default:
        return fail(v1::UNKNOWN_COMMAND, "unknown command");
    }
  }

  static bool vote_changes_nothing(const RoomState& state, const v1::LogEntry& entry) {
    const QuestionRecord* question = state.find_question(entry.vote().question_id());
    return question && entry.vote().up() == question->voters.contains(entry.actor().user_id());
  }

  static bool pin_changes_nothing(const RoomState& state, const v1::LogEntry& entry) {
    return entry.pin().question_id() == state.pinned_;
  }

  static bool apply_ask(RoomState& state, Fold& fold) {
    const v1::LogEntry& entry = fold.entry;
    if (!is_staff(entry.actor().role())) state.note_post(entry.actor().user_id(), entry.at());
    QuestionRecord& question = state.questions_[fold.seq];
    question.id = fold.seq;
    question.author = person_of(entry.actor());
    question.anonymous = entry.ask().anonymous();
    question.text = entry.ask().text();
    // Staff skip the queue, except when anonymous: a question that appears
    // at once would give away that staff asked it.
    const bool skips_queue = is_staff(entry.actor().role()) && !question.anonymous;
    question.state = state.settings_.require_approval() && !skips_queue ? v1::QUESTION_STATE_PENDING
                                                                        : v1::QUESTION_STATE_OPEN;
    question.asked_at = entry.at();
    question.flagged = entry.ask().flagged();
    // A room that holds what may be a crisis lets a moderator see it first.
    if (question.flagged && state.settings_.crisis_policy() == v1::CRISIS_POLICY_HOLD) {
      question.state = v1::QUESTION_STATE_PENDING;
    }
    question.ever_public = question.state == v1::QUESTION_STATE_OPEN;
    *fold.event.mutable_question_asked() = state.question_view(question, "");
    fold.out.audience = state.question_audience(question);
    if (question.anonymous) fold.event.clear_actor();
    return true;
  }

  static bool apply_vote(RoomState& state, Fold& fold) {
    const std::string& voter = fold.entry.actor().user_id();
    QuestionRecord& question = state.questions_.at(fold.entry.vote().question_id());
    const bool changed =
        fold.entry.vote().up() ? question.voters.insert(voter).second : question.voters.erase(voter) > 0;
    if (!changed) return false;
    auto* votes = fold.event.mutable_question_votes();
    votes->set_question_id(question.id);
    votes->set_votes(static_cast<std::uint32_t>(question.voters.size()));
    // Who voted for what is nobody else's business.
    fold.event.clear_actor();
    return true;
  }

  static bool apply_pin(RoomState& state, Fold& fold) {
    const std::uint64_t id = fold.entry.pin().question_id();
    if (id == state.pinned_) return false;
    auto* pinned = fold.event.mutable_question_pinned();
    pinned->set_question_id(id);
    pinned->set_previous_id(state.pinned_);
    state.pinned_ = id;
    return true;
  }

  // A change to the question the entry names, told to whoever saw it before
  // (a deleted pending question stays among staff and its author).
  template <typename Change>
  static bool change_question(RoomState& state, Fold& fold, Change change) {
    QuestionRecord& question = state.questions_.at(target(fold.entry));
    fold.out.audience = state.question_audience(question);
    change(question);
    state.note_question_state(question);
    if (question.anonymous && fold.entry.actor().user_id() == question.author.user_id())
      fold.event.clear_actor();
    if (question.state == v1::QUESTION_STATE_DELETED) {
      *fold.event.mutable_question_deleted() = state.question_view(question, "");
    } else {
      *fold.event.mutable_question_updated() = state.question_view(question, "");
    }
    return true;
  }

  static bool apply_approve(RoomState& state, Fold& fold) {
    change_question(state, fold, [](QuestionRecord& question) {
      question.state = v1::QUESTION_STATE_OPEN;
      question.ever_public = true;
    });
    fold.out.audience = {};
    return true;
  }

  static bool apply_dismiss(RoomState& state, Fold& fold) {
    const bool undo = fold.entry.dismiss().undo();
    return change_question(state, fold, [undo](QuestionRecord& question) {
      question.state = undo ? v1::QUESTION_STATE_PENDING : v1::QUESTION_STATE_DISMISSED;
    });
  }

  static bool apply_answer(RoomState& state, Fold& fold) {
    return change_question(state, fold, [&](QuestionRecord& question) {
      v1::Answer answer;
      answer.set_text(fold.entry.answer().text());
      *answer.mutable_by() = person_of(fold.entry.actor());
      *answer.mutable_at() = fold.entry.at();
      question.answer = std::move(answer);
    });
  }

  static bool apply_mark_answered(RoomState& state, Fold& fold) {
    return change_question(state, fold, [&](QuestionRecord& question) {
      question.state = v1::QUESTION_STATE_ANSWERED;
      if (state.pinned_ == question.id) state.pinned_ = 0;
    });
  }

  static bool apply_edit(RoomState& state, Fold& fold) {
    return change_question(state, fold, [&](QuestionRecord& question) {
      const auto& edit = fold.entry.edit_question();
      question.text = edit.text();
      question.edited_at = fold.entry.at();
      question.flagged = question.flagged || edit.flagged();
      if (edit.flagged()) question.handled_by.reset();
    });
  }

  static bool apply_delete(RoomState& state, Fold& fold) {
    const std::uint64_t id = fold.entry.delete_question().question_id();
    if (!state.questions_.contains(id)) {  // a forgotten one
      v1::Question tombstone;
      tombstone.set_id(id);
      tombstone.set_state(v1::QUESTION_STATE_DELETED);
      *fold.event.mutable_question_deleted() = std::move(tombstone);
      fold.event.clear_actor();  // it may have been asked anonymously
      return true;
    }
    return change_question(state, fold, [&](QuestionRecord& question) {
      question.state = v1::QUESTION_STATE_DELETED;
      question.text.clear();
      question.voters.clear();
      question.answer.reset();
      if (state.pinned_ == id) state.pinned_ = 0;
    });
  }

  static bool redact_ask(v1::LogEntry& entry) { return erase_text(entry.mutable_ask()->mutable_text()); }
  static bool redact_answer(v1::LogEntry& entry) {
    return erase_text(entry.mutable_answer()->mutable_text());
  }
  static bool redact_edit(v1::LogEntry& entry) {
    return erase_text(entry.mutable_edit_question()->mutable_text());
  }
  // An erasure's deletion of its actor's anonymous question (Room::
  // run_erasure) is part of the erasure: a closed room takes it too.
  static bool erasing(const v1::LogEntry& entry) { return entry.delete_question().erasing(); }

  // Transcript lines (transcript_line.hpp). A vote has none: the
  // transcript ends with the final counts.
  static bool line_ask(const TranscriptContext& c) {
    c.hide_author_of(c.seq);
    c.line.action = "asked";
    c.question_text(c.seq, c.entry.ask().text());
    return true;
  }
  static bool line_on_question(const TranscriptContext& c, const char* action, std::uint64_t question) {
    c.line.action = action;
    c.line.item = question;
    return true;
  }
  static bool line_approve(const TranscriptContext& c) {
    return line_on_question(c, "approved question", c.entry.approve().question_id());
  }
  static bool line_dismiss(const TranscriptContext& c) {
    return line_on_question(
        c, c.entry.dismiss().undo() ? "took back the dismissal of question" : "dismissed question",
        c.entry.dismiss().question_id());
  }
  static bool line_pin(const TranscriptContext& c) {
    const std::uint64_t question = c.entry.pin().question_id();
    return line_on_question(c, question ? "is answering question" : "unpinned the question", question);
  }
  static bool line_answer(const TranscriptContext& c) {
    c.line.action = "answered question";
    c.question_text(c.entry.answer().question_id(), c.entry.answer().text());
    return true;
  }
  static bool line_mark_answered(const TranscriptContext& c) {
    return line_on_question(c, "marked answered question", c.entry.mark_answered().question_id());
  }
  static bool line_edit(const TranscriptContext& c) {
    c.hide_author_of(c.entry.edit_question().id());
    c.line.action = "edited question";
    c.question_text(c.entry.edit_question().id(), c.entry.edit_question().text());
    return true;
  }
  static bool line_delete(const TranscriptContext& c) {
    c.hide_author_of(c.entry.delete_question().question_id());
    return line_on_question(c, "deleted question", c.entry.delete_question().question_id());
  }

  static constexpr EntryRules entries[] = {
      {.kind = v1::LogEntry::kAsk,
       .gate = Gate::member,
       .check = check_ask,
       .apply = apply_ask,
       .redact = redact_ask,
       .transcript = line_ask},
      {.kind = v1::LogEntry::kVote,
       .gate = Gate::member,
       .check = check_on_question,
       .apply = apply_vote,
       .changes_nothing = vote_changes_nothing,
       .item = target,
       .transcript = no_transcript_line},
      {.kind = v1::LogEntry::kApprove,
       .gate = Gate::member,
       .check = check_on_question,
       .apply = apply_approve,
       .item = target,
       .transcript = line_approve},
      {.kind = v1::LogEntry::kDismiss,
       .gate = Gate::member,
       .check = check_on_question,
       .apply = apply_dismiss,
       .item = target,
       .transcript = line_dismiss},
      {.kind = v1::LogEntry::kPin,
       .gate = Gate::member,
       .check = check_on_question,
       .apply = apply_pin,
       .changes_nothing = pin_changes_nothing,
       .item = target,
       .transcript = line_pin},
      {.kind = v1::LogEntry::kAnswer,
       .gate = Gate::member,
       .check = check_on_question,
       .apply = apply_answer,
       .item = target,
       .redact = redact_answer,
       .transcript = line_answer},
      {.kind = v1::LogEntry::kMarkAnswered,
       .gate = Gate::member,
       .check = check_on_question,
       .apply = apply_mark_answered,
       .item = target,
       .transcript = line_mark_answered},
      {.kind = v1::LogEntry::kEditQuestion,
       .gate = Gate::member,
       .check = check_on_question,
       .apply = apply_edit,
       .item = target,
       .redact = redact_edit,
       .transcript = line_edit},
      {.kind = v1::LogEntry::kDeleteQuestion,
       .gate = Gate::member,
       .check = check_on_question,
       .apply = apply_delete,
       .item = target,
       .taken_when_closed = erasing,
       .transcript = line_delete},
  };
};

namespace {

std::optional<Failure> build_ask(const v1::ClientMessage& message, v1::LogEntry& entry) {
  entry.mutable_ask()->set_text(message.ask_question().text());
  entry.mutable_ask()->set_anonymous(message.ask_question().anonymous());
  return std::nullopt;
}

std::optional<Failure> build_vote(const v1::ClientMessage& message, v1::LogEntry& entry) {
  if (message.vote_question().question_id() == 0) return missing("question_id");
  entry.mutable_vote()->set_question_id(message.vote_question().question_id());
  entry.mutable_vote()->set_up(message.vote_question().up());
  return std::nullopt;
}

// Commands that name a question and nothing else: `set` makes the entry.
template <auto get, auto set, bool zero_allowed = false>
std::optional<Failure> build_target(const v1::ClientMessage& message, v1::LogEntry& entry) {
  const std::uint64_t id = (message.*get)().question_id();
  if (id == 0 && !zero_allowed) return missing("question_id");
  (entry.*set)()->set_question_id(id);
  return std::nullopt;
}

std::optional<Failure> build_dismiss(const v1::ClientMessage& message, v1::LogEntry& entry) {
  if (message.dismiss_question().question_id() == 0) return missing("question_id");
  entry.mutable_dismiss()->set_question_id(message.dismiss_question().question_id());
  entry.mutable_dismiss()->set_undo(message.dismiss_question().undo());
  return std::nullopt;
}

std::optional<Failure> build_answer(const v1::ClientMessage& message, v1::LogEntry& entry) {
  if (message.answer_question().question_id() == 0) return missing("question_id");
  entry.mutable_answer()->set_question_id(message.answer_question().question_id());
  entry.mutable_answer()->set_text(message.answer_question().text());
  return std::nullopt;
}

std::optional<Failure> build_edit(const v1::ClientMessage& message, v1::LogEntry& entry) {
  if (message.edit_question().question_id() == 0) return missing("question_id");
  entry.mutable_edit_question()->set_id(message.edit_question().question_id());
  entry.mutable_edit_question()->set_text(message.edit_question().text());
  return std::nullopt;
}

using M = v1::ClientMessage;
using E = v1::LogEntry;
constexpr CommandRules kCommands[] = {
    {M::kAskQuestion, build_ask},
    {M::kVoteQuestion, build_vote},
    {M::kApproveQuestion, build_target<&M::approve_question, &E::mutable_approve>},
    {M::kDismissQuestion, build_dismiss},
    {M::kPinQuestion, build_target<&M::pin_question, &E::mutable_pin, true>},  // 0 unpins
    {M::kAnswerQuestion, build_answer},
    {M::kMarkAnswered, build_target<&M::mark_answered, &E::mutable_mark_answered>},
    {M::kEditQuestion, build_edit},
    {M::kDeleteQuestion, build_target<&M::delete_question, &E::mutable_delete_question>},
};

}  // namespace

CommandFamily question_family() {
  return {RoomState::QuestionRules::entries, kCommands};
}

}  // namespace hearth
