#include "identity.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace hearth {
namespace {

template <std::size_t N>
std::array<unsigned char, N> random_bytes() {
  std::array<unsigned char, N> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(N)) != 1) throw std::runtime_error("RAND_bytes failed");
  return bytes;
}

}  // namespace

std::string random_hex(std::size_t count) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto byte = random_bytes<1>()[0];
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 0xF]);
  }
  return out;
}

std::string new_anonymous_user_id() { return "anon:" + random_hex(8); }

std::string new_pseudonym() {
  const auto bytes = random_bytes<2>();
  const unsigned value = (static_cast<unsigned>(bytes[0]) << 8 | bytes[1]) % 9000 + 1000;
  return "Guest-" + std::to_string(value);
}

std::string new_connection_id() { return random_hex(12); }

std::string new_room_id() {
  static constexpr char alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";  // 31 symbols
  const auto bytes = random_bytes<10>();
  std::string out;
  for (const auto byte : bytes) out.push_back(alphabet[byte % 31]);
  return out;
}

}  // namespace hearth
