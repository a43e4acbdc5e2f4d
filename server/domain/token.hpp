// Signed identity tokens: HS256 JSON Web Tokens minted by operators (or by a
// site that embeds Hearth) and checked on Hello/JoinRoom.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/system/result.hpp>

#include "hearth/v1/protocol.pb.h"

namespace hearth {

// What a token says about its bearer. `room` is a room id or "*" (all rooms).
struct Claims {
  std::string sub;
  std::string name;
  v1::Role role = v1::ROLE_PARTICIPANT;
  std::string room;
  std::int64_t exp = 0;  // seconds since the Unix epoch
};

enum class TokenError {
  malformed = 1,      // not three base64url parts of JSON with the claims we need
  bad_algorithm,      // anything but HS256, "none" included
  bad_signature,
  expired,
  wrong_room,
};

const std::error_category& token_category() noexcept;
inline std::error_code make_error_code(TokenError e) noexcept { return {static_cast<int>(e), token_category()}; }

// Returns a signed token for `claims`. `secret` must not be empty.
std::string mint_token(const Claims& claims, std::string_view secret);

// Checks signature, algorithm, shape and expiry at `now`. It does not check
// the room: see check_room.
boost::system::result<Claims, std::error_code> verify_token(std::string_view token, std::string_view secret,
                                                            std::chrono::system_clock::time_point now);

// Invites to a private room: {"inv": room, "exp"}, signed like identity
// tokens but naming no one (verify_token refuses them, and verify_invite
// refuses identity tokens).
std::string mint_invite(const std::string& room_id, std::int64_t exp, std::string_view secret);
// The room the invite is for.
boost::system::result<std::string, std::error_code> verify_invite(std::string_view token, std::string_view secret,
                                                                  std::chrono::system_clock::time_point now);

// Resume tokens: how an anonymous member of one room comes back as the same
// member (their votes, their questions) after a lost connection. The server
// mints one with every anonymous join and takes it back in JoinRoom.token
// for that room only. It names no one: no display name, only the member's
// id in that room. `since` is when the identity was first made: renewals
// carry it, so no chain of renewals outlives since + the absolute lifetime.
// verify_token refuses these, and verify_resume refuses every other token.
struct ResumeClaims {
  std::string user_id;  // "anon:...", the member's id in `room`
  std::string room;
  std::int64_t since = 0;
  std::int64_t exp = 0;
};
std::string mint_resume(const ResumeClaims& claims, std::string_view secret);
boost::system::result<ResumeClaims, std::error_code> verify_resume(std::string_view token,
                                                                   std::string_view secret,
                                                                   std::chrono::system_clock::time_point now);
// Whether `token` is meant as a resume token (signed or not): which of the
// two verifications a join token gets.
bool looks_like_resume(std::string_view token);

// An anonymous connection's id in one room: "anon:" and 16 hex digits of
// HMAC(secret, connection id, room). Stable while the connection lasts,
// and nobody without the secret can tie two rooms' ids to one connection.
std::string room_member_id(std::string_view connection_user_id, std::string_view room_id,
                           std::string_view secret);

// `time` as a token's `exp`: whole seconds since the Unix epoch.
std::int64_t seconds_since_epoch(std::chrono::system_clock::time_point time);

// Whether `claims` have expired at `now` (exp is exclusive).
bool has_expired(const Claims& claims, std::chrono::system_clock::time_point now);

// Whether `claims` are valid for `room_id`: TokenError::wrong_room if not.
std::error_code check_room(const Claims& claims, std::string_view room_id);

// "host" -> ROLE_HOST and back; ROLE_UNSPECIFIED for an unknown name.
v1::Role role_from_name(std::string_view name);
std::string_view role_name(v1::Role role);

}  // namespace hearth

template <>
struct std::is_error_code_enum<hearth::TokenError> : std::true_type {};
