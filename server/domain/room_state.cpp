#include "domain/room_state.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "base/fault.hpp"
#include "domain/commands/entry_rules.hpp"

namespace hearth {
namespace {

using google::protobuf::util::TimeUtil;

v1::Person anonymous_person() {
  v1::Person person;
  person.set_display_name("Anonymous");
  person.set_role(v1::ROLE_PARTICIPANT);
  return person;
}

// For ListMembers' search: letters outside ASCII are left as they are.
std::string ascii_lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
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
