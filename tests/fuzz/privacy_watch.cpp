// The session fuzzer's second pair of eyes: see privacy_watch.hpp.
#include "privacy_watch.hpp"

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <boost/json.hpp>

#include "domain/transcript.hpp"
#include "fuzz_input.hpp"

namespace hearth::fuzz {
namespace {

using google::protobuf::FieldDescriptor;

// Calls `fn` with every string of `message` and of the messages in it;
// bytes fields (a passcode's salted hash) are not text.
template <typename Fn>
void for_each_string(const google::protobuf::Message& message, const Fn& fn) {
  const auto* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  std::string scratch;
  for (const FieldDescriptor* field : fields) {
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          fn(reflection->GetRepeatedStringReference(message, field, i, &scratch));
        }
      } else {
        fn(reflection->GetStringReference(message, field, &scratch));
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          for_each_string(reflection->GetRepeatedMessage(message, field, i), fn);
        }
      } else {
        for_each_string(reflection->GetMessage(message, field), fn);
      }
    }
  }
}

std::vector<std::string> markers_of(const google::protobuf::Message& message) {
  std::vector<std::string> out;
  for_each_string(message, [&out](const std::string& text) {
    // Most strings hold none: look before allocating.
    if (text.find('~') == std::string::npos) return;
    for (auto& marker : markers_in(text)) out.push_back(std::move(marker));
  });
  return out;
}

// A text an entry carries, and the item it is text of.
struct EntryText {
  const std::string* text;
  MarkerKind kind;
  char item_kind = 0;
  std::uint64_t item = 0;
};

std::vector<EntryText> texts_of(const v1::LogEntry& entry, std::uint64_t seq) {
  switch (entry.kind_case()) {
    case v1::LogEntry::kRoomCreated:
      return {{&entry.room_created().title(), MarkerKind::title}};
    case v1::LogEntry::kRoomUpdated:
      return {{&entry.room_updated().title(), MarkerKind::title}};
    case v1::LogEntry::kAsk:
      return {{&entry.ask().text(), MarkerKind::text, 'q', seq}};
    case v1::LogEntry::kAnswer:
      return {{&entry.answer().text(), MarkerKind::text, 'q', entry.answer().question_id()}};
    case v1::LogEntry::kEditQuestion:
      return {{&entry.edit_question().text(), MarkerKind::text, 'q', entry.edit_question().id()}};
    case v1::LogEntry::kSay:
      return {{&entry.say().text(), MarkerKind::text, 'm', seq}};
    case v1::LogEntry::kEditMessage:
      return {{&entry.edit_message().text(), MarkerKind::text, 'm', entry.edit_message().id()}};
    case v1::LogEntry::kReport:
      return {{&entry.report().reason(), MarkerKind::reason}};
    default:
      return {};
  }
}

bool same_state(const v1::RoomStateData& a, const v1::RoomStateData& b) {
  google::protobuf::util::MessageDifferencer differencer;
  // Sets (voters, members, reporters) may list in another order.
  differencer.set_repeated_field_comparison(google::protobuf::util::MessageDifferencer::AS_SET);
  return differencer.Compare(a, b);
}

std::uint64_t json_seq(const boost::json::value& value) {
  if (value.is_uint64()) return value.get_uint64();
  if (value.is_int64()) return static_cast<std::uint64_t>(value.get_int64());
  violated("a transcript line without a seq");
}

}  // namespace

std::vector<std::string> markers_in(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t at = text.find('~'); at != std::string_view::npos; at = text.find('~', at + 1)) {
    if (at + 3 >= text.size()) break;
    const char kind = text[at + 1];
    if (kind != 't' && kind != 'r' && kind != 'h' && kind != 'n') continue;
    std::size_t end = at + 2;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end == at + 2 || end >= text.size() || text[end] != '~') continue;
    out.emplace_back(text.substr(at, end - at + 1));
    at = end;  // a closing '~' opens no marker
  }
  return out;
}

std::string MarkerBook::make(MarkerKind kind) {
  return "~" + std::string(1, static_cast<char>(kind)) + std::to_string(++next_) + "~";
}

const MarkerBook::Logged* MarkerBook::logged(const std::string& marker) const {
  const auto it = logged_.find(marker);
  return it == logged_.end() ? nullptr : &it->second;
}

bool MarkerBook::made(const std::string& marker) const {
  const unsigned long number = std::stoul(marker.substr(2, marker.size() - 3));
  return number >= 1 && number <= next_;
}

RoomWatch::RoomWatch(std::string room_id, Limits limits, MarkerBook& book)
    : room_id_(std::move(room_id)), limits_(limits), book_(book), state_(room_id_, limits_) {}

// ---------------------------------------------------------------------------
// Learning from the log
// ---------------------------------------------------------------------------

Applied RoomWatch::appended(std::uint64_t seq, const v1::LogEntry& entry) {
  log_.push_back(SequencedEntry{seq, std::make_shared<const v1::LogEntry>(entry), {}});
  Applied applied = state_.apply(seq, entry);
  learn(seq, entry, applied);
  return applied;
}

void RoomWatch::rewritten(const std::vector<SequencedEntry>& entries) {
  for (const auto& replacement : entries) {
    const auto it =
        std::find_if(log_.begin(), log_.end(), [&](const auto& e) { return e.seq == replacement.seq; });
    expect(it != log_.end(), "an erasure rewrote an entry that was never appended");
    it->entry = replacement.entry;
  }
}

void RoomWatch::hide_item(char kind, std::uint64_t id, std::uint64_t from) {
  for (auto& [marker, logged] : book_.all_logged()) {
    if (logged.room != room_id_ || logged.item_kind != kind || logged.item != id) continue;
    logged.hidden_from = std::min(logged.hidden_from, from);
    logged.hidden_in_transcript = true;
  }
}

void RoomWatch::learn(std::uint64_t seq, const v1::LogEntry& entry, const Applied& applied) {
  const std::string& actor = entry.actor().user_id();
  // Refused by the fold (it raced a mute, a ban, a delete...), or a repeat
  // that changed nothing: nobody saw it happen, so nobody may see its words.
  const bool took_effect = applied.event.has_value();
  for (const auto& name : markers_in(entry.actor().display_name())) {
    NameUse& use = names_[name];
    if (use.user_id.empty()) use.user_id = actor;
    if (took_effect && seq > use.hidden_from && use.allowed_again == kNever) use.allowed_again = seq;
  }
  for (const auto& text : texts_of(entry, seq)) {
    for (const auto& marker : markers_in(*text.text)) {
      MarkerBook::Logged& logged = book_.log(marker);
      if (logged.seq == 0) {
        logged.kind = text.kind;
        logged.room = room_id_;
        logged.author = actor;
        logged.seq = seq;
        logged.item_kind = text.item_kind;
        logged.item = text.item;
      }
      if (!took_effect) {
        logged.hidden_from = 0;
        logged.hidden_in_transcript = true;
      }
    }
  }
  if (!took_effect) return;

  // The staff variant of an event holds everything the plain one does.
  const v1::Event& event = applied.staff_event ? *applied.staff_event : *applied.event;
  auto note = [this](const v1::Question& question) {
    if (question.state() == v1::QUESTION_STATE_OPEN || question.state() == v1::QUESTION_STATE_ANSWERED) {
      ever_public_.insert(question.id());
    }
  };
  if (event.has_question_asked()) note(event.question_asked());
  if (event.has_question_updated()) note(event.question_updated());
  for (const auto& question : event.content_erased().questions()) note(question);

  switch (entry.kind_case()) {
    case v1::LogEntry::kAsk:
      question_author_[seq] = actor;
      question_ids_.push_back(seq);
      if (entry.ask().anonymous()) anonymous_.insert(seq);
      break;
    case v1::LogEntry::kSay:
      message_author_[seq] = actor;
      message_ids_.push_back(seq);
      if (event.message_posted().held()) held_.insert(seq);
      break;
    case v1::LogEntry::kReleaseMessage:
      held_.erase(entry.release_message().message_id());
      break;
    case v1::LogEntry::kDeleteQuestion:
      hide_item('q', entry.delete_question().question_id(), seq);
      break;
    case v1::LogEntry::kDeleteMessage:
      hide_item('m', entry.delete_message().message_id(), seq);
      break;
    case v1::LogEntry::kErase: {
      erasures_[actor].insert(seq);
      for (const auto& question : event.content_erased().questions()) {
        if (question.state() == v1::QUESTION_STATE_DELETED) hide_item('q', question.id(), seq);
      }
      for (const auto& message : event.content_erased().messages()) hide_item('m', message.id(), seq);
      // Every word of theirs before it (answers to others' questions and
      // report reasons included); a room's title stays (docs/privacy.md 12).
      for (auto& [marker, logged] : book_.all_logged()) {
        if (logged.room != room_id_ || logged.author != actor || logged.seq >= seq) continue;
        if (logged.kind == MarkerKind::title) continue;
        logged.hidden_from = std::min(logged.hidden_from, seq);
        logged.hidden_in_transcript = true;
        logged.erased = true;
      }
      for (auto& [name, use] : names_) {
        if (use.user_id != actor) continue;
        use.hidden_from = seq;
        use.allowed_again = kNever;
      }
      break;
    }
    case v1::LogEntry::kTrim:
      for (auto& [marker, logged] : book_.all_logged()) {
        if (logged.room != room_id_ || logged.item_kind == 0 ||
            logged.item > event.items_expired().up_to_seq())
          continue;
        logged.hidden_from = std::min(logged.hidden_from, seq);
      }
      break;
    default:
      break;
  }
}

bool RoomWatch::erased_after(const std::string& user_id, std::uint64_t seq) const {
  const auto it = erasures_.find(user_id);
  return it != erasures_.end() && it->second.upper_bound(seq) != it->second.end();
}

// ---------------------------------------------------------------------------
// What members receive
// ---------------------------------------------------------------------------

void RoomWatch::check_markers(const google::protobuf::Message& message, const Viewer& viewer,
                              std::uint64_t seen_at) const {
  for (const auto& marker : markers_of(message)) {
    if (marker[1] == static_cast<char>(MarkerKind::name)) {
      const auto it = names_.find(marker);
      if (it != names_.end() && it->second.hidden_from <= seen_at && seen_at < it->second.allowed_again) {
        violated("a member was shown the name of someone who erased it");
      }
      continue;
    }
    const MarkerBook::Logged* logged = book_.logged(marker);
    expect(logged != nullptr, "a member was shown text that never reached the log");
    expect(logged->room == room_id_, "a member was shown text of another room");
    if (logged->hidden_from <= seen_at)
      violated("a member was shown deleted, erased, expired or refused text");
    if (logged->kind == MarkerKind::reason && !is_staff(viewer.role)) {
      violated("a participant was shown the reason of a report");
    }
  }
}

void RoomWatch::check_question(const v1::Question& question, const Viewer& viewer,
                               std::uint64_t seen_at) const {
  const auto author = question_author_.find(question.id());
  expect(author != question_author_.end(), "a member was shown a question nobody asked");
  const bool own = author->second == viewer.user_id;
  expect(!question.yours() || own, "a question was marked as theirs to someone who did not ask it");
  if (!is_staff(viewer.role)) {
    if (!ever_public_.contains(question.id())) {
      expect(own, "a participant was shown someone else's pending or dismissed question");
    }
    expect(!question.flagged() && question.reports() == 0,
           "a participant was shown a crisis flag or report count");
  }
  if (anonymous_.contains(question.id()) && !own) {
    expect(question.author().user_id().empty(), "an anonymous question named its author");
  }
  const auto erasures = erasures_.find(author->second);
  if (erasures != erasures_.end()) {
    const auto erased = erasures->second.upper_bound(question.id());
    // An anonymous one goes by a deletion of its own (Room::run_erasure),
    // not in the erasure's fold: until then only its text must be gone
    // (check_markers).
    if (erased != erasures->second.end() && *erased <= seen_at && !anonymous_.contains(question.id())) {
      expect(question.state() == v1::QUESTION_STATE_DELETED, "an erased question was shown again");
    }
  }
}

void RoomWatch::check_message(const v1::ChatMessage& message, const Viewer& viewer,
                              std::uint64_t seen_at) const {
  const auto author = message_author_.find(message.id());
  expect(author != message_author_.end(), "a member was shown a message nobody sent");
  const bool own = author->second == viewer.user_id;
  if (!is_staff(viewer.role)) {
    if (message.held() || (message.deleted() && held_.contains(message.id()))) {
      expect(own, "a participant was shown someone else's held message");
    }
    expect(!message.flagged() && message.reports() == 0,
           "a participant was shown a crisis flag or report count");
  }
  const auto erasures = erasures_.find(author->second);
  if (erasures != erasures_.end()) {
    const auto erased = erasures->second.upper_bound(message.id());
    if (erased != erasures->second.end() && *erased <= seen_at) {
      expect(message.deleted(), "an erased message was shown again");
    }
  }
}

void RoomWatch::check_received(const v1::ServerMessage& message, const Viewer& viewer,
                               std::uint64_t seen_at) const {
  check_markers(message, viewer, seen_at);
  const bool staff = is_staff(viewer.role);
  // Presence: participants see how many are here and who the staff are,
  // and one another only where the room lists its members.
  const auto check_people = [&](const auto& members, bool listed, const char* what) {
    if (staff || listed) return;
    for (const auto& member : members) {
      expect(is_staff(member.person().role()) || member.person().user_id() == viewer.user_id, what);
    }
  };
  if (message.has_presence()) {
    const v1::Presence& presence = message.presence();
    expect(presence.room_id() == room_id_, "a presence push of another room");
    check_people(presence.staff(), false, "a presence push named a participant among the staff");
    check_people(presence.members(), presence.listed(), "a presence push listed participants");
    if (!staff) {
      for (const auto& member : presence.members()) expect(!member.muted(), "a participant was told who is muted");
    }
    return;
  }
  if (message.has_event()) {
    const v1::Event& event = message.event();
    if (!staff) {
      expect(!event.has_members_changed(), "a participant was sent presence news meant for staff");
      const v1::Person* target = event.has_member_left()     ? &event.member_left().person()
                                 : event.has_member_muted()  ? &event.member_muted().person()
                                 : event.has_member_banned() ? &event.member_banned().person()
                                                             : nullptr;
      expect(target == nullptr || target->user_id() == viewer.user_id,
             "a participant was told of moderation done to someone else");
    }
  }
  if (message.reply().ok().has_snapshot()) {
    const v1::RoomSnapshot& snapshot = message.reply().ok().snapshot();
    check_people(snapshot.members(), snapshot.listed(), "a snapshot listed participants to a participant");
  }
  if (message.has_event()) {
    const v1::Event& event = message.event();
    expect(event.room_id() == room_id_, "an event of another room");
    if (!staff)
      expect(!event.has_item_reported() && !event.has_alert(), "a participant was sent a report or an alert");
    if (event.has_question_votes()) expect(event.actor().user_id().empty(), "a vote named its voter");
    for (const v1::Question* question :
         {event.has_question_asked() ? &event.question_asked() : nullptr,
          event.has_question_updated() ? &event.question_updated() : nullptr,
          event.has_question_deleted() ? &event.question_deleted() : nullptr}) {
      if (question == nullptr) continue;
      check_question(*question, viewer, seen_at);
      const auto author = question_author_.find(question->id());
      if (anonymous_.contains(question->id()) && author->second != viewer.user_id) {
        expect(event.actor().user_id() != author->second,
               "an event named the author of an anonymous question");
      }
    }
    for (const auto& question : event.content_erased().questions()) check_question(question, viewer, seen_at);
    for (const v1::ChatMessage* chat : {event.has_message_posted() ? &event.message_posted() : nullptr,
                                        event.has_message_edited() ? &event.message_edited() : nullptr,
                                        event.has_message_deleted() ? &event.message_deleted() : nullptr}) {
      if (chat != nullptr) check_message(*chat, viewer, seen_at);
    }
    for (const auto& chat : event.content_erased().messages()) check_message(chat, viewer, seen_at);
    return;
  }
  if (!message.reply().ok().has_snapshot()) return;
  const v1::RoomSnapshot& snapshot = message.reply().ok().snapshot();
  for (const auto& question : snapshot.questions()) check_question(question, viewer, seen_at);
  for (const auto& chat : snapshot.messages()) check_message(chat, viewer, seen_at);
}

void RoomWatch::check_snapshot_matches(const v1::RoomSnapshot& snapshot, const Viewer& viewer) const {
  if (snapshot.seq() != state_.seq()) return;
  v1::RoomSnapshot expected = state_.snapshot_for(viewer.user_id, viewer.role);
  expected.set_resume_failed(snapshot.resume_failed());
  expected.set_resume_token(snapshot.resume_token());  // the session's, not the room's
  expect(expected.SerializeAsString() == snapshot.SerializeAsString(),
         "a snapshot differs from the fold of the whole log");
}

// ---------------------------------------------------------------------------
// Storage and transcripts
// ---------------------------------------------------------------------------

void RoomWatch::check_state_data(const v1::RoomStateData& data, std::uint64_t as_of,
                                 std::uint64_t names_as_of) const {
  for (const auto& marker : markers_of(data)) {
    if (marker[1] == static_cast<char>(MarkerKind::name)) {
      // An erasure rewrites the checkpoint too, also one stored before it.
      const auto it = names_.find(marker);
      if (it != names_.end() && it->second.hidden_from != kNever && it->second.allowed_again > names_as_of) {
        violated("a stored checkpoint kept the name of someone who erased it");
      }
      continue;
    }
    const MarkerBook::Logged* logged = book_.logged(marker);
    expect(logged != nullptr && logged->room == room_id_, "a checkpoint holds text from elsewhere");
    if (logged->erased || logged->hidden_from <= as_of) {
      violated("a stored checkpoint kept erased, deleted, expired or refused text");
    }
  }
}

void RoomWatch::check_storage(const std::vector<SequencedEntry>& stored,
                              const std::optional<v1::RoomCheckpoint>& checkpoint) const {
  for (const auto& sequenced : stored) {
    const v1::LogEntry& entry = *sequenced.entry;
    if (!erased_after(entry.actor().user_id(), sequenced.seq)) continue;
    expect(entry.actor().display_name().empty(), "a stored entry kept the name of someone who erased it");
    for (const auto& text : texts_of(entry, sequenced.seq)) {
      if (text.kind == MarkerKind::title) continue;
      expect(text.text->empty() || *text.text == kErasedText, "a stored entry kept words someone erased");
    }
  }
  if (checkpoint) {
    check_state_data(checkpoint->state(), checkpoint->seq(), checkpoint->seq());
    check_state_data(checkpoint->base(), checkpoint->seq(), checkpoint->base_seq());
  }
  check_transcripts(stored, checkpoint);
}

void RoomWatch::check_transcripts(const std::vector<SequencedEntry>& stored,
                                  const std::optional<v1::RoomCheckpoint>& checkpoint) const {
  const v1::RoomCheckpoint* base = checkpoint ? &*checkpoint : nullptr;
  const std::string json = render_transcript(room_id_, base, stored, TranscriptFormat::json);
  const std::string markdown = render_transcript(room_id_, base, stored, TranscriptFormat::markdown);

  boost::system::error_code error;
  const boost::json::value parsed = boost::json::parse(json, error);
  expect(!error && parsed.is_object(), "a JSON transcript is not JSON");
  const auto* lines = parsed.get_object().if_contains("entries");
  expect(lines != nullptr && lines->is_array(), "a JSON transcript has no entries");
  for (const auto& value : lines->get_array()) {
    const auto& line = value.as_object();
    const std::uint64_t seq = json_seq(line.at("seq"));
    const std::string who(line.at("who").as_string());
    const auto* user = line.if_contains("userId");
    if (const auto* text = line.if_contains("text")) {
      for (const auto& marker : markers_in(text->as_string())) {
        const MarkerBook::Logged* logged = book_.logged(marker);
        expect(logged != nullptr && logged->room == room_id_, "a transcript holds text from elsewhere");
        expect(!logged->hidden_in_transcript, "a transcript shows deleted, erased or refused text");
      }
    }
    if (user != nullptr && erased_after(std::string(user->as_string()), seq)) {
      expect(who == "(name erased)", "a transcript names someone on what they did before erasing it");
    }
    for (const auto& name : markers_in(who)) {
      const auto it = names_.find(name);
      if (it != names_.end()) {
        expect(!erased_after(it->second.user_id, seq), "a transcript shows a name erased after the line");
      }
    }
    if (line.at("action").as_string() == "asked" && anonymous_.contains(seq)) {
      expect(user == nullptr && who == "Anonymous", "a transcript names the author of an anonymous question");
    }
  }
  for (const auto& marker : markers_in(markdown)) {
    if (marker[1] == static_cast<char>(MarkerKind::name)) {
      const auto it = names_.find(marker);
      if (it != names_.end() && it->second.hidden_from != kNever && it->second.allowed_again == kNever) {
        violated("a Markdown transcript shows an erased name");
      }
      continue;
    }
    const MarkerBook::Logged* logged = book_.logged(marker);
    expect(logged != nullptr && !logged->hidden_in_transcript,
           "a Markdown transcript shows deleted or erased text");
  }
}

void RoomWatch::check_refold() const {
  // The log as storage holds it now, erasures' rewrites included, folds to
  // the state the original entries did.
  RoomState again(room_id_, limits_);
  for (const auto& sequenced : log_) again.apply(sequenced.seq, *sequenced.entry);
  const v1::RoomStateData data = state_.to_data();
  expect(same_state(again.to_data(), data), "the (rewritten) log folds to another state");
  const RoomState copy = RoomState::from_data(room_id_, limits_, data);
  expect(same_state(copy.to_data(), data), "a checkpoint of the state is not the state");
  // No node's state keeps what was deleted or erased (it is the next
  // checkpoint): tombstones only.
  check_state_data(data, state_.seq(), state_.seq());
}

}  // namespace hearth::fuzz
