// libFuzzer target: the WebSocket frame reader (server/protocol/ws_frames.cpp), the
// first code that every byte from the network meets after the handshake,
// written by hand. Whatever comes in must not crash it, and:
//   * the same bytes give the same events however the network cuts them
//     (in one piece, one byte at a time, or at the fuzzer's cuts);
//   * a message handed out is at most the soft limit, and text is UTF-8;
//   * a close code handed out is one a peer may send;
//   * once it has failed it only ever says failed, and uses all it is given.
//
// The first byte picks how the rest is cut: the cuts' lengths come from the
// input's front, the stream is what remains.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "protocol/ws_frames.hpp"
#include "support/client_frames.hpp"

namespace {

using namespace hearth;
using hearth::fuzz::expect;
using hearth::fuzz::FuzzInput;
using hearth::fuzz::Seed;
using hearth::fuzz::SeedWriter;
using Kind = WsReader::Event::Kind;
using hearth::testing::client_frame;

constexpr std::size_t kSoft = 256;
constexpr std::size_t kHard = 1024;

struct Seen {
  Kind kind;
  std::string payload;
  bool text;
  std::uint16_t code;
  CloseCode close_code;
  bool operator==(const Seen&) const = default;
};

// The events of `stream`, cut into pieces of the given lengths (the rest in
// one piece once they run out).
std::vector<Seen> read(std::string stream, const std::vector<std::size_t>& cuts) {
  WsReader reader(kSoft, kHard);
  std::vector<Seen> seen;
  std::size_t at = 0;
  std::size_t cut = 0;
  bool failed = false;
  while (at < stream.size()) {
    const std::size_t size = cut < cuts.size() ? std::min(cuts[cut++], stream.size() - at) : stream.size() - at;
    std::span<char> in(stream.data() + at, size);
    at += size;
    for (;;) {
      const auto event = reader.next(in);
      if (event.kind == Kind::need_more) break;
      expect(!failed || event.kind == Kind::failed, "after a failure, only failures");
      if (event.kind == Kind::message) {
        expect(event.payload.size() <= kSoft, "a message handed out is within the soft limit");
        expect(!event.text || valid_utf8(event.payload), "a text message is UTF-8");
      }
      if (event.kind == Kind::close && event.code != 0) {
        expect(event.code >= 1000 && event.code < 5000 && event.code != 1005 && event.code != 1006,
               "a close code is one a peer may send");
      }
      if (event.kind == Kind::failed) {
        expect(in.empty(), "a failure uses all it is given");
        if (failed) break;
        failed = true;
      }
      seen.push_back({event.kind, std::string(event.payload), event.text, event.code, event.close_code});
      if (failed) break;
    }
    expect(in.empty(), "every byte given is used");
  }
  return seen;
}

}  // namespace

namespace hearth::fuzz {

std::vector<Seed> fuzz_seeds() {
  std::vector<Seed> seeds;
  auto add = [&seeds](std::string name, const SeedWriter& writer) { seeds.push_back({std::move(name), writer.str()}); };
  add("seed-two-messages",
      SeedWriter().byte(0).rest(client_frame(0x81, R"({"requestId":1,"ping":{}})") + client_frame(0x82, "\x08\x01")));
  add("seed-fragments-ping-between-close", SeedWriter().byte(3).byte(5).byte(7).byte(2).rest(
                                               client_frame(0x01, "hel") + client_frame(0x89, "x") +
                                               client_frame(0x80, "lo") + client_frame(0x88, "\x03\xE8" "bye")));
  add("seed-too-large-then-text",
      SeedWriter().byte(1).byte(16).rest(client_frame(0x82, std::string(300, 'a')) + client_frame(0x81, "caf\xC3\xA9")));
  add("seed-unmasked", SeedWriter().byte(0).rest(client_frame(0x81, "hi", false)));
  return seeds;
}

}  // namespace hearth::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  std::vector<std::size_t> cuts(input.byte() % 16);
  for (auto& cut : cuts) cut = 1 + input.byte() % 32;
  const std::string stream(input.rest());
  const auto whole = read(stream, {});
  expect(read(stream, std::vector<std::size_t>(stream.size(), 1)) == whole, "byte by byte reads as in one piece");
  expect(read(stream, cuts) == whole, "cut anywhere reads as in one piece");
  return 0;
}
