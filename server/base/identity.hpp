// Server-made identifiers: anonymous user ids, pseudonyms, connection and
// room ids. All from OpenSSL's CSPRNG, so that none can be guessed.
#pragma once

#include <span>
#include <string>

namespace hearth {

// Lower-case hex of `bytes`, two digits each.
std::string to_hex(std::span<const unsigned char> bytes);
std::string random_hex(std::size_t bytes);
// "anon:" and 16 hex digits; token subjects may not start with "anon:".
std::string new_anonymous_user_id();
inline bool is_anonymous_id(std::string_view user_id) {
  return user_id.starts_with("anon:");
}
// "Guest-" and four digits, for people who give no name.
std::string new_pseudonym();
// The pseudonym of an anonymous member who gave no name, from their id, so
// that it stays theirs when they come back.
std::string pseudonym_for(std::string_view user_id);
std::string new_connection_id();
// Ten characters of [a-z2-9] without look-alikes, for rooms created without an id.
std::string new_room_id();

}  // namespace hearth
