// What the files of Room share (room.cpp, room_members.cpp,
// room_commands.cpp, room_presence.cpp): within hearth_room only.
#pragma once

#include <boost/asio/post.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "domain/command.hpp"
#include "room/connection.hpp"
#include "room/shards.hpp"

namespace hearth::room_parts {

// A connection's arrival (on `node_id`) or departure, by `member`, as one
// change of a PresenceEntry.
inline v1::PresenceEntry::Change joined_change(const Membership& member, const std::string& connection_id,
                                               const std::string& node_id) {
  v1::PresenceEntry::Change change;
  *change.mutable_actor() = new_entry(member).actor();
  change.mutable_joined()->set_connection_id(connection_id);
  change.mutable_joined()->set_node_id(node_id);
  return change;
}

inline v1::PresenceEntry::Change left_change(const Membership& member, const std::string& connection_id,
                                             v1::MemberLeft::Reason reason) {
  v1::PresenceEntry::Change change;
  *change.mutable_actor() = new_entry(member).actor();
  change.mutable_left()->set_connection_id(connection_id);
  change.mutable_left()->set_reason(reason);
  return change;
}

// Sends frames to many members: at once to those on this thread's shard,
// and to each other shard in one post for all its members (not a post per
// member), when the FanOut ends. Posts from one thread to one shard run in
// order, so what a room sends after a FanOut (a reply) still comes after it.
class FanOut {
 public:
  FanOut() = default;
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;
  ~FanOut() {
    for (auto& [shard, frames] : away_) {
      boost::asio::post(shard->io(), [frames = std::move(frames)]() mutable {
        for (auto& [connection, frame] : frames) connection->send(std::move(frame));
      });
    }
  }

  void send(const std::shared_ptr<Connection>& connection, const SharedFrame& frame) {
    Shard* home = connection->home();
    if (home == nullptr || home == here_) return connection->send(frame);
    for (auto& [shard, frames] : away_) {
      if (shard == home) {
        frames.emplace_back(connection, frame);
        return;
      }
    }
    away_.emplace_back(home,
                       std::vector<std::pair<std::shared_ptr<Connection>, SharedFrame>>{{connection, frame}});
  }

 private:
  Shard* const here_ = Shard::current();
  // A few shards at most (--threads): a vector beats a map.
  std::vector<std::pair<Shard*, std::vector<std::pair<std::shared_ptr<Connection>, SharedFrame>>>> away_;
};

}  // namespace hearth::room_parts
