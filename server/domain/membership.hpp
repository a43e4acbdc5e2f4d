// Who a connection is in one room: what the room's rules need of it,
// whatever carries the connection.
#pragma once

#include <cstdint>
#include <string>

#include "hearth/v1/protocol.pb.h"

namespace hearth {

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

// Hosts, moderators and admins: who may moderate.
inline bool is_staff(v1::Role role) {
  return role == v1::ROLE_HOST || role == v1::ROLE_MODERATOR || role == v1::ROLE_ADMIN;
}

}  // namespace hearth
