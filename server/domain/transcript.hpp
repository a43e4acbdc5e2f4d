// A room's transcript, rendered from its log: who joined, asked, answered,
// said and moderated what, in order. Deleted items appear as tombstones
// (never their text), anonymous questions without their author, and votes
// only as the final count of each question: who voted for what is nobody's
// business, not even the host's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/sequenced_entry.hpp"

namespace hearth {

enum class TranscriptFormat { json, markdown };

// Renders a transcript while the log is read, in two passes over it, so that
// memory is bounded by one fold of the room's state and a page of the log,
// never by the log's length or the transcript's size:
//   1. learn() each entry after the checkpoint's base (the whole log if
//      there is no checkpoint), in order: what later entries did to earlier
//      items (deleted, erased, final vote counts, the title);
//   2. head(), then render() the same entries again in the same order (the
//      first pass's last seq ends the second), then tail().
// The concatenation is the transcript. A second pass that meets entries the
// first did not (the log was trimmed or rewritten between them) still
// renders what it reads: the caller checks that the seqs run on unbroken.
class TranscriptRenderer {
 public:
  // `checkpoint`: the room's stored checkpoint, if retention trimmed its log.
  TranscriptRenderer(std::string room_id, std::optional<v1::RoomCheckpoint> checkpoint,
                     TranscriptFormat format);
  ~TranscriptRenderer();
  TranscriptRenderer(const TranscriptRenderer&) = delete;
  TranscriptRenderer& operator=(const TranscriptRenderer&) = delete;

  void learn(const SequencedEntry& entry);
  // Whether the room was ever there: an entry learnt, or a checkpoint.
  bool found() const;
  // The seq where the pass reads from (the base's), and the last it learnt.
  std::uint64_t base_seq() const;
  std::uint64_t last_seq() const;

  std::string head();
  // Appends the entry's line to `out` (nothing for votes and for entries
  // the fold refused).
  void render(const SequencedEntry& entry, std::string& out);
  std::string tail();

 private:
  struct Passes;
  std::unique_ptr<Passes> passes_;
};

// The whole transcript of `entries` at once (tests and tools).
std::string render_transcript(const std::string& room_id, const v1::RoomCheckpoint* checkpoint,
                              const std::vector<SequencedEntry>& entries, TranscriptFormat format);

}  // namespace hearth
