#include "room_state.hpp"

#include <google/protobuf/util/field_mask_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "fault.hpp"

namespace hearth {
namespace {

using google::protobuf::util::TimeUtil;

v1::Person person_of(const v1::Actor& actor) {
  v1::Person person;
  person.set_user_id(actor.user_id());
  person.set_display_name(actor.display_name());
  person.set_role(actor.role());
  return person;
}

v1::Person anonymous_person() {
  v1::Person person;
  person.set_display_name("Anonymous");
  person.set_role(v1::ROLE_PARTICIPANT);
  return person;
}

Failure fail(v1::ErrorCode code, std::string message) { return Failure{code, std::move(message)}; }

// For ListMembers' search: letters outside ASCII are left as they are.
std::string ascii_lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

bool may_act_on(v1::Role actor, v1::Role target) {
  // Ranks follow the enum: participant < moderator < host < admin.
  return static_cast<int>(actor) > static_cast<int>(target);
}

}  // namespace

std::size_t count_code_points(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

RoomState::RoomState(std::string room_id, Limits limits) : room_id_(std::move(room_id)), limits_(limits) {}

bool RoomState::is_present(const std::string& user_id) const {
  const auto it = members_.find(user_id);
  return it != members_.end() && !it->second.connections.empty();
}

bool RoomState::may_see(const Audience& audience, const std::string& viewer, v1::Role role) {
  return !audience.staff_only || is_staff(role) || (!viewer.empty() && viewer == audience.also_user);
}

// ---------------------------------------------------------------------------
// check: may this entry be appended now?
// ---------------------------------------------------------------------------

std::optional<Failure> RoomState::check_text(const std::string& text, std::size_t max_chars, const char* what) const {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return fail(v1::INVALID_ARGUMENT, std::string(what) + " is empty");
  }
  if (count_code_points(text) > max_chars) {
    return fail(v1::TEXT_TOO_LONG, std::string(what) + " is longer than " + std::to_string(max_chars) + " characters");
  }
  return std::nullopt;
}

std::optional<Failure> RoomState::check_settings(const v1::RoomSettings& settings) const {
  if (settings.retention_days() > kMaxRetentionDays) {
    return fail(v1::INVALID_ARGUMENT, "retention_days is at most " + std::to_string(kMaxRetentionDays));
  }
  if (settings.slow_mode_seconds() > kMaxSlowModeSeconds) {
    return fail(v1::INVALID_ARGUMENT, "slow_mode_seconds is at most " + std::to_string(kMaxSlowModeSeconds));
  }
  if (settings.member_list_limit() > kMaxMemberListLimit) {
    return fail(v1::INVALID_ARGUMENT, "member_list_limit is at most " + std::to_string(kMaxMemberListLimit));
  }
  return std::nullopt;
}

v1::RoomSettings settings_after(const v1::RoomSettings& current, const v1::RoomUpdatedEntry& update) {
  if (!update.has_settings()) return current;
  if (update.settings_mask().paths().empty()) return update.settings();  // an entry from before masks
  v1::RoomSettings next = current;
  google::protobuf::util::FieldMaskUtil::MergeMessageTo(update.settings(), update.settings_mask(), {}, &next);
  return next;
}

std::optional<Failure> RoomState::check_update(const v1::RoomUpdatedEntry& update) const {
  if (count_code_points(update.title()) > limits_.max_title_chars)
    return fail(v1::TEXT_TOO_LONG, "title is too long");
  const auto& mask = update.settings_mask();
  if (!google::protobuf::util::FieldMaskUtil::IsValidFieldMask<v1::RoomSettings>(mask)) {
    return fail(v1::INVALID_ARGUMENT, "settings_mask names a field that RoomSettings does not have");
  }
  const v1::RoomSettings next = settings_after(settings_, update);
  if (auto failure = check_settings(next)) return failure;
  // Opening a private room or letting flagged posts through must be meant:
  // a client that sends stale settings gets an error, not an open room.
  // (Entries from before masks replaced the settings whole, unasked.)
  if (mask.paths().empty() || update.allow_loosening()) return std::nullopt;
  if (settings_.invite_only() && !next.invite_only()) {
    return fail(
        v1::CONFIRMATION_REQUIRED,
        "this makes the private room open to anyone with its id: send it with allow_loosening to confirm");
  }
  if (settings_.require_sign_in() && !next.require_sign_in()) {
    return fail(v1::CONFIRMATION_REQUIRED,
                "this lets anonymous people join without an invite: send it with allow_loosening to confirm");
  }
  if (settings_.crisis_policy() == v1::CRISIS_POLICY_HOLD && next.crisis_policy() != v1::CRISIS_POLICY_HOLD) {
    return fail(v1::CONFIRMATION_REQUIRED,
                "this stops holding posts the crisis rules flag: send it with allow_loosening to confirm");
  }
  return std::nullopt;
}

// Slow mode counts by the entries' own times, so every node (and a re-check
// at apply time) decides alike.
std::optional<Failure> RoomState::check_slow_mode(const v1::LogEntry& entry) const {
  const std::uint32_t seconds = settings_.slow_mode_seconds();
  if (seconds == 0 || is_staff(entry.actor().role())) return std::nullopt;
  const auto it = last_post_.find(entry.actor().user_id());
  if (it == last_post_.end()) return std::nullopt;
  const auto next = it->second + TimeUtil::SecondsToDuration(seconds);
  if (entry.at() >= next) return std::nullopt;
  Failure failure = fail(v1::SLOW_MODE, "slow mode: one post every " + std::to_string(seconds) + " seconds");
  failure.retry_after_ms = static_cast<std::uint32_t>(TimeUtil::DurationToMilliseconds(next - entry.at()));
  return failure;
}

std::optional<Failure> RoomState::check(const v1::LogEntry& entry) const {
  const v1::Role role = entry.actor().role();
  if (entry.kind_case() == v1::LogEntry::kRoomCreated) {
    if (created_) return fail(v1::ROOM_EXISTS, "a room with this id exists already");
    if (role != v1::ROLE_HOST && role != v1::ROLE_ADMIN) {
      return fail(v1::PERMISSION_DENIED, "creating a room needs a host or admin token");
    }
    const auto kind = entry.room_created().kind();
    if (kind != v1::ROOM_KIND_AMA && kind != v1::ROOM_KIND_SUPPORT) {
      return fail(v1::INVALID_ARGUMENT, "kind must be ROOM_KIND_AMA or ROOM_KIND_SUPPORT");
    }
    if (count_code_points(entry.room_created().title()) > limits_.max_title_chars) {
      return fail(v1::TEXT_TOO_LONG, "title is too long");
    }
    return check_settings(entry.room_created().settings());
  }
  if (!created_) return fail(v1::ROOM_NOT_FOUND, "no such room");
  // A Left always fits; a trim and an expired entry's stand-in are the
  // server's own (rooms closed long ago are trimmed too); a presence batch is checked change by change, as it
  // is applied (a join in it that raced a ban or the close is skipped).
  if (entry.kind_case() == v1::LogEntry::kLeft || entry.kind_case() == v1::LogEntry::kTrim ||
      entry.kind_case() == v1::LogEntry::kPresence || entry.kind_case() == v1::LogEntry::kExpired) {
    return std::nullopt;
  }
  // Erasing what you wrote is a right, also in a closed room.
  if (entry.kind_case() == v1::LogEntry::kErase) {
    return is_present(entry.actor().user_id()) ? std::nullopt
                                               : std::optional(fail(v1::NOT_IN_ROOM, "you are not in this room"));
  }
  // An erasure's deletion of its actor's anonymous question (Room::
  // run_erasure) is part of the erasure: a closed room takes it too.
  const bool erasing = entry.has_delete_question() && entry.delete_question().erasing();
  if (closed_ && !erasing) return fail(v1::ROOM_CLOSED, "the room is closed");

  switch (entry.kind_case()) {
    case v1::LogEntry::kJoined:
      if (banned_.contains(entry.actor().user_id())) return fail(v1::BANNED, "you are banned from this room");
      return std::nullopt;
    default:
      break;
  }
  // Everything else is done by members: someone banned or kicked meanwhile
  // (their commands may still be on the way) does nothing more.
  if (banned_.contains(entry.actor().user_id())) return fail(v1::BANNED, "you are banned from this room");
  if (!is_present(entry.actor().user_id())) return fail(v1::NOT_IN_ROOM, "you are not in this room");
  switch (entry.kind_case()) {
    case v1::LogEntry::kRoomUpdated:
    case v1::LogEntry::kRoomClosed:
      if (role != v1::ROLE_HOST && role != v1::ROLE_ADMIN) {
        return fail(v1::PERMISSION_DENIED, "only the host may change or close the room");
      }
      return entry.has_room_updated() ? check_update(entry.room_updated()) : std::nullopt;
    case v1::LogEntry::kMute:
    case v1::LogEntry::kBan:
    case v1::LogEntry::kKick:
      return check_member_entry(entry);
    case v1::LogEntry::kAsk:
    case v1::LogEntry::kVote:
    case v1::LogEntry::kApprove:
    case v1::LogEntry::kDismiss:
    case v1::LogEntry::kPin:
    case v1::LogEntry::kAnswer:
    case v1::LogEntry::kMarkAnswered:
    case v1::LogEntry::kEditQuestion:
    case v1::LogEntry::kDeleteQuestion:
      return check_question_entry(entry);
    case v1::LogEntry::kSay:
    case v1::LogEntry::kEditMessage:
    case v1::LogEntry::kDeleteMessage:
    case v1::LogEntry::kReleaseMessage:
      return check_chat_entry(entry);
    case v1::LogEntry::kReport:
      return check_report(entry);
    case v1::LogEntry::kHandled:
      return check_handled(entry);
    default:
      return fail(v1::UNKNOWN_COMMAND, "unknown command");
  }
}

// A command that names one item, a question or a message: exactly one of
// the two ids, and not one the room no longer holds (1.16).
std::optional<Failure> RoomState::check_one_item(std::uint64_t question_id, std::uint64_t message_id,
                                                 const char* too_old_for) const {
  if ((question_id == 0) == (message_id == 0)) {
    return fail(v1::INVALID_ARGUMENT, "name a question or a message: one of the two ids");
  }
  if (forgot_question(question_id) || forgot_message(message_id)) {
    return fail(question_id != 0 ? v1::QUESTION_NOT_FOUND : v1::MESSAGE_NOT_FOUND,
                std::string("this is too old ") + too_old_for);
  }
  return std::nullopt;
}

std::optional<Failure> RoomState::check_handled(const v1::LogEntry& entry) const {
  const auto& handled = entry.handled();
  if (!is_staff(entry.actor().role()))
    return fail(v1::PERMISSION_DENIED, "only hosts and moderators handle alerts");
  if (auto failure = check_one_item(handled.question_id(), handled.message_id(), "to have alerts here")) {
    return failure;
  }
  const QuestionRecord* question =
      handled.question_id() != 0 ? find_question(handled.question_id()) : nullptr;
  const MessageRecord* message = handled.message_id() != 0 ? find_message(handled.message_id()) : nullptr;
  if (handled.question_id() != 0 && question == nullptr)
    return fail(v1::QUESTION_NOT_FOUND, "no such question");
  if (handled.message_id() != 0 && message == nullptr) return fail(v1::MESSAGE_NOT_FOUND, "no such message");
  const bool raised = question ? question->flagged || !question->reporters.empty()
                               : message->flagged || !message->reporters.empty();
  if (!raised) return fail(v1::INVALID_STATE, "nothing about it needs handling: no crisis flag, no report");
  return std::nullopt;
}

// A private reply reaches the author of the item it names, whoever they
// are: staff need not know (an anonymous question), and the item may be
// deleted since (someone who took back what they wrote may need it most).
std::optional<Failure> RoomState::check_private_reply(const v1::LogEntry& entry) const {
  const auto& say = entry.say();
  if (!is_staff(entry.actor().role()))
    return fail(v1::PERMISSION_DENIED, "only hosts and moderators reply privately");
  if (auto failure =
          check_one_item(say.reply_to_question_id(), say.reply_to_message_id(), "to reply to here")) {
    return failure;
  }
  const std::string* author = nullptr;
  if (const QuestionRecord* question = find_question(say.reply_to_question_id()))
    author = &question->author.user_id();
  if (const MessageRecord* message = find_message(say.reply_to_message_id()))
    author = &message->author.user_id();
  if (author == nullptr) {
    return fail(say.reply_to_question_id() != 0 ? v1::QUESTION_NOT_FOUND : v1::MESSAGE_NOT_FOUND,
                "no such item to reply to");
  }
  if (*author == entry.actor().user_id())
    return fail(v1::INVALID_ARGUMENT, "that is your own: reply in the room");
  return check_text(say.text(), limits_.max_message_chars, "message");
}

std::optional<Failure> RoomState::check_report(const v1::LogEntry& entry) const {
  const auto& report = entry.report();
  const v1::Actor& actor = entry.actor();
  if (count_code_points(report.reason()) > kMaxReportReasonChars) {
    return fail(v1::TEXT_TOO_LONG, "a reason is at most " + std::to_string(kMaxReportReasonChars) + " characters");
  }
  const v1::Person* author = nullptr;
  if (forgot_question(report.question_id()) || forgot_message(report.message_id())) {
    return fail(report.question_id() != 0 ? v1::QUESTION_NOT_FOUND : v1::MESSAGE_NOT_FOUND,
                "this is too old to report here: ask a moderator to look at it");
  }
  if (report.question_id() != 0) {
    const QuestionRecord* question = visible_question(report.question_id(), actor);
    if (question == nullptr) return fail(v1::QUESTION_NOT_FOUND, "no such question");
    author = &question->author;
  } else {
    const MessageRecord* message = visible_message(report.message_id(), actor);
    if (message == nullptr) return fail(v1::MESSAGE_NOT_FOUND, "no such message");
    author = &message->author;
  }
  if (author->user_id() == actor.user_id()) return fail(v1::INVALID_ARGUMENT, "you cannot report what you wrote");
  return std::nullopt;
}

std::optional<Failure> RoomState::check_member_entry(const v1::LogEntry& entry) const {
  const v1::Actor& actor = entry.actor();
  if (!is_staff(actor.role())) return fail(v1::PERMISSION_DENIED, "only hosts and moderators may do this");
  const std::string& target = entry.has_mute() ? entry.mute().user_id()
                              : entry.has_ban() ? entry.ban().user_id()
                                                : entry.kick().user_id();
  if (target.empty()) return fail(v1::INVALID_ARGUMENT, "user_id is empty");
  if (target == actor.user_id()) return fail(v1::INVALID_ARGUMENT, "you cannot do this to yourself");
  const v1::Person* person = known_person(target);
  if (person == nullptr) return fail(v1::MEMBER_NOT_FOUND, "no such member in this room");
  if (!may_act_on(actor.role(), person->role())) {
    return fail(v1::PERMISSION_DENIED, "you may not do this to a member of equal or higher role");
  }
  if (entry.has_kick() && !is_present(target)) return fail(v1::MEMBER_NOT_FOUND, "the member is not in the room");
  return std::nullopt;
}

std::optional<Failure> RoomState::check_question_entry(const v1::LogEntry& entry) const {
  const v1::Actor& actor = entry.actor();
  const bool staff = is_staff(actor.role());
  if (kind_ != v1::ROOM_KIND_AMA) return fail(v1::WRONG_ROOM_KIND, "questions are for AMA rooms");
  if (entry.has_ask()) {
    if (muted_.contains(actor.user_id())) return fail(v1::MUTED, "you are muted in this room");
    if (auto failure = check_text(entry.ask().text(), limits_.max_question_chars, "question")) return failure;
    if (auto failure = check_slow_mode(entry)) return failure;
    if (questions_.size() - closed_questions_.size() >= limits_.max_open_questions) {
      return fail(v1::TOO_MANY_QUESTIONS, "this room has " + std::to_string(limits_.max_open_questions) +
                                              " questions open or awaiting approval, as many as it takes: "
                                              "vote for one of them, or ask once some are answered");
    }
    // Only questions that will wait count: staff skip the queue unless anonymous.
    const bool will_wait = settings_.require_approval() && (!staff || entry.ask().anonymous());
    if (will_wait) {
      const auto pending = std::count_if(questions_.begin(), questions_.end(), [&](const auto& item) {
        return item.second.state == v1::QUESTION_STATE_PENDING && item.second.author.user_id() == actor.user_id();
      });
      if (static_cast<std::size_t>(pending) >= limits_.max_pending_questions) {
        return fail(v1::TOO_MANY_PENDING, std::to_string(limits_.max_pending_questions) +
                                              " of your questions already await approval");
      }
    }
    return std::nullopt;
  }

  std::uint64_t id = 0;
  switch (entry.kind_case()) {
    case v1::LogEntry::kVote: id = entry.vote().question_id(); break;
    case v1::LogEntry::kApprove: id = entry.approve().question_id(); break;
    case v1::LogEntry::kDismiss: id = entry.dismiss().question_id(); break;
    case v1::LogEntry::kPin: id = entry.pin().question_id(); break;
    case v1::LogEntry::kAnswer: id = entry.answer().question_id(); break;
    case v1::LogEntry::kMarkAnswered: id = entry.mark_answered().question_id(); break;
    case v1::LogEntry::kEditQuestion: id = entry.edit_question().id(); break;
    case v1::LogEntry::kDeleteQuestion: id = entry.delete_question().question_id(); break;
    default: break;
  }
  const bool staff_action = entry.has_approve() || entry.has_dismiss() || entry.has_pin() || entry.has_answer() ||
                            entry.has_mark_answered();
  if (staff_action && !staff) return fail(v1::PERMISSION_DENIED, "only hosts and moderators may do this");
  if (entry.has_pin() && id == 0) return std::nullopt;  // unpin
  if (forgot_question(id)) {
    // Room checked the author (or a staff role) against the log.
    if (entry.has_delete_question()) return std::nullopt;
    return fail(v1::QUESTION_NOT_FOUND, "this question is too old to change; it can still be deleted");
  }

  const QuestionRecord* question = visible_question(id, actor);
  if (question == nullptr) return fail(v1::QUESTION_NOT_FOUND, "no such question");
  const auto state = question->state;
  const bool own = question->author.user_id() == actor.user_id();
  switch (entry.kind_case()) {
    case v1::LogEntry::kVote:
      if (state != v1::QUESTION_STATE_OPEN && state != v1::QUESTION_STATE_ANSWERED) {
        return fail(v1::INVALID_STATE, "only approved questions take votes");
      }
      return std::nullopt;
    case v1::LogEntry::kApprove:
    case v1::LogEntry::kDismiss:
      if (state != v1::QUESTION_STATE_PENDING) return fail(v1::INVALID_STATE, "the question is not awaiting approval");
      return std::nullopt;
    case v1::LogEntry::kPin:
    case v1::LogEntry::kMarkAnswered:
      if (state != v1::QUESTION_STATE_OPEN) return fail(v1::INVALID_STATE, "the question is not open");
      return std::nullopt;
    case v1::LogEntry::kAnswer:
      if (state != v1::QUESTION_STATE_OPEN && state != v1::QUESTION_STATE_ANSWERED) {
        return fail(v1::INVALID_STATE, "only approved questions can be answered");
      }
      return check_text(entry.answer().text(), limits_.max_answer_chars, "answer");
    case v1::LogEntry::kEditQuestion:
      if (!own) return fail(v1::PERMISSION_DENIED, "you can only edit your own questions");
      if (muted_.contains(actor.user_id())) return fail(v1::MUTED, "you are muted in this room");
      if (state != v1::QUESTION_STATE_PENDING && state != v1::QUESTION_STATE_OPEN) {
        return fail(v1::INVALID_STATE, "answered or dismissed questions cannot be edited");
      }
      return check_text(entry.edit_question().text(), limits_.max_question_chars, "question");
    case v1::LogEntry::kDeleteQuestion:
      if (!own && (!staff || entry.delete_question().erasing())) {
        return fail(v1::PERMISSION_DENIED, "you can only delete your own questions");
      }
      return std::nullopt;
    default:
      return fail(v1::UNKNOWN_COMMAND, "unknown command");
  }
}

std::optional<Failure> RoomState::check_chat_entry(const v1::LogEntry& entry) const {
  const v1::Actor& actor = entry.actor();
  const bool chat_enabled = kind_ == v1::ROOM_KIND_SUPPORT || settings_.side_chat();
  if (entry.has_say() && entry.say().private_reply()) return check_private_reply(entry);
  if (entry.has_say()) {
    if (!chat_enabled) return fail(v1::CHAT_DISABLED, "chat is off in this room");
    if (muted_.contains(actor.user_id())) return fail(v1::MUTED, "you are muted in this room");
    if (auto failure = check_slow_mode(entry)) return failure;
    const auto& say = entry.say();
    if (say.reply_to_message_id() != 0 && say.reply_to_question_id() != 0) {
      return fail(v1::INVALID_ARGUMENT, "reply to a message or a question, not both");
    }
    // A reply may name an item that retention removed: the reply stands
    // (and the fold of a trimmed log, which never saw the item, agrees).
    // Not one the state forgot: nothing here can tell whether it was one,
    // or one the sender could see (and the transcript, which still holds
    // it, would judge otherwise).
    if (forgot_message(say.reply_to_message_id())) {
      return fail(v1::MESSAGE_NOT_FOUND, "this message is too old to reply to");
    }
    if (forgot_question(say.reply_to_question_id())) {
      return fail(v1::QUESTION_NOT_FOUND, "this question is too old to reply to");
    }
    if (say.reply_to_message_id() > trimmed_up_to_) {
      const MessageRecord* parent = find_message(say.reply_to_message_id());
      if (parent == nullptr || !may_see(message_audience(*parent), actor.user_id(), actor.role())) {
        return fail(v1::MESSAGE_NOT_FOUND, "no such message to reply to");
      }
    }
    if (say.reply_to_question_id() > trimmed_up_to_) {
      const QuestionRecord* question = find_question(say.reply_to_question_id());
      if (question == nullptr || question_audience(*question).staff_only) {
        return fail(v1::QUESTION_NOT_FOUND, "no such question to reply to");
      }
    }
    return check_text(say.text(), limits_.max_message_chars, "message");
  }
  const std::uint64_t id = entry.has_edit_message()      ? entry.edit_message().id()
                           : entry.has_release_message() ? entry.release_message().message_id()
                                                         : entry.delete_message().message_id();
  if (forgot_message(id)) {
    // Room checked the author (or a staff role) against the log.
    if (entry.has_delete_message()) return std::nullopt;
    return fail(v1::MESSAGE_NOT_FOUND, "this message is too old to change; it can still be deleted");
  }
  const MessageRecord* message = visible_message(id, actor);
  if (message == nullptr) return fail(v1::MESSAGE_NOT_FOUND, "no such message");
  const bool own = message->author.user_id() == actor.user_id();
  if (entry.has_release_message()) {
    if (!is_staff(actor.role())) return fail(v1::PERMISSION_DENIED, "only hosts and moderators may release messages");
    if (!message->held) return fail(v1::INVALID_STATE, "the message is not held");
    return std::nullopt;
  }
  if (entry.has_edit_message()) {
    if (!chat_enabled) return fail(v1::CHAT_DISABLED, "chat is off in this room");
    if (!own) return fail(v1::PERMISSION_DENIED, "you can only edit your own messages");
    if (muted_.contains(actor.user_id())) return fail(v1::MUTED, "you are muted in this room");
    return check_text(entry.edit_message().text(), limits_.max_message_chars, "message");
  }
  if (!own && !is_staff(actor.role())) return fail(v1::PERMISSION_DENIED, "you can only delete your own messages");
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// apply: the fold
// ---------------------------------------------------------------------------

Applied RoomState::apply(std::uint64_t seq, const v1::LogEntry& entry) {
  if (seq <= seq_) return {};
  seq_ = seq;
  now_ = std::max(now_, entry.at().seconds());
  forget_the_old();
  if (auto failure = check(entry)) {  // no longer fits: a raced or stale entry
    Applied refused;
    refused.refused = std::move(failure);
    return refused;
  }
  if (changes_nothing(entry)) {  // an identical entry came first (from another node)
    Applied unchanged;
    unchanged.changed_nothing = true;
    return unchanged;
  }

  fault::maybe_throw(fault::Where::fold, entry.say().text());
  Applied out;
  v1::Event event;
  event.set_room_id(room_id_);
  event.set_seq(seq);
  *event.mutable_at() = entry.at();
  *event.mutable_actor() = person_of(entry.actor());
  const std::string& actor_id = entry.actor().user_id();

  switch (entry.kind_case()) {
    case v1::LogEntry::kRoomCreated: {
      const auto& created = entry.room_created();
      created_ = true;
      created_seq_ = seq;
      epoch_ = created.epoch();
      kind_ = created.kind();
      title_ = created.title();
      settings_ = created.settings();
      passcode_hash_ = created.passcode_hash();
      created_at_ = entry.at();
      created_by_ = person_of(entry.actor());
      *event.mutable_room_opened() = room_info();
      break;
    }
    case v1::LogEntry::kRoomUpdated:
      settings_ = settings_after(settings_, entry.room_updated());
      if (entry.room_updated().remove_passcode()) passcode_hash_.clear();
      else if (!entry.room_updated().passcode_hash().empty()) passcode_hash_ = entry.room_updated().passcode_hash();
      if (!entry.room_updated().title().empty()) title_ = entry.room_updated().title();
      *event.mutable_room_updated() = room_info();
      out.presence_changed = true;  // member_list_limit may list or unlist everyone
      break;
    case v1::LogEntry::kRoomClosed:
      closed_ = true;
      *event.mutable_room_closed() = room_info();
      break;
    case v1::LogEntry::kJoined:
    case v1::LogEntry::kLeft:
    case v1::LogEntry::kPresence: {
      // Presence news is for staff (one event for the whole batch); everyone
      // else hears how many are here from Room's coalesced Presence pushes.
      PresenceDelta delta;
      if (entry.has_joined()) apply_joined(entry.actor(), entry.joined(), delta);
      if (entry.has_left()) apply_left(entry.actor(), entry.left(), delta);
      for (const auto& change : entry.presence().changes()) {
        if (change.has_joined()) apply_joined(change.actor(), change.joined(), delta);
        if (change.has_left()) apply_left(change.actor(), change.left(), delta);
      }
      out.presence_changed = true;
      // Only the net change is news: someone who dropped and came back
      // within one batch neither left nor joined.
      v1::MembersChanged changed;
      for (const auto& user_id : delta.order) {
        const auto& person = delta.people.at(user_id);
        const bool present = is_present(user_id);
        if (present && !person.was_present) *changed.add_joined() = member_view(members_.at(user_id));
        if (!present && person.was_present && person.left) *changed.add_left() = *person.left;
      }
      if (changed.joined_size() == 0 && changed.left_size() == 0) return out;  // another tab, say
      changed.set_present(present_people_);
      *event.mutable_members_changed() = std::move(changed);
      event.clear_actor();
      out.audience = Audience{true, {}};
      break;
    }
    case v1::LogEntry::kMute: {
      const auto& mute = entry.mute();
      if (mute.muted() == muted_.contains(mute.user_id())) return {};
      if (mute.muted()) muted_.insert(mute.user_id());
      else muted_.erase(mute.user_id());
      *event.mutable_member_muted() = member_view(members_.at(mute.user_id()));
      // Moderation is between staff and the person: nobody else is told
      // who was muted, banned or removed.
      out.audience = Audience{true, mute.user_id()};
      out.presence_changed = true;
      // Kept only for the mute: an anonymous person who left goes with it.
      if (!mute.muted()) forget_if_gone(mute.user_id());
      break;
    }
    case v1::LogEntry::kBan: {
      const auto& ban = entry.ban();
      if (ban.banned() == banned_.contains(ban.user_id())) return {};
      MemberRecord& member = members_.at(ban.user_id());
      out.audience = Audience{true, ban.user_id()};
      out.presence_changed = true;
      if (ban.banned()) {
        banned_.insert(ban.user_id());
        const bool was_present = !member.connections.empty();
        member.connections.clear();
        note_presence(ban.user_id(), was_present);
        out.removed_user = ban.user_id();
      } else {
        banned_.erase(ban.user_id());
      }
      auto* banned = event.mutable_member_banned();
      *banned->mutable_person() = member.person;
      banned->set_banned(ban.banned());
      if (!ban.banned()) forget_if_gone(ban.user_id());  // as for a mute
      break;
    }
    case v1::LogEntry::kKick: {
      MemberRecord& member = members_.at(entry.kick().user_id());
      const bool was_present = !member.connections.empty();
      member.connections.clear();
      note_presence(entry.kick().user_id(), was_present);
      out.removed_user = entry.kick().user_id();
      out.audience = Audience{true, entry.kick().user_id()};
      out.presence_changed = true;
      auto* left = event.mutable_member_left();
      *left->mutable_person() = member.person;
      left->set_reason(v1::MemberLeft::REASON_KICKED);
      forget_if_gone(entry.kick().user_id());
      break;
    }
    case v1::LogEntry::kAsk: {
      if (!is_staff(entry.actor().role())) note_post(actor_id, entry.at());
      QuestionRecord& question = questions_[seq];
      question.id = seq;
      question.author = person_of(entry.actor());
      question.anonymous = entry.ask().anonymous();
      question.text = entry.ask().text();
      // Staff skip the queue, except when anonymous: a question that appears
      // at once would give away that staff asked it.
      const bool skips_queue = is_staff(entry.actor().role()) && !question.anonymous;
      question.state = settings_.require_approval() && !skips_queue ? v1::QUESTION_STATE_PENDING
                                                                    : v1::QUESTION_STATE_OPEN;
      question.asked_at = entry.at();
      question.flagged = entry.ask().flagged();
      // A room that holds what may be a crisis lets a moderator see it first.
      if (question.flagged && settings_.crisis_policy() == v1::CRISIS_POLICY_HOLD) {
        question.state = v1::QUESTION_STATE_PENDING;
      }
      question.ever_public = question.state == v1::QUESTION_STATE_OPEN;
      *event.mutable_question_asked() = question_view(question, "");
      out.audience = question_audience(question);
      if (question.anonymous) event.clear_actor();
      break;
    }
    case v1::LogEntry::kVote: {
      QuestionRecord& question = questions_.at(entry.vote().question_id());
      const bool changed = entry.vote().up() ? question.voters.insert(actor_id).second
                                             : question.voters.erase(actor_id) > 0;
      if (!changed) return {};
      auto* votes = event.mutable_question_votes();
      votes->set_question_id(question.id);
      votes->set_votes(static_cast<std::uint32_t>(question.voters.size()));
      // Who voted for what is nobody else's business.
      event.clear_actor();
      break;
    }
    case v1::LogEntry::kPin: {
      const std::uint64_t id = entry.pin().question_id();
      if (id == pinned_) return {};
      auto* pinned = event.mutable_question_pinned();
      pinned->set_question_id(id);
      pinned->set_previous_id(pinned_);
      pinned_ = id;
      break;
    }
    case v1::LogEntry::kApprove:
    case v1::LogEntry::kDismiss:
    case v1::LogEntry::kAnswer:
    case v1::LogEntry::kMarkAnswered:
    case v1::LogEntry::kEditQuestion:
    case v1::LogEntry::kDeleteQuestion: {
      const std::uint64_t id = entry.has_approve()         ? entry.approve().question_id()
                               : entry.has_dismiss()       ? entry.dismiss().question_id()
                               : entry.has_answer()        ? entry.answer().question_id()
                               : entry.has_mark_answered() ? entry.mark_answered().question_id()
                               : entry.has_edit_question() ? entry.edit_question().id()
                                                           : entry.delete_question().question_id();
      if (!questions_.contains(id)) {  // a forgotten one (only a delete gets here)
        v1::Question tombstone;
        tombstone.set_id(id);
        tombstone.set_state(v1::QUESTION_STATE_DELETED);
        *event.mutable_question_deleted() = std::move(tombstone);
        event.clear_actor();  // it may have been asked anonymously
        break;
      }
      QuestionRecord& question = questions_.at(id);
      // Who saw it before the change must hear of the change (a deleted
      // pending question stays among staff and its author).
      out.audience = question_audience(question);
      if (entry.has_approve()) {
        question.state = v1::QUESTION_STATE_OPEN;
        question.ever_public = true;
        out.audience = {};
      } else if (entry.has_dismiss()) {
        question.state = v1::QUESTION_STATE_DISMISSED;
      } else if (entry.has_answer()) {
        v1::Answer answer;
        answer.set_text(entry.answer().text());
        *answer.mutable_by() = person_of(entry.actor());
        *answer.mutable_at() = entry.at();
        question.answer = std::move(answer);
      } else if (entry.has_mark_answered()) {
        question.state = v1::QUESTION_STATE_ANSWERED;
        if (pinned_ == id) pinned_ = 0;
      } else if (entry.has_edit_question()) {
        question.text = entry.edit_question().text();
        question.edited_at = entry.at();
        question.flagged = question.flagged || entry.edit_question().flagged();
        if (entry.edit_question().flagged()) question.handled_by.reset();
      } else {
        question.state = v1::QUESTION_STATE_DELETED;
        question.text.clear();
        question.voters.clear();
        question.answer.reset();
        if (pinned_ == id) pinned_ = 0;
      }
      note_question_state(question);
      if (question.anonymous && actor_id == question.author.user_id()) event.clear_actor();
      if (entry.has_delete_question()) *event.mutable_question_deleted() = question_view(question, "");
      else *event.mutable_question_updated() = question_view(question, "");
      break;
    }
    case v1::LogEntry::kSay: {
      if (!is_staff(entry.actor().role())) note_post(actor_id, entry.at());
      MessageRecord& message = messages_[seq];
      message.id = seq;
      message.author = person_of(entry.actor());
      message.text = entry.say().text();
      message.reply_to_message_id = entry.say().reply_to_message_id();
      message.reply_to_question_id = entry.say().reply_to_question_id();
      message.sent_at = entry.at();
      message.flagged = entry.say().flagged();
      message.held = message.flagged && settings_.crisis_policy() == v1::CRISIS_POLICY_HOLD;
      if (entry.say().private_reply()) {
        const QuestionRecord* question = find_question(message.reply_to_question_id);
        const MessageRecord* parent = find_message(message.reply_to_message_id);
        message.private_to = question ? question->author.user_id() : parent ? parent->author.user_id() : "";
      }
      out.audience = message_audience(message);
      *event.mutable_message_posted() = message_view(message);
      break;
    }
    case v1::LogEntry::kEditMessage: {
      MessageRecord& message = messages_.at(entry.edit_message().id());
      message.text = entry.edit_message().text();
      message.edited_at = entry.at();
      // Staff's private replies use the crisis words too: never flagged.
      const bool flagged = entry.edit_message().flagged() && message.private_to.empty();
      message.flagged = message.flagged || flagged;
      if (flagged) message.handled_by.reset();
      out.audience = message_audience(message);
      *event.mutable_message_edited() = message_view(message);
      break;
    }
    case v1::LogEntry::kReport: {
      const auto& report = entry.report();
      std::unordered_set<std::string>& reporters = report.question_id() != 0
                                                      ? questions_.at(report.question_id()).reporters
                                                      : messages_.at(report.message_id()).reporters;
      if (!reporters.insert(actor_id).second) return {};
      // A new report needs attention again, whoever handled the last.
      if (report.question_id() != 0)
        questions_.at(report.question_id()).handled_by.reset();
      else
        messages_.at(report.message_id()).handled_by.reset();
      auto* reported = event.mutable_item_reported();
      reported->set_question_id(report.question_id());
      reported->set_message_id(report.message_id());
      reported->set_reports(static_cast<std::uint32_t>(reporters.size()));
      reported->set_reason(report.reason());
      reported->set_reporter_reports(reports_by(actor_id));
      auto* alert = event.mutable_alert();
      alert->set_kind(v1::Alert::KIND_REPORT);
      alert->set_question_id(report.question_id());
      alert->set_message_id(report.message_id());
      out.audience = Audience{true, {}};  // staff only: not even the author
      break;
    }
    case v1::LogEntry::kHandled: {
      const auto& handled = entry.handled();
      auto& handled_by = handled.question_id() != 0 ? questions_.at(handled.question_id()).handled_by
                                                    : messages_.at(handled.message_id()).handled_by;
      handled_by = person_of(entry.actor());
      event.mutable_alert_handled()->set_question_id(handled.question_id());
      event.mutable_alert_handled()->set_message_id(handled.message_id());
      out.audience = Audience{true, {}};  // staff only
      break;
    }
    case v1::LogEntry::kReleaseMessage: {
      MessageRecord& message = messages_.at(entry.release_message().message_id());
      message.held = false;
      // Everyone now gets the whole message (clients upsert by id).
      *event.mutable_message_edited() = message_view(message);
      break;
    }
    case v1::LogEntry::kDeleteMessage: {
      const auto held = messages_.find(entry.delete_message().message_id());
      if (held == messages_.end()) {  // a forgotten one
        event.mutable_message_deleted()->set_id(entry.delete_message().message_id());
        event.mutable_message_deleted()->set_deleted(true);
        // It may have been held: that its author deleted it is nobody's news.
        event.clear_actor();
        break;
      }
      MessageRecord& message = held->second;
      out.audience = message_audience(message);  // who saw it hears it went
      message.deleted = true;
      message.text.clear();
      *event.mutable_message_deleted() = message_view(message);
      break;
    }
    case v1::LogEntry::kErase: {
      // Their name goes too, also from the member list while they stay
      // (the entry itself carries none: Room::erase).
      redact(actor_id);
      out.presence_changed = true;
      auto* erased = event.mutable_content_erased();
      v1::ContentErased for_staff;
      for (auto& [id, question] : questions_) {
        // Their anonymous questions each go by a deletion of their own
        // (Room::run_erasure): here they would be tied to the person.
        if (question.anonymous && question.author.user_id() == actor_id && entry.erase().anonymous_apart())
          continue;
        if (question.author.user_id() == actor_id && question.state != v1::QUESTION_STATE_DELETED) {
          question.state = v1::QUESTION_STATE_DELETED;
          question.text.clear();
          question.voters.clear();
          question.answer.reset();
          question.flagged = false;
          question.reporters.clear();
          if (pinned_ == id) pinned_ = 0;
          note_question_state(question);
        } else if (question.answer && question.answer->by().user_id() == actor_id) {
          question.answer.reset();
        } else {
          continue;
        }
        *for_staff.add_questions() = question_view(question, "");
        if (!question_audience(question).staff_only) *erased->add_questions() = for_staff.questions().rbegin()[0];
      }
      for (auto& [id, message] : messages_) {
        if (message.author.user_id() != actor_id || message.deleted) continue;
        message.deleted = true;
        message.text.clear();
        message.flagged = false;
        message.reporters.clear();
        *for_staff.add_messages() = message_view(message);
        if (!message_audience(message).staff_only) *erased->add_messages() = for_staff.messages().rbegin()[0];
      }
      // Forgotten items only for staff: whether each was ever public (held,
      // pending) is not known here, and listing one that was not beside
      // this person's public items would tell everyone of it.
      add_forgotten_erased(entry.erase(), for_staff);
      // Who erased is not said: the items are the news.
      event.clear_actor();
      if (for_staff.questions_size() != erased->questions_size() ||
          for_staff.messages_size() != erased->messages_size()) {
        v1::Event staff = event;
        *staff.mutable_content_erased() = std::move(for_staff);
        out.staff_event = std::move(staff);
      }
      break;
    }
    case v1::LogEntry::kTrim: {
      // Only what came before this entry can be trimmed by it.
      const std::uint64_t up_to = std::min(entry.trim().up_to_seq(), seq - 1);
      if (!trim(up_to)) return {};
      event.mutable_items_expired()->set_up_to_seq(up_to);
      event.clear_actor();
      break;
    }
    default:
      return {};
  }
  // Staff see a crisis flag on the item, with an alert; nobody else does.
  if (const auto alert = crisis_alert(entry, seq)) {
    v1::Event staff = event;
    if (staff.has_question_asked()) staff.mutable_question_asked()->set_flagged(true);
    if (staff.has_question_updated()) staff.mutable_question_updated()->set_flagged(true);
    if (staff.has_message_posted()) staff.mutable_message_posted()->set_flagged(true);
    if (staff.has_message_edited()) staff.mutable_message_edited()->set_flagged(true);
    *staff.mutable_alert() = *alert;
    out.staff_event = std::move(staff);
  }
  forget_over_limits();
  out.event = std::move(event);
  return out;
}

bool RoomState::forgot_message(std::uint64_t id) const {
  return id > trimmed_up_to_ && id <= messages_forgotten_up_to_ && !messages_.contains(id);
}

bool RoomState::bans_anonymous() const {
  return std::ranges::any_of(banned_,
                             [](const std::string& user_id) { return user_id.starts_with("anon:"); });
}

std::uint32_t RoomState::reports_by(const std::string& user_id) const {
  std::uint32_t count = 0;
  for (const auto& [id, question] : questions_) count += question.reporters.contains(user_id) ? 1 : 0;
  for (const auto& [id, message] : messages_) count += message.reporters.contains(user_id) ? 1 : 0;
  return count;
}

std::vector<std::uint64_t> RoomState::anonymous_questions_of(const std::string& user_id) const {
  std::vector<std::uint64_t> out;
  for (const auto& [id, question] : questions_) {
    if (question.anonymous && question.author.user_id() == user_id &&
        question.state != v1::QUESTION_STATE_DELETED) {
      out.push_back(id);
    }
  }
  return out;  // a std::map: in id order
}

bool RoomState::forgot_question(std::uint64_t id) const {
  return id > trimmed_up_to_ && id <= questions_forgotten_up_to_ && !questions_.contains(id);
}

void RoomState::note_question_state(const QuestionRecord& question) {
  const bool closed = question.state == v1::QUESTION_STATE_ANSWERED ||
                      question.state == v1::QUESTION_STATE_DISMISSED ||
                      question.state == v1::QUESTION_STATE_DELETED;
  if (closed)
    closed_questions_.insert(question.id);
  else
    closed_questions_.erase(question.id);
}

void RoomState::forget_over_limits() {
  // By the fold alone (ids and counts), so that every node, and one that
  // starts from a checkpoint, forgets alike.
  // Held messages stay (they wait for staff) while others can go; when
  // only held ones are over the limit, the oldest of them go too.
  while (messages_.size() > limits_.messages_in_memory) {
    auto gone =
        std::find_if(messages_.begin(), messages_.end(), [](const auto& item) { return !item.second.held; });
    if (gone == messages_.end()) gone = messages_.begin();
    messages_forgotten_up_to_ = std::max(messages_forgotten_up_to_, gone->first);
    messages_.erase(gone);
  }
  while (closed_questions_.size() > limits_.closed_questions_in_memory) {
    const std::uint64_t id = *closed_questions_.begin();
    questions_forgotten_up_to_ = std::max(questions_forgotten_up_to_, id);
    questions_.erase(id);
    closed_questions_.erase(closed_questions_.begin());
  }
}

void RoomState::add_forgotten_erased(const v1::EraseEntry& entry, v1::ContentErased& erased) const {
  for (const std::uint64_t id : entry.question_ids()) {
    if (!forgot_question(id)) continue;
    auto* tombstone = erased.add_questions();
    tombstone->set_id(id);
    tombstone->set_state(v1::QUESTION_STATE_DELETED);
  }
  for (const std::uint64_t id : entry.message_ids()) {
    if (!forgot_message(id)) continue;
    auto* tombstone = erased.add_messages();
    tombstone->set_id(id);
    tombstone->set_deleted(true);
  }
}

std::optional<v1::Alert> RoomState::crisis_alert(const v1::LogEntry& entry, std::uint64_t seq) const {
  v1::Alert alert;
  alert.set_kind(v1::Alert::KIND_CRISIS);
  if (entry.has_ask() && entry.ask().flagged()) {
    alert.set_question_id(seq);
    alert.set_writer_shown(entry.ask().support_shown());
  } else if (entry.has_edit_question() && entry.edit_question().flagged()) {
    alert.set_question_id(entry.edit_question().id());
    alert.set_writer_shown(entry.edit_question().support_shown());
  } else if (entry.has_say() && entry.say().flagged()) {
    alert.set_message_id(seq);
    alert.set_writer_shown(entry.say().support_shown());
  } else if (entry.has_edit_message() && entry.edit_message().flagged() &&
             !is_private_reply(entry.edit_message().id())) {
    alert.set_message_id(entry.edit_message().id());
    alert.set_writer_shown(entry.edit_message().support_shown());
  } else {
    return std::nullopt;
  }
  return alert;
}

bool RoomState::is_private_reply(std::uint64_t message_id) const {
  const MessageRecord* message = find_message(message_id);
  return message != nullptr && !message->private_to.empty();
}

Audience RoomState::message_audience(const MessageRecord& message) const {
  if (!message.private_to.empty()) return Audience{true, message.private_to};
  if (message.held) return Audience{true, message.author.user_id()};
  return {};
}

std::vector<RoomState::PresentConnection> RoomState::present_connections() const {
  std::vector<PresentConnection> out;
  for (const auto& [user_id, member] : members_) {
    for (const auto& [connection_id, connection] : member.connections) {
      out.push_back(PresentConnection{Membership{user_id, member.person.display_name(), connection.role},
                                      connection_id, connection.node_id});
    }
  }
  return out;
}

bool RoomState::changes_nothing(const v1::LogEntry& entry) const {
  switch (entry.kind_case()) {
    case v1::LogEntry::kVote: {
      const QuestionRecord* question = find_question(entry.vote().question_id());
      return question && entry.vote().up() == question->voters.contains(entry.actor().user_id());
    }
    case v1::LogEntry::kPin: return entry.pin().question_id() == pinned_;
    case v1::LogEntry::kMute: return entry.mute().muted() == muted_.contains(entry.mute().user_id());
    case v1::LogEntry::kBan: return entry.ban().banned() == banned_.contains(entry.ban().user_id());
    case v1::LogEntry::kHandled: {
      const QuestionRecord* question = find_question(entry.handled().question_id());
      const MessageRecord* message = find_message(entry.handled().message_id());
      return question ? question->handled_by.has_value() : message && message->handled_by.has_value();
    }
    case v1::LogEntry::kReport: {
      const auto& report = entry.report();
      const auto& reporter = entry.actor().user_id();
      if (report.question_id() != 0) {
        const QuestionRecord* question = find_question(report.question_id());
        return question && question->reporters.contains(reporter);
      }
      const MessageRecord* message = find_message(report.message_id());
      return message && message->reporters.contains(reporter);
    }
    default: return false;
  }
}

bool RoomState::trim(std::uint64_t up_to) {
  if (up_to <= trimmed_up_to_) return false;
  trimmed_up_to_ = up_to;
  questions_.erase(questions_.begin(), questions_.upper_bound(up_to));
  closed_questions_.erase(closed_questions_.begin(), closed_questions_.upper_bound(up_to));
  messages_.erase(messages_.begin(), messages_.upper_bound(up_to));
  if (pinned_ != 0 && pinned_ <= up_to) pinned_ = 0;
  return true;
}

void RoomState::redact(const std::string& user_id) {
  const auto redact_text = [](std::string& text) {
    if (!text.empty()) text = kErasedText;
  };
  const auto redact_handler = [&user_id](std::optional<v1::Person>& handled_by) {
    if (handled_by && handled_by->user_id() == user_id) handled_by->clear_display_name();
  };
  for (auto& [id, question] : questions_) {
    redact_handler(question.handled_by);
    if (question.author.user_id() == user_id) {
      redact_text(question.text);
      question.author.clear_display_name();
    }
    if (question.answer && question.answer->by().user_id() == user_id) {
      redact_text(*question.answer->mutable_text());
      question.answer->mutable_by()->clear_display_name();
    }
  }
  for (auto& [id, message] : messages_) {
    redact_handler(message.handled_by);
    if (message.author.user_id() != user_id) continue;
    redact_text(message.text);
    message.author.clear_display_name();
  }
  if (const auto it = members_.find(user_id); it != members_.end()) it->second.person.clear_display_name();
  if (created_by_.user_id() == user_id) created_by_.clear_display_name();
}

bool redact_entry(v1::LogEntry& entry, const std::string& user_id) {
  if (entry.has_presence()) {
    // The server's own entry: only the names in its changes are anyone's.
    bool changed = false;
    for (auto& change : *entry.mutable_presence()->mutable_changes()) {
      if (change.actor().user_id() != user_id || change.actor().display_name().empty()) continue;
      change.mutable_actor()->clear_display_name();
      changed = true;
    }
    return changed;
  }
  if (entry.actor().user_id() != user_id) return false;
  bool changed = !entry.actor().display_name().empty();
  entry.mutable_actor()->clear_display_name();
  const auto redact_text = [&changed](std::string* text) {
    if (text->empty() || *text == kErasedText) return;
    *text = kErasedText;
    changed = true;
  };
  switch (entry.kind_case()) {
    case v1::LogEntry::kAsk: redact_text(entry.mutable_ask()->mutable_text()); break;
    case v1::LogEntry::kAnswer: redact_text(entry.mutable_answer()->mutable_text()); break;
    case v1::LogEntry::kEditQuestion: redact_text(entry.mutable_edit_question()->mutable_text()); break;
    case v1::LogEntry::kSay: redact_text(entry.mutable_say()->mutable_text()); break;
    case v1::LogEntry::kEditMessage: redact_text(entry.mutable_edit_message()->mutable_text()); break;
    case v1::LogEntry::kReport:
      changed = changed || !entry.report().reason().empty();
      entry.mutable_report()->clear_reason();
      break;
    default: break;
  }
  return changed;
}

std::uint64_t item_acted_on(const v1::LogEntry& entry) {
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
    case v1::LogEntry::kEditMessage:
      return entry.edit_message().id();
    case v1::LogEntry::kDeleteMessage:
      return entry.delete_message().message_id();
    case v1::LogEntry::kReleaseMessage:
      return entry.release_message().message_id();
    case v1::LogEntry::kReport: {  // one of the two ids (check_one_item)
      const auto& report = entry.report();
      return report.question_id() != 0 ? report.question_id() : report.message_id();
    }
    case v1::LogEntry::kHandled: {
      const auto& handled = entry.handled();
      return handled.question_id() != 0 ? handled.question_id() : handled.message_id();
    }
    default:
      return 0;
  }
}

RoomState::PresenceDelta::Person& RoomState::PresenceDelta::of(const std::string& user_id, bool was_present) {
  auto [it, fresh] = people.try_emplace(user_id, Person{was_present, std::nullopt});
  if (fresh) order.push_back(user_id);
  return it->second;
}

void RoomState::apply_joined(const v1::Actor& actor, const v1::JoinedEntry& joined, PresenceDelta& delta) {
  // A join that raced a ban or the close (on another node) does not take
  // effect; Room::finish_join tells the joiner why.
  if (closed_ || banned_.contains(actor.user_id())) return;
  MemberRecord& member = members_[actor.user_id()];
  const bool was_present = !member.connections.empty();
  delta.of(actor.user_id(), was_present);
  // The name is that of the first connection while any remains (another
  // tab does not silently rename a member); the role is the highest any
  // present connection holds, since roles come per join token.
  if (!was_present) member.person = person_of(actor);
  const ConnectionRecord connection{actor.role(), joined.node_id()};
  if (!member.connections.emplace(joined.connection_id(), connection).second) return;
  if (was_present && static_cast<int>(actor.role()) > static_cast<int>(member.person.role())) {
    member.person.set_role(actor.role());
  }
  note_presence(actor.user_id(), was_present);
}

void RoomState::apply_left(const v1::Actor& actor, const v1::LeftEntry& left, PresenceDelta& delta) {
  const auto it = members_.find(actor.user_id());
  if (it == members_.end() || it->second.connections.erase(left.connection_id()) == 0) return;
  auto& noted = delta.of(actor.user_id(), true);
  MemberRecord& member = it->second;
  if (!member.connections.empty()) {
    v1::Role highest = v1::ROLE_UNSPECIFIED;
    for (const auto& [id, connection] : member.connections) highest = std::max(highest, connection.role);
    member.person.set_role(highest);
    note_presence(actor.user_id(), true);
    return;
  }
  note_presence(actor.user_id(), true);
  noted.left.emplace();
  *noted.left->mutable_person() = member.person;
  noted.left->set_reason(left.reason());
  forget_if_gone(actor.user_id());
}

void RoomState::note_presence(const std::string& user_id, bool was_present) {
  const auto it = members_.find(user_id);
  const bool present = it != members_.end() && !it->second.connections.empty();
  if (present && !was_present) ++present_people_;
  if (!present && was_present) --present_people_;
  if (present && is_staff(it->second.person.role())) present_staff_.insert(user_id);
  else present_staff_.erase(user_id);
  track_departure(user_id);
}

void RoomState::track_departure(const std::string& user_id) {
  const auto it = members_.find(user_id);
  if (it == members_.end()) return;
  MemberRecord& member = it->second;
  if (!member.connections.empty()) {
    if (member.left_at) departed_.erase({*member.left_at, user_id});
    member.left_at.reset();
  } else if (!member.left_at) {
    member.left_at = now_;
    departed_.emplace(now_, user_id);
  }
}

void RoomState::forget_the_old() {
  while (!departed_.empty() && departed_.begin()->first < now_ - kForgetDepartedSeconds) {
    const std::string user_id = departed_.begin()->second;
    departed_.erase(departed_.begin());
    const auto it = members_.find(user_id);
    if (it == members_.end() || !it->second.connections.empty()) continue;
    // A mute or ban must hold when they come back: kept, for good.
    if (muted_.contains(user_id) || banned_.contains(user_id)) continue;
    members_.erase(it);
  }
  // A post older than the longest slow mode holds nobody back.
  while (!posts_by_time_.empty() && posts_by_time_.begin()->first < now_ - kMaxSlowModeSeconds) {
    last_post_.erase(posts_by_time_.begin()->second);
    posts_by_time_.erase(posts_by_time_.begin());
  }
}

void RoomState::note_post(const std::string& user_id, const google::protobuf::Timestamp& at) {
  auto [it, fresh] = last_post_.try_emplace(user_id, at);
  if (!fresh) {
    posts_by_time_.erase({it->second.seconds(), user_id});
    it->second = at;
  }
  posts_by_time_.emplace(at.seconds(), user_id);
}

// An anonymous identity that left keeps no record (nobody needs its name
// any more; if it comes back with its resume token, its Joined entry makes a
// new one), unless a mute or ban must be kept.
void RoomState::forget_if_gone(const std::string& user_id) {
  if (!user_id.starts_with("anon:") || muted_.contains(user_id) || banned_.contains(user_id)) return;
  const auto it = members_.find(user_id);
  if (it == members_.end() || !it->second.connections.empty()) return;
  if (it->second.left_at) departed_.erase({*it->second.left_at, user_id});
  members_.erase(it);
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

const RoomState::QuestionRecord* RoomState::find_question(std::uint64_t id) const {
  const auto it = questions_.find(id);
  return it == questions_.end() ? nullptr : &it->second;
}

const RoomState::MessageRecord* RoomState::find_message(std::uint64_t id) const {
  const auto it = messages_.find(id);
  return it == messages_.end() ? nullptr : &it->second;
}

// What the actor may not see (a pending question of someone else, a held
// message) does not exist, as far as they know; nor does a deleted item.
const RoomState::QuestionRecord* RoomState::visible_question(std::uint64_t id, const v1::Actor& actor) const {
  const QuestionRecord* question = find_question(id);
  if (question == nullptr || question->state == v1::QUESTION_STATE_DELETED ||
      !may_see(question_audience(*question), actor.user_id(), actor.role())) {
    return nullptr;
  }
  return question;
}

const RoomState::MessageRecord* RoomState::visible_message(std::uint64_t id, const v1::Actor& actor) const {
  const MessageRecord* message = find_message(id);
  if (message == nullptr || message->deleted || !may_see(message_audience(*message), actor.user_id(), actor.role())) {
    return nullptr;
  }
  return message;
}

const v1::Person* RoomState::known_person(const std::string& user_id) const {
  const auto it = members_.find(user_id);
  return it == members_.end() ? nullptr : &it->second.person;
}

Audience RoomState::question_audience(const QuestionRecord& question) const {
  // A question nobody but staff and its author ever saw stays among them,
  // tombstone included.
  if (!question.ever_public) return Audience{true, question.author.user_id()};
  return {};
}

v1::RoomInfo RoomState::room_info() const {
  v1::RoomInfo info;
  info.set_room_id(room_id_);
  info.set_kind(kind_);
  info.set_title(title_);
  *info.mutable_settings() = settings_;
  info.set_closed(closed_);
  *info.mutable_created_at() = created_at_;
  *info.mutable_created_by() = created_by_;
  info.set_has_passcode(!passcode_hash_.empty());
  return info;
}

v1::Member RoomState::member_view(const MemberRecord& member) const {
  v1::Member view;
  *view.mutable_person() = member.person;
  view.set_muted(muted_.contains(member.person.user_id()));
  return view;
}

v1::Question RoomState::question_view(const QuestionRecord& question, const std::string& viewer) const {
  v1::Question view;
  view.set_id(question.id);
  view.set_state(question.state);
  view.set_anonymous(question.anonymous);
  *view.mutable_asked_at() = question.asked_at;
  if (question.state == v1::QUESTION_STATE_DELETED) return view;  // tombstone
  const bool own = !viewer.empty() && viewer == question.author.user_id();
  *view.mutable_author() = question.anonymous && !own ? anonymous_person() : question.author;
  view.set_text(question.text);
  view.set_votes(static_cast<std::uint32_t>(question.voters.size()));
  view.set_voted_by_me(!viewer.empty() && question.voters.contains(viewer));
  view.set_pinned(pinned_ == question.id);
  if (question.edited_at) *view.mutable_edited_at() = *question.edited_at;
  if (question.answer) *view.mutable_answer() = *question.answer;
  // Only staff and the author see a question in these states (question_
  // audience), and the author saw the support already.
  const bool unseen =
      question.state == v1::QUESTION_STATE_PENDING || question.state == v1::QUESTION_STATE_DISMISSED;
  view.set_support_offered(question.flagged && unseen);
  return view;
}

v1::ChatMessage RoomState::message_view(const MessageRecord& message) const {
  v1::ChatMessage view;
  view.set_id(message.id);
  view.set_reply_to_message_id(message.reply_to_message_id);
  view.set_reply_to_question_id(message.reply_to_question_id);
  *view.mutable_sent_at() = message.sent_at;
  view.set_deleted(message.deleted);
  view.set_private_reply(
      !message.private_to.empty());  // a tombstone too: its recipient's client files it apart
  if (message.deleted) return view;  // tombstone
  view.set_held(message.held);
  *view.mutable_author() = message.author;
  view.set_text(message.text);
  if (message.edited_at) *view.mutable_edited_at() = *message.edited_at;
  return view;
}

bool RoomState::lists_members() const {
  const std::uint32_t limit = settings_.member_list_limit() != 0 ? settings_.member_list_limit()
                                                                 : kDefaultMemberListLimit;
  return kind_ == v1::ROOM_KIND_SUPPORT && present_people_ <= limit;
}

v1::Presence RoomState::presence_for(bool staff) const {
  v1::Presence presence;
  presence.set_room_id(room_id_);
  presence.set_present(present_people_);
  add_present_staff(*presence.mutable_staff(), staff);
  if (!staff && lists_members()) {
    presence.set_listed(true);
    std::size_t matched = 0;
    for (const MemberRecord* record : present_by_id("", "", present_people_, matched)) {
      v1::Member* member = presence.add_members();
      *member = member_view(*record);
      member->clear_muted();
    }
  }
  return presence;
}

std::vector<const RoomState::MemberRecord*> RoomState::present_by_id(const std::string& needle,
                                                                     const std::string& after, std::size_t limit,
                                                                     std::size_t& matched) const {
  std::vector<const MemberRecord*> found;
  for (const auto& [user_id, member] : members_) {
    if (member.connections.empty() || (!after.empty() && user_id <= after)) continue;
    if (!needle.empty() && ascii_lower(member.person.display_name()).find(needle) == std::string::npos) continue;
    found.push_back(&member);
  }
  matched = found.size();
  const std::size_t shown = std::min(found.size(), limit);
  std::partial_sort(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(shown), found.end(),
                    [](const MemberRecord* a, const MemberRecord* b) { return a->person.user_id() < b->person.user_id(); });
  found.resize(shown);
  return found;
}

void RoomState::add_present_staff(google::protobuf::RepeatedPtrField<v1::Member>& out, bool staff_viewer) const {
  for (const auto& user_id : present_staff_) {
    if (static_cast<std::size_t>(out.size()) == kPresenceStaff) break;
    v1::Member* member = out.Add();
    *member = member_view(members_.at(user_id));
    if (!staff_viewer) member->clear_muted();
  }
}

v1::MemberPage RoomState::member_page(const std::string& query, const std::string& after, std::size_t limit) const {
  std::size_t matched = 0;
  const auto shown = present_by_id(ascii_lower(query), after, limit, matched);
  v1::MemberPage page;
  page.set_present(present_people_);
  for (const MemberRecord* record : shown) *page.add_members() = member_view(*record);
  if (shown.size() < matched && !shown.empty()) page.set_next(shown.back()->person.user_id());
  return page;
}

v1::RoomSnapshot RoomState::snapshot_for(const std::string& viewer, v1::Role role) const {
  v1::RoomSnapshot snapshot;
  *snapshot.mutable_room() = room_info();
  snapshot.set_seq(seq_);
  snapshot.set_epoch(epoch_);
  if (const v1::Person* you = known_person(viewer)) *snapshot.mutable_you() = *you;
  snapshot.set_you_are_muted(muted_.contains(viewer));

  // Staff see everyone (the first kSnapshotMembers by user id; ListMembers
  // pages through the rest); participants the staff, and one another only
  // where the room lists its members.
  snapshot.set_present(present_people_);
  if (is_staff(role) || lists_members()) {
    std::size_t matched = 0;
    const auto shown = present_by_id("", "", kSnapshotMembers, matched);
    for (const MemberRecord* record : shown) {
      v1::Member* member = snapshot.add_members();
      *member = member_view(*record);
      if (!is_staff(role)) member->clear_muted();
    }
    snapshot.set_listed(shown.size() == matched);
  } else {
    // As in a Presence push: the staff, up to kPresenceStaff of them.
    add_present_staff(*snapshot.mutable_members(), false);
  }

  std::vector<const QuestionRecord*> visible;
  for (const auto& [id, question] : questions_) {
    if (may_see(question_audience(question), viewer, role)) visible.push_back(&question);
  }
  std::stable_sort(visible.begin(), visible.end(), [](const QuestionRecord* a, const QuestionRecord* b) {
    return a->voters.size() > b->voters.size();  // ties keep id (age) order
  });
  for (const QuestionRecord* question : visible) {
    auto* view = snapshot.add_questions();
    *view = question_view(*question, viewer);
    view->set_flagged(is_staff(role) && question->flagged && question->state != v1::QUESTION_STATE_DELETED);
    if (is_staff(role)) view->set_reports(static_cast<std::uint32_t>(question->reporters.size()));
    if (is_staff(role) && question->handled_by) *view->mutable_handled_by() = *question->handled_by;
  }

  const std::size_t skip = messages_.size() > limits_.snapshot_messages ? messages_.size() - limits_.snapshot_messages : 0;
  auto it = messages_.begin();
  std::advance(it, static_cast<std::ptrdiff_t>(skip));
  const bool staff = is_staff(role);
  for (; it != messages_.end(); ++it) {
    if (!may_see(message_audience(it->second), viewer, role)) continue;
    auto* message = snapshot.add_messages();
    *message = message_view(it->second);
    message->set_flagged(staff && it->second.flagged && !it->second.deleted);
    if (staff) message->set_reports(static_cast<std::uint32_t>(it->second.reporters.size()));
    if (staff && it->second.handled_by) *message->mutable_handled_by() = *it->second.handled_by;
  }
  return snapshot;
}

// ---------------------------------------------------------------------------
// Checkpoints
// ---------------------------------------------------------------------------

v1::RoomStateData RoomState::to_data() const {
  v1::RoomStateData data;
  data.set_seq(seq_);
  data.set_created(created_);
  data.set_epoch(epoch_);
  data.set_created_seq(created_seq_);
  data.set_closed(closed_);
  data.set_kind(kind_);
  data.set_title(title_);
  *data.mutable_settings() = settings_;
  *data.mutable_created_at() = created_at_;
  *data.mutable_created_by() = created_by_;
  data.set_pinned(pinned_);
  data.set_trimmed_up_to(trimmed_up_to_);
  data.set_passcode_hash(passcode_hash_);
  data.set_now_seconds(now_);
  data.set_messages_forgotten_up_to(messages_forgotten_up_to_);
  data.set_questions_forgotten_up_to(questions_forgotten_up_to_);
  for (const auto& [user_id, member] : members_) {
    auto* out = data.add_members();
    *out->mutable_person() = member.person;
    if (member.left_at) out->mutable_left_at()->set_seconds(*member.left_at);
    for (const auto& [connection_id, connection] : member.connections) {
      auto* c = out->add_connections();
      c->set_connection_id(connection_id);
      c->set_role(connection.role);
      c->set_node_id(connection.node_id);
    }
  }
  for (const auto& user_id : muted_) data.add_muted(user_id);
  for (const auto& [user_id, at] : last_post_) (*data.mutable_last_posts())[user_id] = at;
  for (const auto& user_id : banned_) data.add_banned(user_id);
  for (const auto& [id, question] : questions_) {
    auto* out = data.add_questions();
    out->set_id(question.id);
    *out->mutable_author() = question.author;
    out->set_anonymous(question.anonymous);
    out->set_ever_public(question.ever_public);
    out->set_text(question.text);
    out->set_state(question.state);
    for (const auto& voter : question.voters) out->add_voters(voter);
    *out->mutable_asked_at() = question.asked_at;
    if (question.edited_at) *out->mutable_edited_at() = *question.edited_at;
    if (question.answer) *out->mutable_answer() = *question.answer;
    out->set_flagged(question.flagged);
    for (const auto& reporter : question.reporters) out->add_reporters(reporter);
    if (question.handled_by) *out->mutable_handled_by() = *question.handled_by;
  }
  for (const auto& [id, message] : messages_) {
    auto* out = data.add_messages();
    out->set_id(message.id);
    *out->mutable_author() = message.author;
    out->set_text(message.text);
    out->set_reply_to_message_id(message.reply_to_message_id);
    out->set_reply_to_question_id(message.reply_to_question_id);
    out->set_deleted(message.deleted);
    *out->mutable_sent_at() = message.sent_at;
    if (message.edited_at) *out->mutable_edited_at() = *message.edited_at;
    out->set_flagged(message.flagged);
    out->set_held(message.held);
    for (const auto& reporter : message.reporters) out->add_reporters(reporter);
    if (message.handled_by) *out->mutable_handled_by() = *message.handled_by;
    out->set_private_to(message.private_to);
  }
  return data;
}

RoomState RoomState::from_data(std::string room_id, Limits limits, const v1::RoomStateData& data) {
  RoomState state(std::move(room_id), limits);
  state.seq_ = data.seq();
  state.created_ = data.created();
  state.epoch_ = data.epoch();
  state.created_seq_ = data.created_seq();
  state.closed_ = data.closed();
  state.kind_ = data.kind();
  state.title_ = data.title();
  state.settings_ = data.settings();
  state.created_at_ = data.created_at();
  state.created_by_ = data.created_by();
  state.pinned_ = data.pinned();
  state.trimmed_up_to_ = data.trimmed_up_to();
  state.passcode_hash_ = data.passcode_hash();
  state.now_ = data.now_seconds();
  state.messages_forgotten_up_to_ = data.messages_forgotten_up_to();
  state.questions_forgotten_up_to_ = data.questions_forgotten_up_to();
  for (const auto& member : data.members()) {
    MemberRecord& record = state.members_[member.person().user_id()];
    record.person = member.person();
    for (const auto& c : member.connections()) record.connections[c.connection_id()] = {c.role(), c.node_id()};
    if (record.connections.empty()) {
      // Written before left_at was: as if they had just left.
      record.left_at = member.has_left_at() ? member.left_at().seconds() : data.created_at().seconds();
      state.departed_.emplace(*record.left_at, member.person().user_id());
      state.now_ = std::max(state.now_, *record.left_at);
    }
  }
  state.muted_.insert(data.muted().begin(), data.muted().end());
  for (const auto& [user_id, at] : data.last_posts()) state.note_post(user_id, at);
  state.banned_.insert(data.banned().begin(), data.banned().end());
  for (const auto& [user_id, member] : state.members_) state.note_presence(user_id, false);
  for (const auto& question : data.questions()) {
    QuestionRecord& record = state.questions_[question.id()];
    record.id = question.id();
    record.author = question.author();
    record.anonymous = question.anonymous();
    record.ever_public = question.ever_public();
    record.text = question.text();
    record.state = question.state();
    record.voters.insert(question.voters().begin(), question.voters().end());
    record.asked_at = question.asked_at();
    if (question.has_edited_at()) record.edited_at = question.edited_at();
    if (question.has_answer()) record.answer = question.answer();
    record.flagged = question.flagged();
    record.reporters.insert(question.reporters().begin(), question.reporters().end());
    if (question.has_handled_by()) record.handled_by = question.handled_by();
    state.note_question_state(record);
  }
  for (const auto& message : data.messages()) {
    MessageRecord& record = state.messages_[message.id()];
    record.id = message.id();
    record.author = message.author();
    record.text = message.text();
    record.reply_to_message_id = message.reply_to_message_id();
    record.reply_to_question_id = message.reply_to_question_id();
    record.deleted = message.deleted();
    record.sent_at = message.sent_at();
    if (message.has_edited_at()) record.edited_at = message.edited_at();
    record.flagged = message.flagged();
    record.held = message.held();
    record.reporters.insert(message.reporters().begin(), message.reporters().end());
    if (message.has_handled_by()) record.handled_by = message.handled_by();
    record.private_to = message.private_to();
  }
  state.forget_over_limits();  // a checkpoint written under larger limits
  return state;
}

}  // namespace hearth
