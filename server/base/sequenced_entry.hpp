// One entry of a room's log with its place in it: what the engine reads
// and delivers, and what the fold and transcripts take.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "hearth/v1/log.pb.h"

namespace hearth {

struct SequencedEntry {
  std::uint64_t seq = 0;
  std::shared_ptr<const v1::LogEntry> entry;
  std::string epoch;  // of the log it came from, when the engine says (live entries)
};

}  // namespace hearth
