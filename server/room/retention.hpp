// Retention: every `interval`, this node walks every room's log and trims
// what is older than the room's retention (RoomSettings.retention_days, or
// the server's default).
//
// Trimming one room, so that every node ends in the same state:
//   1. fold the log (from the last checkpoint, if any) to its end, and find
//      the last entry older than the cut-off: up_to (reading a page at a
//      time, twice: no sweep holds a room's whole log);
//   2. append a TrimEntry{up_to}: every node that has the room open applies
//      it, removing the questions and messages at or below up_to;
//   3. fold on through that entry, and store a checkpoint of the state there
//      (with the state at up_to, trim applied, for the transcript), which
//      removes the log's entries at or below up_to.
// A node that opens the room later starts from the checkpoint, which is the
// very state the others reached by folding.
//
// One node sweeps each room: before reading a room's log, a node takes the
// room's turn, which every node shares (SharedBudgets::take_turn): it
// sweeps the room only if no node has within its `interval` (sweep_now()
// always does). Should two sweep at once all the same (the turn's storage
// unreachable, or a sweep slower than the interval), they do the same work
// twice, never harm: a second TrimEntry changes nothing, and a checkpoint
// older than the stored one is not stored.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/budgets.hpp"
#include "base/limits.hpp"
#include "engine/engine.hpp"

namespace hearth {

class Retention : public std::enable_shared_from_this<Retention> {
 public:
  // `budgets`: those every node shares (the Redis engine), or this node's.
  Retention(boost::asio::any_io_executor executor, LogStore& engine, SharedBudgets& budgets, Limits limits,
            std::uint32_t default_days, std::chrono::seconds interval);

  // Sweeps every interval until stop(); the first sweep comes after a random
  // part of one, so that nodes started together do not sweep together.
  void start();
  void stop();
  // One sweep now, whatever the interval and the other nodes' sweeps;
  // `done` runs when it is over.
  void sweep_now(std::function<void()> done);

 private:
  boost::asio::awaitable<void> run();
  // `in_turn`: each room only if its sweep budget has a turn (see above).
  boost::asio::awaitable<void> sweep(bool in_turn);
  boost::asio::awaitable<void> trim_room(const std::string& room_id);

  LogStore& engine_;
  SharedBudgets& budgets_;
  const Limits limits_;
  const std::uint32_t default_days_;
  const std::chrono::seconds interval_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
};

}  // namespace hearth
