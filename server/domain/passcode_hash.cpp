#include "domain/passcode_hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace hearth {
namespace {

constexpr int kSaltBytes = 16;
constexpr int kKeyBytes = 32;
constexpr int kIterations = 20000;

std::string derive(std::string_view passcode, std::string_view salt) {
  std::string key(kKeyBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(passcode.data(), static_cast<int>(passcode.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                        kIterations, EVP_sha256(), kKeyBytes,
                        reinterpret_cast<unsigned char*>(key.data())) != 1) {
    throw std::runtime_error("PBKDF2 failed");
  }
  return key;
}

}  // namespace

std::string hash_passcode(std::string_view passcode) {
  std::string salt(kSaltBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), kSaltBytes) != 1) {
    throw std::runtime_error("no randomness for a salt");
  }
  return salt + derive(passcode, salt);
}

bool passcode_matches(std::string_view passcode, std::string_view stored) {
  if (stored.size() != kSaltBytes + kKeyBytes) return false;
  const std::string key = derive(passcode, stored.substr(0, kSaltBytes));
  return CRYPTO_memcmp(key.data(), stored.data() + kSaltBytes, kKeyBytes) == 0;
}

}  // namespace hearth
