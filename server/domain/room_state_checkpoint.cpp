// RoomState to and from its checkpoint (v1::RoomStateData): the fold's
// whole state, so a room loads from a checkpoint and the log after it.
#include <algorithm>

#include "domain/room_state.hpp"

namespace hearth {

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
    for (const auto& c : member.connections())
      record.connections[c.connection_id()] = {c.role(), c.node_id()};
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
