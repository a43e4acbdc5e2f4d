// Rewriting a room's stored log, a page at a time, with stand-ins for some
// of its entries (Engine::rewrite_page, finish_rewrite): "erase my data"
// (server/room/room_erasure.cpp) and retention (server/room/retention.cpp) share it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "engine/engine.hpp"

namespace hearth {

struct LogRewrite {
  std::string room_id;
  std::string epoch;
  // Entries appended while the copy is made go in with the swap as they are
  // only if none holds these bytes (Engine::finish_rewrite): the person
  // being erased; else they are copied, with their stand-ins, and the swap
  // tried again. Empty: they go in as they are (retention: whatever they
  // need is for a later sweep).
  std::string user_id;
  std::uint64_t base_seq = 0;                    // the stored checkpoint's base: the log starts after it
  std::uint64_t checkpoint_seq = 0;              // the stored checkpoint's seq (0: none)
  std::optional<v1::RoomCheckpoint> checkpoint;  // its stand-in; unset: it stays
};

// The stand-ins for a page's entries that need one. The caller may note
// more of what it reads: it sees every entry once per attempt, in order.
using StandInsFor = std::function<std::vector<SequencedEntry>(const std::vector<SequencedEntry>& page)>;

// Copies the stored log with its stand-ins and swaps the copy in with
// `final_entry()` appended, in one storage step; what others append
// meanwhile is caught up with (Engine::finish_rewrite). The log stays
// readable, unchanged, throughout. Answers the appended entry's seq, or:
// conflict (the log was rewritten or trimmed under it, or kept changing:
// start again), or unavailable once `gone()` (asked after every read).
boost::asio::awaitable<std::tuple<std::error_code, std::uint64_t>> rewrite_stored_log(
    LogStore& engine, const LogRewrite& plan, const StandInsFor& stand_ins_for,
    const std::function<v1::LogEntry()>& final_entry, const std::function<bool()>& gone);

}  // namespace hearth
