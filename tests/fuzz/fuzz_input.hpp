// What every fuzz target shares: a reader that turns the fuzzer's bytes into
// choices, and the seed inputs each target writes for itself.
//
// The targets read their input as a stream of small choices rather than as
// one message, so that a mutation of one byte changes one choice. Reading
// past the end yields zeros: every input, even an empty one, is a complete
// program, and the seeds a target writes (fuzz_seeds) use the same encoding
// as its reader, so they cannot drift apart.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

// Each target's entry point, called by libFuzzer or by replay_main.cpp.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace hearth::fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return offset_ >= size_; }
  std::uint8_t byte() { return empty() ? 0 : data_[offset_++]; }
  // One of `count` choices (count in 1..256): 0 once the input is used up.
  unsigned pick(unsigned count) { return count <= 1 ? 0 : byte() % count; }
  bool flag() { return (byte() & 1) != 0; }
  // Up to `max` bytes: a length byte, then that many.
  std::string_view bytes(std::size_t max) {
    const std::size_t length = std::min<std::size_t>(byte() % (max + 1), size_ - offset_);
    std::string_view out(reinterpret_cast<const char*>(data_) + offset_, length);
    offset_ += length;
    return out;
  }
  // Everything not read yet.
  std::string_view rest() {
    std::string_view out(reinterpret_cast<const char*>(data_) + offset_, size_ - offset_);
    offset_ = size_;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

// Writes what FuzzInput reads back: choices as their index, bytes with their
// length first.
class SeedWriter {
 public:
  SeedWriter& byte(unsigned value) {
    bytes_.push_back(static_cast<char>(value & 0xFF));
    return *this;
  }
  SeedWriter& bytes(std::string_view text) {
    byte(static_cast<unsigned>(text.size()));
    bytes_.append(text);
    return *this;
  }
  SeedWriter& rest(std::string_view text) {
    bytes_.append(text);
    return *this;
  }
  const std::string& str() const { return bytes_; }

 private:
  std::string bytes_;
};

// A broken invariant: says which on stderr, then stops as a crash would, so
// that libFuzzer keeps the input (and the replay names it).
[[noreturn]] inline void violated(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  __builtin_trap();
}

inline void expect(bool condition, const char* what) {
  if (!condition) violated(what);
}

struct Seed {
  std::string name;
  std::string bytes;
};

// The hand-made seeds of the target this is linked into, written by
// `<target>_replay --write-seeds DIR` (tests/fuzz/replay_main.cpp).
std::vector<Seed> fuzz_seeds();

}  // namespace hearth::fuzz
