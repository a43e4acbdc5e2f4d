#include "base/identity.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>
#include <vector>

namespace hearth {
namespace {

void fill_random(unsigned char* out, std::size_t count) {
  if (RAND_bytes(out, static_cast<int>(count)) != 1) throw std::runtime_error("RAND_bytes failed");
}

template <std::size_t N>
std::array<unsigned char, N> random_bytes() {
  std::array<unsigned char, N> bytes{};
  fill_random(bytes.data(), N);
  return bytes;
}

}  // namespace

std::string to_hex(std::span<const unsigned char> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (const unsigned char byte : bytes) {
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 0xF]);
  }
  return out;
}

std::string random_hex(std::size_t count) {
  // One RAND_bytes call for them all (each call costs far more than a byte).
  std::vector<unsigned char> bytes(count);
  fill_random(bytes.data(), count);
  return to_hex(bytes);
}

std::string new_anonymous_user_id() { return "anon:" + random_hex(8); }

std::string new_pseudonym() {
  const auto bytes = random_bytes<2>();
  const unsigned value = (static_cast<unsigned>(bytes[0]) << 8 | bytes[1]) % 9000 + 1000;
  return "Guest-" + std::to_string(value);
}

std::string pseudonym_for(std::string_view user_id) {
  unsigned value = 0;
  for (const char c : user_id) value = value * 31 + static_cast<unsigned char>(c);
  return "Guest-" + std::to_string(value % 9000 + 1000);
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
