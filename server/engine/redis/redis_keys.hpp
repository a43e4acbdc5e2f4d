// Every key and channel the Redis engine uses, in one place.
//
// Keys of one room share the hash tag {room:ID}, so that a Redis Cluster
// keeps them on one shard:
//   hearth:{room:ID}:log         the stream; entry ids are 0-SEQ, field "e"
//                                holds the LogEntry (protobuf)
//   hearth:{room:ID}:epoch       the log's epoch, set by the creating entry
//   hearth:{room:ID}:checkpoint  a hash {seq, data: RoomCheckpoint, ...},
//                                once retention has trimmed the log
//   hearth:{room:ID}:rewrite:ID  a rewrite's scratch copy of the log
//                                (Engine::rewrite_page), which expires
//   hearth:{room:ID}:rewrite-old the log being replaced, for one script
//   hearth:{room:ID}:events      the pub/sub channel: "SEQ EPOCH\n" +
//                                LogEntry bytes ("0\n": the room was deleted)
//   hearth:{room:ID}:banned-address:KEY    a banned address's mark (KEY an
//                                HMAC, never an address), which expires
//   hearth:{room:ID}:banned-addresses-of:USER  the marks of one ban, to lift
//   hearth:{room:ID}:forgotten:USER        an identity forgotten on request
// Outside any room:
//   hearth:node:ID               a node's heartbeat, which expires
//   hearth:node:ID:echo          a channel the node publishes to, to tell
//                                that its subscription connection works
//   hearth:budget:KIND:HMAC      a shared rate budget or count (base/budgets.cpp:
//                                budget_key): guess:room, guess:address,
//                                guess:identity, message, connections
//   hearth:budget:sweep:{room:ID}  when a node last swept the room
//                                (room/retention.cpp)
#pragma once

#include <string>
#include <string_view>

namespace hearth::redis_keys {

inline constexpr std::string_view kRoomPrefix = "hearth:{room:";
inline constexpr std::string_view kEventsSuffix = "}:events";
inline constexpr std::string_view kEpochSuffix = "}:epoch";

inline std::string of_room(std::string_view room_id, std::string_view suffix) {
  std::string key(kRoomPrefix);
  key.append(room_id).append(suffix);
  return key;
}

inline std::string log(std::string_view room_id) {
  return of_room(room_id, "}:log");
}
inline std::string epoch(std::string_view room_id) {
  return of_room(room_id, kEpochSuffix);
}
inline std::string checkpoint(std::string_view room_id) {
  return of_room(room_id, "}:checkpoint");
}
inline std::string rewrite(std::string_view room_id, std::string_view rewrite_id) {
  return of_room(room_id, "}:rewrite:") + std::string(rewrite_id);
}
inline std::string rewrite_old(std::string_view room_id) {
  return of_room(room_id, "}:rewrite-old");
}
inline std::string events(std::string_view room_id) {
  return of_room(room_id, kEventsSuffix);
}
inline std::string banned_address(std::string_view room_id, std::string_view address_key) {
  return of_room(room_id, "}:banned-address:") + std::string(address_key);
}
inline std::string banned_addresses_of(std::string_view room_id, std::string_view user_id) {
  return of_room(room_id, "}:banned-addresses-of:") + std::string(user_id);
}
inline std::string forgotten(std::string_view room_id, std::string_view user_id) {
  return of_room(room_id, "}:forgotten:") + std::string(user_id);
}
// SCAN's pattern for every room's epoch key: one per room that has a log.
inline std::string every_epoch() {
  return std::string(kRoomPrefix) + "*" + std::string(kEpochSuffix);
}

inline std::string node(std::string_view node_id) {
  return "hearth:node:" + std::string(node_id);
}
inline std::string node_echo(std::string_view node_id) {
  return node(node_id) + ":echo";
}

// The room id in a key or channel made by of_room(ID, `suffix`); empty for
// any other name.
inline std::string room_of(std::string_view name, std::string_view suffix) {
  if (!name.starts_with(kRoomPrefix) || !name.ends_with(suffix) ||
      name.size() < kRoomPrefix.size() + suffix.size()) {
    return {};
  }
  return std::string(name.substr(kRoomPrefix.size(), name.size() - kRoomPrefix.size() - suffix.size()));
}

}  // namespace hearth::redis_keys
