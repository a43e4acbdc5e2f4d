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
  // A server-assigned anonymous identity ("anon:..." sub, participant, every
  // room), handed to its connection in Welcome.resume_token so that the same
  // person keeps it across reconnects. Only the server mints these: an
  // "anon:" sub without this claim is refused.
  bool anonymous = false;
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
