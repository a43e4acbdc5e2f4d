#include "room/room_registry.hpp"

namespace hearth {

RoomRegistry::RoomRegistry(Shards& shards, Engine& engine, PasscodeChecker& passcodes, ReportMeter& reports,
                           AddressBans& address_bans, Limits limits)
    : shards_(shards),
      engine_(engine),
      passcodes_(passcodes),
      reports_(reports),
      address_bans_(address_bans),
      limits_(limits) {}

void RoomRegistry::with_room(const std::string& room_id, Room::Op op, Room::Refusal refusal) {
  std::shared_ptr<Room> room;
  bool created = false;
  {
    std::lock_guard lock(mutex_);
    auto& slot = rooms_[room_id];
    if (!slot) {
      slot = std::make_shared<Room>(room_id, shards_.next().io().get_executor(), engine_, *this, limits_);
      created = true;
    }
    room = slot;
  }
  if (created) room->start();
  room->run(std::move(op), std::move(refusal));
}

void RoomRegistry::forget(const std::string& room_id, const Room* room) {
  std::function<void()> on_empty;
  {
    std::lock_guard lock(mutex_);
    const auto it = rooms_.find(room_id);
    if (it != rooms_.end() && it->second.get() == room) rooms_.erase(it);
    if (rooms_.empty() && on_empty_) on_empty = std::exchange(on_empty_, nullptr);
  }
  if (on_empty) on_empty();  // never under the lock
}

void RoomRegistry::when_empty(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    if (!rooms_.empty()) {
      on_empty_ = std::move(fn);
      return;
    }
  }
  fn();
}

void RoomRegistry::abandon_all() {
  std::lock_guard lock(mutex_);
  for (auto& [room_id, room] : rooms_) room->abandon();
  rooms_.clear();
}

std::size_t RoomRegistry::open_rooms() const {
  std::lock_guard lock(mutex_);
  return rooms_.size();
}

}  // namespace hearth
