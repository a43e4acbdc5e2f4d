// Room passcodes: only a salted, slow hash is kept (in the room's log), so a
// copy of the storage does not give the passcode away.
//
// PBKDF2-HMAC-SHA256 from OpenSSL with a random 16-byte salt: a well-kept
// primitive rather than anything of our own. 20,000 iterations take about
// 5 ms here (more under the sanitizers). Guesses are checked by
// PasscodeChecker (passcode.hpp), off the shards' threads.
#pragma once

#include <string>
#include <string_view>

namespace hearth {

// salt (16 bytes) followed by the 32-byte derived key.
std::string hash_passcode(std::string_view passcode);
// Constant-time; false for an empty or malformed `stored`.
bool passcode_matches(std::string_view passcode, std::string_view stored);

}  // namespace hearth
