// The session fuzzer's second pair of eyes: a fold of every room's log kept
// beside the server's, which learns from the entries who wrote what and what
// became of it, and checks what members receive and what storage and the
// transcript hold against it. Nobody may be shown what they may not see:
//   * a pending or dismissed question (one never open to everyone), or a held
//     message, reaches only staff and its author;
//   * an anonymous question never names its author to anyone else;
//   * reports (counts, reasons, events) and crisis flags reach only staff;
//   * text of a deleted item, of an item retention removed, of an entry the
//     fold refused, or of a person who erased what they wrote, is never shown
//     again, and an erased name only under what the person posts afterwards;
//   * after an erasure, the stored log and checkpoint hold none of the
//     person's words or names from before it, and neither do transcripts.
//
// Texts are traceable because the fuzzer writes each one with a unique
// marker (MarkerBook); the server adds none of its own.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "domain/room_state.hpp"
#include "engine/engine.hpp"
#include "hearth/v1/log.pb.h"
#include "hearth/v1/protocol.pb.h"

namespace hearth::fuzz {

inline constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();

// What a marker marks: "~t12~" a question, answer or message text, "~r3~" a
// report's reason, "~h2~" a room's title, "~n7~" a display name.
enum class MarkerKind : char { text = 't', reason = 'r', title = 'h', name = 'n' };

// Every marker of `text`, in order.
std::vector<std::string> markers_in(std::string_view text);

// Every marker the fuzzer made in one run, and, once an entry carried it to a
// room's log, where it belongs and from when on nobody may see it.
class MarkerBook {
 public:
  std::string make(MarkerKind kind);

  struct Logged {
    MarkerKind kind = MarkerKind::text;
    std::string room;
    std::string author;     // user id of the entry's actor
    std::uint64_t seq = 0;  // the entry
    char item_kind = 0;     // 'q' or 'm': the question or message it is text of
    std::uint64_t item = 0;
    std::uint64_t hidden_from = kNever;  // members may not see it in what comes at or after this seq
    bool hidden_in_transcript = false;   // deleted, erased or refused: a tombstone at most
    bool erased = false;                 // its author erased it: storage may keep none of it
  };
  // Null for a marker no entry carried (made, but refused before the log).
  const Logged* logged(const std::string& marker) const;
  Logged& log(const std::string& marker) { return logged_[marker]; }
  bool made(const std::string& marker) const;
  // Markers that an entry carried, for walking: by marker.
  std::unordered_map<std::string, Logged>& all_logged() { return logged_; }

 private:
  unsigned next_ = 0;
  std::unordered_map<std::string, Logged> logged_;
};

// One member's view of a room: whom the server believes it is talking to.
struct Viewer {
  std::string user_id;
  v1::Role role = v1::ROLE_PARTICIPANT;
};

class RoomWatch {
 public:
  RoomWatch(std::string room_id, Limits limits, MarkerBook& book);

  // The engine appended `entry` as `seq` (in sequence order), or replaced
  // stored entries (an erasure's rewrite). What the fold made of the entry.
  Applied appended(std::uint64_t seq, const v1::LogEntry& entry);
  void rewritten(const std::vector<SequencedEntry>& entries);

  // Checks a message `viewer` received about this room, as of `seen_at`: the
  // event's seq, or for a snapshot, a replay or anything else at a join, the
  // seq at which the viewer joined.
  void check_received(const v1::ServerMessage& message, const Viewer& viewer, std::uint64_t seen_at) const;
  // The room (maybe opened from a checkpoint, or from a log rewritten by
  // erasures) shows what folding the whole log entry by entry shows: when
  // `snapshot` is of the seq this watch has folded to.
  void check_snapshot_matches(const v1::RoomSnapshot& snapshot, const Viewer& viewer) const;
  // Checks what storage holds (entries after the checkpoint's base, if any)
  // and the transcripts rendered from it, as the HTTP handler renders them.
  void check_storage(const std::vector<SequencedEntry>& stored,
                     const std::optional<v1::RoomCheckpoint>& checkpoint) const;
  // Folding the log again, and from a checkpoint of the fold, ends where
  // folding it entry by entry did; and that state holds nothing deleted,
  // erased or refused.
  void check_refold() const;

  const RoomState& state() const { return state_; }
  const std::vector<std::uint64_t>& question_ids() const { return question_ids_; }
  const std::vector<std::uint64_t>& message_ids() const { return message_ids_; }

 private:
  struct NameUse {
    std::string user_id;
    std::uint64_t hidden_from = kNever;    // the owner erased at this seq...
    std::uint64_t allowed_again = kNever;  // ...and posted under it again at this one
  };

  void learn(std::uint64_t seq, const v1::LogEntry& entry, const Applied& applied);
  void hide_item(char kind, std::uint64_t id, std::uint64_t from);
  void check_question(const v1::Question& question, const Viewer& viewer, std::uint64_t seen_at) const;
  void check_message(const v1::ChatMessage& message, const Viewer& viewer, std::uint64_t seen_at) const;
  void check_markers(const google::protobuf::Message& message, const Viewer& viewer,
                     std::uint64_t seen_at) const;
  void check_state_data(const v1::RoomStateData& data, std::uint64_t as_of, std::uint64_t names_as_of) const;
  void check_transcripts(const std::vector<SequencedEntry>& stored,
                         const std::optional<v1::RoomCheckpoint>& checkpoint) const;
  // Whether `user_id` erased after entry `seq`.
  bool erased_after(const std::string& user_id, std::uint64_t seq) const;

  std::string room_id_;
  Limits limits_;
  MarkerBook& book_;
  RoomState state_;
  std::vector<SequencedEntry> log_;  // every entry, rewritten as storage was, never trimmed

  std::unordered_map<std::uint64_t, std::string> question_author_;
  std::unordered_map<std::uint64_t, std::string> message_author_;
  std::unordered_set<std::uint64_t> anonymous_;    // questions asked anonymously
  std::unordered_set<std::uint64_t> ever_public_;  // questions that were open to everyone
  std::unordered_set<std::uint64_t> held_;         // messages held and not released
  std::vector<std::uint64_t> question_ids_;
  std::vector<std::uint64_t> message_ids_;
  std::map<std::string, std::set<std::uint64_t>> erasures_;  // user id -> seqs of their erasures
  std::unordered_map<std::string, NameUse> names_;           // name marker -> its use in this room
};

}  // namespace hearth::fuzz
