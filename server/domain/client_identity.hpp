// Who one client connection is, and who it is in each room it joins: the
// Hello, the tokens of joins, and anonymous identities per room with their
// resume tokens (docs/protocol.md 1.5). No I/O: the client session
// (client_session.hpp) asks it, and the session fuzzer drives the same code.
//
// - A connection is identified by a Hello (a token, or anonymous), by a
//   token in the upgrade request, or at its first join.
// - An anonymous person has an identity of each room's own (room_member_id),
//   so that no two rooms' hosts can tie their members to one person; a
//   rejoin on the same connection is the same member, and a resume token
//   brings them back on another.
// - After a ForgetMe in a room, a rejoin there is someone new.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

#include "domain/membership.hpp"
#include "domain/token.hpp"
#include "hearth/v1/protocol.pb.h"
#include "protocol/error.hpp"

namespace hearth {

// How long an anonymous member's resume token lasts: from its join, and in
// all at most kAnonymousIdentityMaxLifetime from the identity's first join
// (docs/protocol.md 1.5), however often it is renewed.
inline constexpr auto kAnonymousIdentityLifetime = std::chrono::hours(24);
inline constexpr auto kAnonymousIdentityMaxLifetime = std::chrono::days(7);

// TOKEN_EXPIRED, TOKEN_WRONG_ROOM or TOKEN_INVALID, for a TokenError.
Failure token_failure(std::error_code error);

class ClientIdentity {
 public:
  // `claims`: a token's from the upgrade request, which identifies the
  // connection as a Hello with it would. `secret` (the server's token
  // secret) must outlive it: one per connection, it keeps no copy.
  ClientIdentity(std::string_view secret, std::size_t max_name_chars,
                 std::optional<Claims> claims = std::nullopt);

  bool identified() const noexcept { return identified_; }
  // Set once identified; anonymous: the connection's own id, which names
  // it in no room.
  const std::string& user_id() const noexcept { return user_id_; }

  // A Hello: the Welcome, or why not (a second Hello, a bad token or name).
  std::variant<v1::Welcome, Failure> hello(const v1::Hello& hello);

  // Who this connection is in `room_id` for a join with `token` (a join
  // token, a resume token, or none) and `display_name`, or the failure to
  // reply with. `in_room(id)` says whether the connection is in a room,
  // whose anonymous identity is then never let go of.
  std::optional<Failure> membership_for(const std::string& room_id, const std::string& token,
                                        const std::string& display_name, Membership& out,
                                        const std::function<bool(const std::string&)>& in_room);
  // The room let `membership` in: an anonymous one has a resume token now,
  // which another tab may use to forget it, so a rejoin here looks that up.
  void joined(const std::string& room_id, const Membership& membership);
  // An anonymous member's resume token for the join reply; "" for the
  // signed-in, and once the identity is past its lifetime.
  std::string resume_token_for(const std::string& room_id, const Membership& membership) const;
  // ForgetMe in `room_id`: a rejoin on this connection is someone new.
  void forget(const std::string& room_id);
  // How long a forgotten identity's resume tokens must stay void: as long
  // as the longest-lived of them.
  static std::chrono::seconds forget_for(const Membership& membership,
                                         std::chrono::system_clock::time_point now);

 private:
  void ensure_identified();
  // The name a member shows in a room: the join's `chosen` one, the
  // connection's, or (anonymous, without one) the pseudonym of `user_id`.
  std::string name_in_room(const std::string& chosen, const std::string& user_id) const;

  // Anonymous: this connection's identity in a room it joined: derived
  // from user_id_ (room_member_id), or taken from a resume token.
  struct RoomIdentity {
    std::string user_id;
    std::int64_t since = 0;
    bool resumed = false;
  };

  const std::string_view secret_;
  const std::size_t max_name_chars_;
  bool identified_ = false;
  bool hello_seen_ = false;
  std::string user_id_;
  // Anonymous: the name the person chose, or empty (a pseudonym per room).
  std::string display_name_;
  std::unique_ptr<Claims> claims_;  // a Hello's (or the upgrade's) token, unless anonymous
  std::map<std::string, RoomIdentity> room_identities_;
  std::map<std::string, int> forgets_;  // ForgetMe calls by room: never forgotten (each was a join)
};

}  // namespace hearth
