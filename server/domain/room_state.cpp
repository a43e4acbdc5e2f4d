#include "domain/room_state.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "base/fault.hpp"
#include "domain/commands/entry_rules.hpp"

namespace hearth {
namespace {

using google::protobuf::util::TimeUtil;

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
  const EntryRules* rules = rules_for(entry.kind_case());
  const Gate gate = rules ? rules->gate : Gate::member;
  if (gate == Gate::creation) return rules->check(*this, entry);
  if (!created_) return fail(v1::ROOM_NOT_FOUND, "no such room");
  const std::string& actor = entry.actor().user_id();
  switch (gate) {
    case Gate::creation:
    case Gate::server:
      break;
    case Gate::own_content:
      if (!is_present(actor)) return fail(v1::NOT_IN_ROOM, "you are not in this room");
      break;
    case Gate::arrival:
    case Gate::member:
      if (closed_ && !(rules && rules->taken_when_closed && rules->taken_when_closed(entry))) {
        return fail(v1::ROOM_CLOSED, "the room is closed");
      }
      // Someone banned or kicked meanwhile (their commands may still be on
      // the way) does nothing more.
      if (banned_.contains(actor)) return fail(v1::BANNED, "you are banned from this room");
      if (gate == Gate::member && !is_present(actor))
        return fail(v1::NOT_IN_ROOM, "you are not in this room");
      break;
  }
  if (rules == nullptr) return fail(v1::UNKNOWN_COMMAND, "unknown command");
  return rules->check ? rules->check(*this, entry) : std::nullopt;
}

// A command that names one item, a question or a message: exactly one of
// the two ids, and not one the room no longer holds (1.16).
std::optional<Failure> RoomState::check_one_item(std::uint64_t question_id, std::uint64_t message_id,
                                                 const char* too_old_for) const {
  if (auto failure = one_of_two_ids(question_id, message_id)) return failure;
  if (forgot_question(question_id) || forgot_message(message_id)) {
    return fail(question_id != 0 ? v1::QUESTION_NOT_FOUND : v1::MESSAGE_NOT_FOUND,
                std::string("this is too old ") + too_old_for);
  }
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
  Fold fold{seq, entry, event, out};
  if (!rules_for(entry.kind_case())->apply(*this, fold)) return out;
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
  add_author_event(out, event);
  forget_over_limits();
  out.event = std::move(event);
  return out;
}

// The author of an anonymous question sees it as theirs in every event that
// shows it, as in their snapshot; the shared event names nobody.
void RoomState::add_author_event(Applied& out, const v1::Event& event) const {
  const v1::Question* shown = event.has_question_asked()     ? &event.question_asked()
                              : event.has_question_updated() ? &event.question_updated()
                                                             : nullptr;
  if (shown == nullptr || !shown->anonymous()) return;
  const QuestionRecord* question = find_question(shown->id());
  if (question == nullptr || question->author.user_id().empty()) return;
  const std::string& author = question->author.user_id();
  // Staff who asked anonymously keep what staff get (the crisis flag).
  const bool staff = out.staff_event && is_staff(question->author.role());
  v1::Event own = staff ? *out.staff_event : event;
  v1::Question* mine =
      own.has_question_asked() ? own.mutable_question_asked() : own.mutable_question_updated();
  const bool flagged = mine->flagged();
  *mine = question_view(*question, author);
  mine->set_flagged(flagged);
  out.author = author;
  out.author_event = std::move(own);
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
  const EntryRules* rules = rules_for(entry.kind_case());
  return rules && rules->changes_nothing && rules->changes_nothing(*this, entry);
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
  const EntryRules* rules = rules_for(entry.kind_case());
  if (rules && rules->redact && rules->redact(entry)) changed = true;
  return changed;
}

std::uint64_t item_acted_on(const v1::LogEntry& entry) {
  const EntryRules* rules = rules_for(entry.kind_case());
  return rules && rules->item ? rules->item(entry) : 0;
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

}  // namespace hearth
