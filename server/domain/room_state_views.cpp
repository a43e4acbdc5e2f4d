// RoomState's views: what a member is shown of the room (snapshots, one
// question or message as a viewer may see it, presence, the member list).
#include <algorithm>
#include <iterator>

#include "domain/room_state.hpp"

namespace hearth {
namespace {

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
  if (message == nullptr || message->deleted ||
      !may_see(message_audience(*message), actor.user_id(), actor.role())) {
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
  view.set_yours(own);
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
  const std::uint32_t limit =
      settings_.member_list_limit() != 0 ? settings_.member_list_limit() : kDefaultMemberListLimit;
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
                                                                     const std::string& after,
                                                                     std::size_t limit,
                                                                     std::size_t& matched) const {
  std::vector<const MemberRecord*> found;
  for (const auto& [user_id, member] : members_) {
    if (member.connections.empty() || (!after.empty() && user_id <= after)) continue;
    if (!needle.empty() && ascii_lower(member.person.display_name()).find(needle) == std::string::npos)
      continue;
    found.push_back(&member);
  }
  matched = found.size();
  const std::size_t shown = std::min(found.size(), limit);
  std::partial_sort(
      found.begin(), found.begin() + static_cast<std::ptrdiff_t>(shown), found.end(),
      [](const MemberRecord* a, const MemberRecord* b) { return a->person.user_id() < b->person.user_id(); });
  found.resize(shown);
  return found;
}

void RoomState::add_present_staff(google::protobuf::RepeatedPtrField<v1::Member>& out,
                                  bool staff_viewer) const {
  for (const auto& user_id : present_staff_) {
    if (static_cast<std::size_t>(out.size()) == kPresenceStaff) break;
    v1::Member* member = out.Add();
    *member = member_view(members_.at(user_id));
    if (!staff_viewer) member->clear_muted();
  }
}

v1::MemberPage RoomState::member_page(const std::string& query, const std::string& after,
                                      std::size_t limit) const {
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

  const std::size_t skip =
      messages_.size() > limits_.snapshot_messages ? messages_.size() - limits_.snapshot_messages : 0;
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

}  // namespace hearth
