// What a room needs of one member's connection, whatever carries it. The
// WebSocket session implements it; unit tests can implement it with a vector.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "codec.hpp"
#include "hearth/v1/protocol.pb.h"

namespace hearth {

class Shard;

class Room;

// A connection's identity and role in one room, fixed when it joins.
struct Membership {
  std::string user_id;
  std::string display_name;
  v1::Role role = v1::ROLE_PARTICIPANT;
  // May enter this room if it is private: a valid invite, a token naming
  // the room, or a staff token (the passcode is checked by the room).
  bool admitted = false;
  // Anonymous members: when this identity was first made (seconds since the
  // epoch), which bounds its resume tokens' lifetime, and whether it came
  // back with a resume token, which the room checks against the identities
  // forgotten on request (Engine::identity_forgotten).
  std::int64_t identity_since = 0;
  bool resumed = false;
};

class Connection {
 public:
  virtual ~Connection() = default;

  // Every method may be called from any thread. Calls made from one strand
  // take effect in the order they were made.

  // Queues one frame. A connection that cannot keep up closes itself.
  virtual void send(SharedFrame frame) = 0;
  // The room accepted this connection as a member (before the join reply).
  virtual void joined(const std::string& room_id, std::shared_ptr<Room> room, Membership membership) = 0;
  // A join (or create) of this connection failed; the room sent the error.
  virtual void join_failed(const std::string& room_id) = 0;
  // The room removed this connection (kicked, banned).
  virtual void removed(const std::string& room_id) = 0;

  // The encoding events should be pushed in: that of the client's last frame.
  virtual Encoding push_encoding() const = 0;
  // Unique among every connection of every node.
  virtual const std::string& connection_id() const = 0;
  // The shard whose thread this connection runs on, or null where it runs
  // on no shard (tests). A room hands frames for many connections of one
  // other shard to it in one post (FanOut in room.cpp).
  virtual Shard* home() const { return nullptr; }
};

}  // namespace hearth
