#include "domain/transcript.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "base/identity.hpp"
#include "domain/room_state.hpp"
#include "domain/token.hpp"

namespace hearth {
namespace {

namespace json = boost::json;

// "changed the settings: approval on, slow mode 30 s": the settings the
// update named (all of them for an entry from before settings masks).
std::string describe_update(const v1::RoomUpdatedEntry& update) {
  const auto& s = update.settings();
  const auto on_off = [](bool on) { return on ? "on" : "off"; };
  const std::pair<const char*, std::string> settings[] = {
      {"require_approval", std::string("approval ") + on_off(s.require_approval())},
      {"side_chat", std::string("side chat ") + on_off(s.side_chat())},
      {"retention_days",
       "retention " + (s.retention_days() ? std::to_string(s.retention_days()) + " days" : "default")},
      {"slow_mode_seconds",
       "slow mode " +
           (s.slow_mode_seconds() ? std::to_string(s.slow_mode_seconds()) + " s" : std::string("off"))},
      {"invite_only", std::string("private ") + on_off(s.invite_only())},
      {"require_sign_in", std::string("sign-in required ") + on_off(s.require_sign_in())},
      {"crisis_policy",
       std::string("flagged posts ") + (s.crisis_policy() == v1::CRISIS_POLICY_HOLD ? "held" : "shown")},
      {"member_list_limit",
       "member list " + (s.member_list_limit() ? "up to " + std::to_string(s.member_list_limit())
                                               : std::string("default"))},
  };
  const auto& paths = update.settings_mask().paths();
  std::vector<std::string> parts;
  for (const auto& [field, text] : settings) {
    const bool named =
        paths.empty() ? update.has_settings() : std::find(paths.begin(), paths.end(), field) != paths.end();
    if (named) parts.push_back(text);
  }
  if (!update.passcode_hash().empty())
    parts.emplace_back("a new passcode");
  else if (update.remove_passcode())
    parts.emplace_back("no passcode");
  if (parts.empty()) return update.title().empty() ? "changed nothing" : "renamed the room";
  std::string out = "changed the settings: ";
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out;
}
using google::protobuf::util::TimeUtil;

// What later entries did to earlier items, learnt in a first pass.
struct Fates {
  std::set<std::uint64_t> deleted_questions;
  std::set<std::uint64_t> deleted_messages;
  std::map<std::uint64_t, std::string> anonymous_author;  // question id -> its author, if anonymous
  std::map<std::uint64_t, std::uint32_t> votes;  // question id -> final count
  std::string title;
};

// Names in one transcript line about presence; the rest are counted.
constexpr int kPresenceNames = 20;

// What stands for a name its owner erased (docs/privacy.md).
constexpr const char* kNameErased = "(name erased)";

std::string name_of(const v1::Person& person) {
  return person.display_name().empty() ? kNameErased : person.display_name();
}

bool is_anonymous(const v1::Person& person) {
  return is_anonymous_id(person.user_id());
}

// "3 joined (Ada, Obi, 1 anonymous); 1 left (Lou); 12 here". Anonymous
// people are counted, never named: a name beside the time they came would
// tie them to the anonymous questions they asked then.
std::string presence_summary(const v1::MembersChanged& changed) {
  std::string out;
  const auto list = [&out](const char* verb, int count, const auto& person_at) {
    if (count == 0) return;
    if (!out.empty()) out += "; ";
    out += std::to_string(count) + " " + verb + " (";
    int named = 0;
    for (int i = 0; i < count; ++i) {
      if (is_anonymous(person_at(i))) continue;
      if (named < kPresenceNames) out += (named ? ", " : "") + name_of(person_at(i));
      ++named;
    }
    if (named > kPresenceNames) out += " and " + std::to_string(named - kPresenceNames) + " more";
    if (named < count) out += (named ? ", " : "") + std::to_string(count - named) + " anonymous";
    out += ")";
  };
  list("joined", changed.joined_size(), [&](int i) -> const v1::Person& { return changed.joined(i).person(); });
  list("left", changed.left_size(), [&](int i) -> const v1::Person& { return changed.left(i).person(); });
  return out + "; " + std::to_string(changed.present()) + " here";
}

// A fold of the room from the checkpoint's base (with the trim applied, so
// it holds no questions or messages), or from nothing: which entries took
// effect (the fold refused none of them and members saw each happen).
RoomState fold_start(const std::string& room_id, const std::optional<v1::RoomCheckpoint>& checkpoint) {
  Limits unlimited;
  unlimited.max_question_chars = unlimited.max_answer_chars = unlimited.max_message_chars = SIZE_MAX;
  unlimited.max_title_chars = SIZE_MAX;
  // It renders every item the log holds: nothing is forgotten. (Live rooms
  // refused what named a forgotten item but a delete, which passes here
  // too; an edit or a vote that raced the forgetting is shown here alone.)
  unlimited.messages_in_memory = unlimited.closed_questions_in_memory = SIZE_MAX;
  return checkpoint ? RoomState::from_data(room_id, unlimited, checkpoint->base())
                    : RoomState(room_id, unlimited);
}

// What an effective entry tells about earlier items.
void learn_from(const SequencedEntry& sequenced, const Applied& applied, Fates& fates) {
  // An erasure deleted its author's items (the staff variant lists all).
  const v1::Event& seen = applied.staff_event ? *applied.staff_event : *applied.event;
  for (const auto& question : seen.content_erased().questions()) {
    if (question.state() == v1::QUESTION_STATE_DELETED) fates.deleted_questions.insert(question.id());
  }
  for (const auto& message : seen.content_erased().messages()) fates.deleted_messages.insert(message.id());
  const auto& entry = *sequenced.entry;
  if (entry.has_room_created()) fates.title = entry.room_created().title();
  if (entry.has_room_updated() && !entry.room_updated().title().empty())
    fates.title = entry.room_updated().title();
  if (entry.has_ask() && entry.ask().anonymous())
    fates.anonymous_author[sequenced.seq] = entry.actor().user_id();
  if (entry.has_delete_question()) fates.deleted_questions.insert(entry.delete_question().question_id());
  if (entry.has_delete_message()) fates.deleted_messages.insert(entry.delete_message().message_id());
}

// The final count of each question still standing.
void learn_votes(const RoomState& state, Fates& fates) {
  const auto final_state = state.snapshot_for("", v1::ROLE_ADMIN);
  for (const auto& question : final_state.questions()) {
    if (question.state() == v1::QUESTION_STATE_OPEN || question.state() == v1::QUESTION_STATE_ANSWERED) {
      fates.votes[question.id()] = question.votes();
    }
  }
}

// One transcript line, before formatting.
struct Line {
  std::uint64_t seq = 0;
  std::string at;
  std::string who;       // display name, "Anonymous", or empty
  std::string user_id;   // empty for anonymous acts
  std::string role;
  std::string action;    // e.g. "asked", "deleted message"
  std::uint64_t item = 0;
  std::optional<std::string> text;  // nullopt: none, or withheld (deleted)
  bool tombstone = false;
  std::string target;    // for moderation: whom
};

// `seen`: the event the entry made, as staff see it.
std::optional<Line> describe(std::uint64_t seq, const v1::LogEntry& entry, const v1::Event& seen,
                             const Fates& fates) {
  Line line;
  line.seq = seq;
  line.at = TimeUtil::ToString(entry.at());
  line.who = entry.actor().display_name();
  line.user_id = entry.actor().user_id();
  // A person who erased their content left no name on what they did before.
  if (line.who.empty() && !line.user_id.empty()) line.who = kNameErased;
  line.role = std::string(role_name(entry.actor().role()));
  // The author of an anonymous question stays anonymous in everything they
  // do to it; a moderator deleting it is named.
  auto hide_author_of = [&](std::uint64_t question) {
    const auto it = fates.anonymous_author.find(question);
    if (it != fates.anonymous_author.end() && it->second == entry.actor().user_id()) {
      line.who = "Anonymous";
      line.user_id.clear();
      line.role.clear();
    }
  };
  auto question_text = [&](std::uint64_t question, const std::string& text) {
    line.item = question;
    if (fates.deleted_questions.contains(question)) line.tombstone = true;
    else line.text = text;
  };
  auto message_text = [&](std::uint64_t message, const std::string& text) {
    line.item = message;
    if (fates.deleted_messages.contains(message)) line.tombstone = true;
    else line.text = text;
  };
  switch (entry.kind_case()) {
    case v1::LogEntry::kRoomCreated: line.action = "opened the room"; line.text = entry.room_created().title(); break;
    case v1::LogEntry::kRoomUpdated:
      line.action = describe_update(entry.room_updated());
      if (!entry.room_updated().title().empty()) line.text = entry.room_updated().title();
      break;
    case v1::LogEntry::kTrim:
      line.who = "Hearth";
      line.role.clear();
      line.action = "removed, as the room's retention asks, everything up to";
      line.item = entry.trim().up_to_seq();
      break;
    case v1::LogEntry::kRoomClosed: line.action = "closed the room"; break;
    case v1::LogEntry::kErase: line.action = "erased everything they had written"; break;
    case v1::LogEntry::kJoined:
    case v1::LogEntry::kLeft:
    case v1::LogEntry::kPresence: {
      if (!seen.has_members_changed()) return std::nullopt;
      const v1::MembersChanged& changed = seen.members_changed();
      // One person: a line of their own, as for anything else they do;
      // but nothing about one anonymous person's comings and goings, which
      // would sit beside what they asked anonymously.
      if (changed.joined_size() + changed.left_size() == 1) {
        const v1::Person& person = changed.joined_size() ? changed.joined(0).person() : changed.left(0).person();
        if (is_anonymous(person)) return std::nullopt;
        line.who = name_of(person);
        line.user_id = person.user_id();
        line.role = std::string(role_name(person.role()));
        line.action = changed.joined_size() ? "joined"
                      : changed.left(0).reason() == v1::MemberLeft::REASON_LEFT ? "left"
                                                                                : "disconnected";
        break;
      }
      line.who = "Hearth";
      line.user_id.clear();
      line.role.clear();
      line.action = presence_summary(changed);
      break;
    }
    case v1::LogEntry::kMute:
      line.action = entry.mute().muted() ? "muted" : "unmuted";
      line.target = entry.mute().user_id();
      break;
    case v1::LogEntry::kBan:
      line.action = entry.ban().banned() ? "banned" : "lifted the ban on";
      line.target = entry.ban().user_id();
      break;
    case v1::LogEntry::kKick: line.action = "removed"; line.target = entry.kick().user_id(); break;
    case v1::LogEntry::kAsk:
      hide_author_of(seq);
      line.action = "asked";
      question_text(seq, entry.ask().text());
      break;
    case v1::LogEntry::kVote: return std::nullopt;  // see the final counts
    case v1::LogEntry::kApprove: line.action = "approved question"; line.item = entry.approve().question_id(); break;
    case v1::LogEntry::kDismiss: line.action = "dismissed question"; line.item = entry.dismiss().question_id(); break;
    case v1::LogEntry::kPin:
      line.action = entry.pin().question_id() ? "is answering question" : "unpinned the question";
      line.item = entry.pin().question_id();
      break;
    case v1::LogEntry::kAnswer:
      line.action = "answered question";
      question_text(entry.answer().question_id(), entry.answer().text());
      break;
    case v1::LogEntry::kMarkAnswered:
      line.action = "marked answered question";
      line.item = entry.mark_answered().question_id();
      break;
    case v1::LogEntry::kEditQuestion:
      hide_author_of(entry.edit_question().id());
      line.action = "edited question";
      question_text(entry.edit_question().id(), entry.edit_question().text());
      break;
    case v1::LogEntry::kDeleteQuestion:
      hide_author_of(entry.delete_question().question_id());
      line.action = "deleted question";
      line.item = entry.delete_question().question_id();
      break;
    case v1::LogEntry::kSay: {
      const std::string replied = entry.say().private_reply() ? "replied privately to " : "replied to ";
      line.action = entry.say().reply_to_message_id()
                        ? replied + "message " + std::to_string(entry.say().reply_to_message_id())
                    : entry.say().reply_to_question_id()
                        ? replied + "question " + std::to_string(entry.say().reply_to_question_id())
                        : "said";
      message_text(seq, entry.say().text());
      break;
    }
    case v1::LogEntry::kHandled:
      line.action = entry.handled().question_id() ? "marked handled question" : "marked handled message";
      line.item =
          entry.handled().question_id() ? entry.handled().question_id() : entry.handled().message_id();
      break;
    case v1::LogEntry::kEditMessage:
      line.action = "edited message";
      message_text(entry.edit_message().id(), entry.edit_message().text());
      break;
    case v1::LogEntry::kDeleteMessage:
      line.action = "deleted message";
      line.item = entry.delete_message().message_id();
      break;
    case v1::LogEntry::kReleaseMessage:
      line.action = "released message";
      line.item = entry.release_message().message_id();
      break;
    case v1::LogEntry::kReport:
      line.action = entry.report().question_id() ? "reported question" : "reported message";
      line.item = entry.report().question_id() ? entry.report().question_id() : entry.report().message_id();
      if (!entry.report().reason().empty()) line.text = entry.report().reason();
      break;
    // No line: an expired entry's stand-in, or an entry of no kind. Every
    // kind is named in this switch, so that a new one does not compile
    // until it has its line (or says it has none).
    case v1::LogEntry::kExpired:
    case v1::LogEntry::KIND_NOT_SET:
      return std::nullopt;
  }
  return line;
}

void json_line(const Line& line, bool first, std::string& out) {
  json::object item{{"seq", line.seq}, {"at", line.at}, {"who", line.who}, {"action", line.action}};
  if (!line.user_id.empty()) item["userId"] = line.user_id;
  if (!line.role.empty()) item["role"] = line.role;
  if (line.item) item["item"] = line.item;
  if (line.text) item["text"] = *line.text;
  if (line.tombstone) item["deleted"] = true;
  if (!line.target.empty()) item["target"] = line.target;
  if (!first) out += ',';
  out += json::serialize(item);
}

// Markdown that cannot be broken by what people wrote: their text goes in
// blockquotes with every line quoted, and markup characters escaped.
std::string escape_markdown(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (std::string_view("\\`*_{}[]()#+-.!|<>").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
    if (c == '\n') out += "  > ";
  }
  return out;
}

void markdown_line(const Line& line, std::string& out) {
  out += "- **#" + std::to_string(line.seq) + "** " + line.at.substr(0, 19) + " — **" +
         escape_markdown(line.who) + "**";
  if (!line.role.empty() && line.role != "participant") out += " (" + line.role + ")";
  out += " " + line.action;
  // Actions that name an item end in "question" or "message"; the others
  // ("asked", "said", "replied to ...") create one, numbered by their seq.
  if (line.item && (line.action.ends_with("question") || line.action.ends_with("message"))) {
    out += " " + std::to_string(line.item);
  }
  if (line.item && line.action.ends_with("up to")) out += " #" + std::to_string(line.item);
  if (!line.target.empty()) out += " `" + line.target + "`";
  if (line.action == "asked") out += " question " + std::to_string(line.seq);
  if (line.action == "said" || line.action.starts_with("replied"))
    out += " (message " + std::to_string(line.seq) + ")";
  out += "\n";
  if (line.tombstone)
    out += "\n  > *(deleted)*\n\n";
  else if (line.text && !line.text->empty())
    out += "\n  > " + escape_markdown(*line.text) + "\n\n";
}

}  // namespace

struct TranscriptRenderer::Passes {
  Passes(std::string room, std::optional<v1::RoomCheckpoint> stored, TranscriptFormat as)
      : room_id(std::move(room)),
        checkpoint(std::move(stored)),
        format(as),
        fold(fold_start(room_id, checkpoint)) {
    fates.title = fold.title();
  }

  const std::string room_id;
  const std::optional<v1::RoomCheckpoint> checkpoint;
  const TranscriptFormat format;
  Fates fates;
  // The first pass's fold, then (from head()) the second's.
  RoomState fold;
  std::uint64_t last_seq = 0;
  bool lines_written = false;
};

TranscriptRenderer::TranscriptRenderer(std::string room_id, std::optional<v1::RoomCheckpoint> checkpoint,
                                       TranscriptFormat format)
    : passes_(std::make_unique<Passes>(std::move(room_id), std::move(checkpoint), format)) {}

TranscriptRenderer::~TranscriptRenderer() = default;

void TranscriptRenderer::learn(const SequencedEntry& entry) {
  Passes& p = *passes_;
  p.last_seq = entry.seq;
  const Applied applied = p.fold.apply(entry.seq, *entry.entry);
  if (applied.event) learn_from(entry, applied, p.fates);
}

bool TranscriptRenderer::found() const {
  return passes_->checkpoint || passes_->last_seq != 0;
}

std::uint64_t TranscriptRenderer::base_seq() const {
  return passes_->checkpoint ? passes_->checkpoint->base_seq() : 0;
}

std::uint64_t TranscriptRenderer::last_seq() const {
  return passes_->last_seq;
}

std::string TranscriptRenderer::head() {
  Passes& p = *passes_;
  learn_votes(p.fold, p.fates);
  p.fold = fold_start(p.room_id, p.checkpoint);  // the first pass's fold is done with
  if (p.format == TranscriptFormat::json) {
    return "{\"roomId\":" + json::serialize(json::string(p.room_id)) +
           ",\"title\":" + json::serialize(json::string(p.fates.title)) + ",\"entries\":[";
  }
  std::string out =
      "# Transcript: " + escape_markdown(p.fates.title.empty() ? p.room_id : p.fates.title) + "\n\n";
  out += "Room `" + p.room_id + "`. Times are UTC. Deleted items are shown as tombstones.\n\n";
  if (p.checkpoint && p.checkpoint->base_seq()) {
    out += "Entries up to #" + std::to_string(p.checkpoint->base_seq()) +
           " are no longer kept (the room's retention removed them).\n\n";
  }
  return out;
}

void TranscriptRenderer::render(const SequencedEntry& entry, std::string& out) {
  Passes& p = *passes_;
  const Applied applied = p.fold.apply(entry.seq, *entry.entry);
  if (!applied.event) return;
  const v1::Event& seen = applied.staff_event ? *applied.staff_event : *applied.event;
  const auto line = describe(entry.seq, *entry.entry, seen, p.fates);
  if (!line) return;
  if (p.format == TranscriptFormat::json)
    json_line(*line, !p.lines_written, out);
  else
    markdown_line(*line, out);
  p.lines_written = true;
}

std::string TranscriptRenderer::tail() {
  const Passes& p = *passes_;
  if (p.format == TranscriptFormat::json) {
    json::object votes;
    for (const auto& [question, count] : p.fates.votes) votes[std::to_string(question)] = count;
    std::string out = "],\"votes\":" + json::serialize(votes);
    if (p.checkpoint && p.checkpoint->base_seq())
      out += ",\"trimmedUpTo\":" + std::to_string(p.checkpoint->base_seq());
    return out + "}\n";
  }
  std::string out;
  if (!p.fates.votes.empty()) {
    out += "\n## Votes\n\n";
    for (const auto& [question, count] : p.fates.votes) {
      out += "- question " + std::to_string(question) + ": " + std::to_string(count) + "\n";
    }
  }
  return out;
}

std::string render_transcript(const std::string& room_id, const v1::RoomCheckpoint* checkpoint,
                              const std::vector<SequencedEntry>& entries, TranscriptFormat format) {
  TranscriptRenderer renderer(room_id, checkpoint ? std::optional(*checkpoint) : std::nullopt, format);
  for (const auto& entry : entries) renderer.learn(entry);
  std::string out = renderer.head();
  for (const auto& entry : entries) renderer.render(entry, out);
  return out + renderer.tail();
}

}  // namespace hearth
