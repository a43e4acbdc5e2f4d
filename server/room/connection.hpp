// What a room needs of one member's connection, whatever carries it. The
// client session (client_session.hpp) implements it; the session fuzzer
// implements it with a vector.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "domain/membership.hpp"
#include "hearth/v1/protocol.pb.h"
#include "protocol/codec.hpp"

namespace hearth {

class Shard;

class Connection {
 public:
  virtual ~Connection() = default;

  // Every method may be called from any thread. Calls made from one strand
  // take effect in the order they were made.

  // Queues one frame. A connection that cannot keep up closes itself.
  virtual void send(SharedFrame frame) = 0;
  // The room accepted this connection as a member (before the join reply).
  // The connection reaches the room through the registry
  // (RoomRegistry::with_room): no room hands itself up.
  virtual void joined(const std::string& room_id, Membership membership) = 0;
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
