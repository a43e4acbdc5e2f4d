// The Rooms this node has open, by id: at most one current Room per id.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "base/limits.hpp"
#include "engine/engine.hpp"
#include "room/address_bans.hpp"
#include "room/passcode.hpp"
#include "room/room.hpp"
#include "room/shards.hpp"

namespace hearth {

class RoomRegistry {
 public:
  // Each Room opened runs on the next of `shards`.
  RoomRegistry(Shards& shards, Engine& engine, PasscodeChecker& passcodes, ReportMeter& reports,
               AddressBans& address_bans, Limits limits);

  PasscodeChecker& passcodes() noexcept { return passcodes_; }
  ReportMeter& reports() noexcept { return reports_; }
  AddressBans& address_bans() noexcept { return address_bans_; }

  // Runs `op` on the room's strand, opening the Room (and reading its log)
  // first if this node does not have it open; `refusal` as Room::run()'s.
  void with_room(const std::string& room_id, Room::Op op, Room::Refusal refusal = {});

  // Called by a Room on its strand when it has no local members and no work:
  // drops it unless a newer Room replaced it.
  void forget(const std::string& room_id, const Room* room);

  std::size_t open_rooms() const;

  // For a forced stop, once no shard runs: Room::abandon() on every Room.
  void abandon_all();

  // Runs `fn` once no Room is open (at once if none is), on whichever thread
  // closes the last one. For shutdown.
  void when_empty(std::function<void()> fn);

 private:
  Shards& shards_;
  Engine& engine_;
  PasscodeChecker& passcodes_;
  ReportMeter& reports_;
  AddressBans& address_bans_;
  Limits limits_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Room>> rooms_;
  std::function<void()> on_empty_;
};

}  // namespace hearth
