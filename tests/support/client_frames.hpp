// WebSocket frames as a client sends them (RFC 6455 §5.2), built byte by
// byte, for tests that talk to the frame reader below any WebSocket
// library: the unit tests, the raw-socket integration tests and the fuzz
// target's seeds. Header-only, so that the fuzz build needs no library.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::testing {

// One frame: `first` is the FIN bit, the reserved bits and the opcode;
// masked with a fixed key unless `masked` is false; the length in its
// shortest form unless `long_form` asks for 16 bits where 7 would do.
inline std::string client_frame(std::uint8_t first, std::string_view payload, bool masked = true,
                                bool long_form = false) {
  std::string frame(1, static_cast<char>(first));
  const std::size_t size = payload.size();
  const char mask_bit = masked ? static_cast<char>(0x80) : 0;
  if (size < 126 && !long_form) {
    frame.push_back(static_cast<char>(mask_bit | static_cast<char>(size)));
  } else if (size <= 0xFFFF) {
    frame.push_back(static_cast<char>(mask_bit | 126));
    frame.push_back(static_cast<char>(size >> 8));
    frame.push_back(static_cast<char>(size & 0xFF));
  } else {
    frame.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>((size >> (8 * i)) & 0xFF));
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) frame.append(key, 4);
  for (std::size_t i = 0; i < size; ++i) frame.push_back(masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  return frame;
}

}  // namespace hearth::testing
