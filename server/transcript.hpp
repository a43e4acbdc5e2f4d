// A room's transcript, rendered from its log: who joined, asked, answered,
// said and moderated what, in order. Deleted items appear as tombstones
// (never their text), anonymous questions without their author, and votes
// only as the final count of each question: who voted for what is nobody's
// business, not even the host's.
#pragma once

#include <string>
#include <vector>

#include "engine.hpp"

namespace hearth {

enum class TranscriptFormat { json, markdown };

// `entries` are the log after checkpoint->base_seq when the log was trimmed
// (checkpoint not null), else the whole log.
std::string render_transcript(const std::string& room_id, const v1::RoomCheckpoint* checkpoint,
                              const std::vector<SequencedEntry>& entries, TranscriptFormat format);

}  // namespace hearth
