// Chat: messages (SayEntry, also staff's private replies), edited and
// deleted by their authors, deleted or released (when held) by staff.
#include "domain/commands/entry_rules.hpp"
#include "domain/room_state.hpp"
#include "domain/transcript_line.hpp"

namespace hearth {

struct RoomState::ChatRules {
  static bool chat_enabled(const RoomState& state) {
    return state.kind_ == v1::ROOM_KIND_SUPPORT || state.settings_.side_chat();
  }

  // A private reply reaches the author of the item it names, whoever they
  // are: staff need not know (an anonymous question), and the item may be
  // deleted since (someone who took back what they wrote may need it most).
  static std::optional<Failure> check_private_reply(const RoomState& state, const v1::LogEntry& entry) {
    const auto& say = entry.say();
    if (!is_staff(entry.actor().role())) {
      return fail(v1::PERMISSION_DENIED, "only hosts and moderators reply privately");
    }
    if (auto failure =
            state.check_one_item(say.reply_to_question_id(), say.reply_to_message_id(), "to reply to here")) {
      return failure;
    }
    const std::string* author = nullptr;
    if (const QuestionRecord* question = state.find_question(say.reply_to_question_id())) {
      author = &question->author.user_id();
    }
    if (const MessageRecord* message = state.find_message(say.reply_to_message_id())) {
      author = &message->author.user_id();
    }
    if (author == nullptr) {
      return fail(say.reply_to_question_id() != 0 ? v1::QUESTION_NOT_FOUND : v1::MESSAGE_NOT_FOUND,
                  "no such item to reply to");
    }
    if (*author == entry.actor().user_id())
      return fail(v1::INVALID_ARGUMENT, "that is your own: reply in the room");
    return state.check_text(say.text(), state.limits_.max_message_chars, "message");
  }

  static std::optional<Failure> check_say(const RoomState& state, const v1::LogEntry& entry) {
    if (entry.say().private_reply()) return check_private_reply(state, entry);
    const v1::Actor& actor = entry.actor();
    if (!chat_enabled(state)) return fail(v1::CHAT_DISABLED, "chat is off in this room");
    if (state.muted_.contains(actor.user_id())) return fail(v1::MUTED, "you are muted in this room");
    if (auto failure = state.check_slow_mode(entry)) return failure;
    const auto& say = entry.say();
    if (say.reply_to_message_id() != 0 && say.reply_to_question_id() != 0) {
      return fail(v1::INVALID_ARGUMENT, "reply to a message or a question, not both");
    }
    // A reply may name an item that retention removed: the reply stands
    // (and the fold of a trimmed log, which never saw the item, agrees).
    // Not one the state forgot: nothing here can tell whether it was one,
    // or one the sender could see (and the transcript, which still holds
    // it, would judge otherwise).
    if (state.forgot_message(say.reply_to_message_id())) {
      return fail(v1::MESSAGE_NOT_FOUND, "this message is too old to reply to");
    }
    if (state.forgot_question(say.reply_to_question_id())) {
      return fail(v1::QUESTION_NOT_FOUND, "this question is too old to reply to");
    }
    if (say.reply_to_message_id() > state.trimmed_up_to_) {
      const MessageRecord* parent = state.find_message(say.reply_to_message_id());
      if (parent == nullptr || !may_see(state.message_audience(*parent), actor.user_id(), actor.role())) {
        return fail(v1::MESSAGE_NOT_FOUND, "no such message to reply to");
      }
    }
    if (say.reply_to_question_id() > state.trimmed_up_to_) {
      const QuestionRecord* question = state.find_question(say.reply_to_question_id());
      if (question == nullptr || state.question_audience(*question).staff_only) {
        return fail(v1::QUESTION_NOT_FOUND, "no such question to reply to");
      }
    }
    return state.check_text(say.text(), state.limits_.max_message_chars, "message");
  }

  static std::uint64_t target(const v1::LogEntry& entry) {
    return entry.has_edit_message()      ? entry.edit_message().id()
           : entry.has_release_message() ? entry.release_message().message_id()
                                         : entry.delete_message().message_id();
  }

  // Edit, delete and release: the message must be one the actor can see.
  static std::optional<Failure> check_on_message(const RoomState& state, const v1::LogEntry& entry) {
    const v1::Actor& actor = entry.actor();
    const std::uint64_t id = target(entry);
    if (state.forgot_message(id)) {
      // Room checked the author (or a staff role) against the log.
      if (entry.has_delete_message()) return std::nullopt;
      return fail(v1::MESSAGE_NOT_FOUND, "this message is too old to change; it can still be deleted");
    }
    const MessageRecord* message = state.visible_message(id, actor);
    if (message == nullptr) return fail(v1::MESSAGE_NOT_FOUND, "no such message");
    const bool own = message->author.user_id() == actor.user_id();
    if (entry.has_release_message()) {
      if (!is_staff(actor.role()))
        return fail(v1::PERMISSION_DENIED, "only hosts and moderators may release messages");
      if (!message->held) return fail(v1::INVALID_STATE, "the message is not held");
      return std::nullopt;
    }
    if (entry.has_edit_message()) {
      if (!chat_enabled(state)) return fail(v1::CHAT_DISABLED, "chat is off in this room");
      if (!own) return fail(v1::PERMISSION_DENIED, "you can only edit your own messages");
      if (state.muted_.contains(actor.user_id())) return fail(v1::MUTED, "you are muted in this room");
      return state.check_text(entry.edit_message().text(), state.limits_.max_message_chars, "message");
    }
    if (!own && !is_staff(actor.role()))
      return fail(v1::PERMISSION_DENIED, "you can only delete your own messages");
    return std::nullopt;
  }

  static bool apply_say(RoomState& state, Fold& fold) {
    const v1::LogEntry& entry = fold.entry;
    if (!is_staff(entry.actor().role())) state.note_post(entry.actor().user_id(), entry.at());
    MessageRecord& message = state.messages_[fold.seq];
    message.id = fold.seq;
    message.author = person_of(entry.actor());
    message.text = entry.say().text();
    message.reply_to_message_id = entry.say().reply_to_message_id();
    message.reply_to_question_id = entry.say().reply_to_question_id();
    message.sent_at = entry.at();
    message.flagged = entry.say().flagged();
    message.held = message.flagged && state.settings_.crisis_policy() == v1::CRISIS_POLICY_HOLD;
    if (entry.say().private_reply()) {
      const QuestionRecord* question = state.find_question(message.reply_to_question_id);
      const MessageRecord* parent = state.find_message(message.reply_to_message_id);
      message.private_to = question ? question->author.user_id() : parent ? parent->author.user_id() : "";
    }
    fold.out.audience = state.message_audience(message);
    *fold.event.mutable_message_posted() = state.message_view(message);
    return true;
  }

  static bool apply_edit(RoomState& state, Fold& fold) {
    MessageRecord& message = state.messages_.at(fold.entry.edit_message().id());
    message.text = fold.entry.edit_message().text();
    message.edited_at = fold.entry.at();
    // Staff's private replies use the crisis words too: never flagged.
    const bool flagged = fold.entry.edit_message().flagged() && message.private_to.empty();
    message.flagged = message.flagged || flagged;
    if (flagged) message.handled_by.reset();
    fold.out.audience = state.message_audience(message);
    *fold.event.mutable_message_edited() = state.message_view(message);
    return true;
  }

  static bool apply_release(RoomState& state, Fold& fold) {
    MessageRecord& message = state.messages_.at(fold.entry.release_message().message_id());
    message.held = false;
    // Everyone now gets the whole message (clients upsert by id).
    *fold.event.mutable_message_edited() = state.message_view(message);
    return true;
  }

  static bool apply_delete(RoomState& state, Fold& fold) {
    const std::uint64_t id = fold.entry.delete_message().message_id();
    const auto held = state.messages_.find(id);
    if (held == state.messages_.end()) {  // a forgotten one
      fold.event.mutable_message_deleted()->set_id(id);
      fold.event.mutable_message_deleted()->set_deleted(true);
      // It may have been held: that its author deleted it is nobody's news.
      fold.event.clear_actor();
      return true;
    }
    MessageRecord& message = held->second;
    fold.out.audience = state.message_audience(message);  // who saw it hears it went
    message.deleted = true;
    message.text.clear();
    *fold.event.mutable_message_deleted() = state.message_view(message);
    return true;
  }

  static bool redact_say(v1::LogEntry& entry) { return erase_text(entry.mutable_say()->mutable_text()); }
  static bool redact_edit(v1::LogEntry& entry) {
    return erase_text(entry.mutable_edit_message()->mutable_text());
  }

  // Transcript lines (transcript_line.hpp).
  static bool line_say(const TranscriptContext& c) {
    const auto& say = c.entry.say();
    const std::string replied = say.private_reply() ? "replied privately to " : "replied to ";
    c.line.action =
        say.reply_to_message_id()    ? replied + "message " + std::to_string(say.reply_to_message_id())
        : say.reply_to_question_id() ? replied + "question " + std::to_string(say.reply_to_question_id())
                                     : "said";
    c.message_text(c.seq, say.text());
    return true;
  }
  static bool line_edit(const TranscriptContext& c) {
    c.line.action = "edited message";
    c.message_text(c.entry.edit_message().id(), c.entry.edit_message().text());
    return true;
  }
  static bool line_delete(const TranscriptContext& c) {
    c.line.action = "deleted message";
    c.line.item = c.entry.delete_message().message_id();
    return true;
  }
  static bool line_release(const TranscriptContext& c) {
    c.line.action = "released message";
    c.line.item = c.entry.release_message().message_id();
    return true;
  }

  static constexpr EntryRules entries[] = {
      {.kind = v1::LogEntry::kSay,
       .gate = Gate::member,
       .check = check_say,
       .apply = apply_say,
       .redact = redact_say,
       .transcript = line_say},
      {.kind = v1::LogEntry::kEditMessage,
       .gate = Gate::member,
       .check = check_on_message,
       .apply = apply_edit,
       .item = target,
       .redact = redact_edit,
       .transcript = line_edit},
      {.kind = v1::LogEntry::kDeleteMessage,
       .gate = Gate::member,
       .check = check_on_message,
       .apply = apply_delete,
       .item = target,
       .transcript = line_delete},
      {.kind = v1::LogEntry::kReleaseMessage,
       .gate = Gate::member,
       .check = check_on_message,
       .apply = apply_release,
       .item = target,
       .transcript = line_release},
  };
};

namespace {

std::optional<Failure> build_send(const v1::ClientMessage& message, v1::LogEntry& entry) {
  auto* out = entry.mutable_say();
  out->set_text(message.send_message().text());
  out->set_reply_to_message_id(message.send_message().reply_to_message_id());
  out->set_reply_to_question_id(message.send_message().reply_to_question_id());
  return std::nullopt;
}

std::optional<Failure> build_edit(const v1::ClientMessage& message, v1::LogEntry& entry) {
  if (message.edit_message().message_id() == 0) return missing("message_id");
  entry.mutable_edit_message()->set_id(message.edit_message().message_id());
  entry.mutable_edit_message()->set_text(message.edit_message().text());
  return std::nullopt;
}

std::optional<Failure> build_delete(const v1::ClientMessage& message, v1::LogEntry& entry) {
  if (message.delete_message().message_id() == 0) return missing("message_id");
  entry.mutable_delete_message()->set_message_id(message.delete_message().message_id());
  return std::nullopt;
}

std::optional<Failure> build_release(const v1::ClientMessage& message, v1::LogEntry& entry) {
  if (message.release_message().message_id() == 0) return missing("message_id");
  entry.mutable_release_message()->set_message_id(message.release_message().message_id());
  return std::nullopt;
}

constexpr CommandRules kCommands[] = {
    {v1::ClientMessage::kSendMessage, build_send},
    {v1::ClientMessage::kEditMessage, build_edit},
    {v1::ClientMessage::kDeleteMessage, build_delete},
    {v1::ClientMessage::kReleaseMessage, build_release},
};

}  // namespace

CommandFamily chat_family() {
  return {RoomState::ChatRules::entries, kCommands};
}

}  // namespace hearth
