#include "domain/transcript.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "base/identity.hpp"
#include "domain/commands/entry_rules.hpp"
#include "domain/room_state.hpp"
#include "domain/token.hpp"
#include "domain/transcript_line.hpp"

namespace hearth {
namespace {

namespace json = boost::json;
using google::protobuf::util::TimeUtil;

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
void learn_from(const SequencedEntry& sequenced, const Applied& applied, TranscriptFates& fates) {
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
void learn_votes(const RoomState& state, TranscriptFates& fates) {
  const auto final_state = state.snapshot_for("", v1::ROLE_ADMIN);
  for (const auto& question : final_state.questions()) {
    if (question.state() == v1::QUESTION_STATE_OPEN || question.state() == v1::QUESTION_STATE_ANSWERED) {
      fates.votes[question.id()] = question.votes();
    }
  }
}

// `seen`: the event the entry made, as staff see it. Each kind describes
// itself (EntryRules::transcript, in its family's file).
std::optional<TranscriptLine> describe(std::uint64_t seq, const v1::LogEntry& entry, const v1::Event& seen,
                                       const TranscriptFates& fates) {
  const EntryRules* rules = rules_for(entry.kind_case());
  if (rules == nullptr) return std::nullopt;  // KIND_NOT_SET
  TranscriptLine line;
  line.seq = seq;
  line.at = TimeUtil::ToString(entry.at());
  line.who = entry.actor().display_name();
  line.user_id = entry.actor().user_id();
  // A person who erased their content left no name on what they did before.
  if (line.who.empty() && !line.user_id.empty()) line.who = kNameErased;
  line.role = std::string(role_name(entry.actor().role()));
  if (!rules->transcript(TranscriptContext{seq, entry, seen, fates, line})) return std::nullopt;
  return line;
}

void json_line(const TranscriptLine& line, bool first, std::string& out) {
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

void markdown_line(const TranscriptLine& line, std::string& out) {
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

void TranscriptContext::hide_author_of(std::uint64_t question) const {
  const auto it = fates.anonymous_author.find(question);
  if (it != fates.anonymous_author.end() && it->second == entry.actor().user_id()) {
    line.who = "Anonymous";
    line.user_id.clear();
    line.role.clear();
  }
}

void TranscriptContext::question_text(std::uint64_t question, const std::string& text) const {
  line.item = question;
  if (fates.deleted_questions.contains(question))
    line.tombstone = true;
  else
    line.text = text;
}

void TranscriptContext::message_text(std::uint64_t message, const std::string& text) const {
  line.item = message;
  if (fates.deleted_messages.contains(message))
    line.tombstone = true;
  else
    line.text = text;
}

void TranscriptContext::by_hearth() const {
  line.who = "Hearth";
  line.user_id.clear();
  line.role.clear();
}

void TranscriptContext::by(const v1::Person& person) const {
  line.who = name_of(person);
  line.user_id = person.user_id();
  line.role = std::string(role_name(person.role()));
}

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
  TranscriptFates fates;
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
