// The WebSocket reader and writer (ws_frames.hpp): RFC 6455's framing rules,
// byte by byte where the network may split them.
#include "protocol/ws_frames.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/client_frames.hpp"

namespace hearth {
namespace {

using Kind = WsReader::Event::Kind;
using hearth::testing::client_frame;

struct Seen {
  Kind kind;
  std::string payload;
  bool text = false;
  std::uint16_t code = 0;
  CloseCode close_code = CloseCode::normal;
};

// Everything the reader makes of `bytes`, given `step` bytes at a time.
std::vector<Seen> read_all(WsReader& reader, std::string bytes, std::size_t step) {
  std::vector<Seen> seen;
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    std::span<char> in(bytes.data() + at, std::min(step, bytes.size() - at));
    for (;;) {
      const auto event = reader.next(in);
      if (event.kind == Kind::need_more) break;
      seen.push_back({event.kind, std::string(event.payload), event.text, event.code, event.close_code});
      if (event.kind == Kind::failed) return seen;
    }
    EXPECT_TRUE(in.empty()) << "every byte given is used";
  }
  return seen;
}

std::vector<Seen> read_all(std::string bytes, std::size_t step = 1 << 20) {
  WsReader reader(100, 400);
  return read_all(reader, std::move(bytes), step);
}

TEST(WsReader, WholeFramesInOneBufferAndSplitAnywhere) {
  const std::string stream = client_frame(0x81, "{\"ping\":{}}") + client_frame(0x82, std::string(90, 'b')) +
                             client_frame(0x89, "are you there") + client_frame(0x81, "");
  for (std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{1000}}) {
    WsReader reader(100, 400);
    const auto seen = read_all(reader, stream, step);
    ASSERT_EQ(seen.size(), 4u) << "step " << step;
    EXPECT_EQ(seen[0].kind, Kind::message);
    EXPECT_TRUE(seen[0].text);
    EXPECT_EQ(seen[0].payload, "{\"ping\":{}}");
    EXPECT_EQ(seen[1].kind, Kind::message);
    EXPECT_FALSE(seen[1].text);
    EXPECT_EQ(seen[1].payload, std::string(90, 'b'));
    EXPECT_EQ(seen[2].kind, Kind::ping);
    EXPECT_EQ(seen[2].payload, "are you there");
    EXPECT_EQ(seen[3].kind, Kind::message);
    EXPECT_EQ(seen[3].payload, "");
    EXPECT_FALSE(reader.mid_message());
  }
}

TEST(WsReader, FragmentsMakeOneMessageAndControlFramesMayComeBetween) {
  const std::string stream = client_frame(0x01, "hel") + client_frame(0x8A, "") + client_frame(0x00, "lo ") +
                             client_frame(0x89, "x") + client_frame(0x80, "world");
  for (std::size_t step : {std::size_t{1}, std::size_t{5}, std::size_t{1000}}) {
    const auto seen = read_all(stream, step);
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].kind, Kind::pong);
    EXPECT_EQ(seen[1].kind, Kind::ping);
    EXPECT_EQ(seen[2].kind, Kind::message);
    EXPECT_TRUE(seen[2].text);
    EXPECT_EQ(seen[2].payload, "hello world");
  }
}

TEST(WsReader, AMessageOverTheSoftLimitIsDrainedAndTheNextIsRead) {
  // 60 + 60 bytes in two fragments: over 100, under 400.
  const std::string stream =
      client_frame(0x02, std::string(60, 'a')) + client_frame(0x80, std::string(60, 'a')) + client_frame(0x81, "next");
  const auto seen = read_all(stream, 13);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].kind, Kind::too_large);
  EXPECT_FALSE(seen[0].text);
  EXPECT_EQ(seen[1].kind, Kind::message);
  EXPECT_EQ(seen[1].payload, "next");
}

TEST(WsReader, AMessageOverTheHardLimitFailsWith1009AtTheHeaderThatPassesIt) {
  const std::string stream = client_frame(0x02, std::string(300, 'a')) + client_frame(0x80, std::string(101, 'a'));
  const auto seen = read_all(stream);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, Kind::failed);
  EXPECT_EQ(seen[0].close_code, CloseCode::message_too_big);
}

TEST(WsReader, BrokenRulesFailWith1002) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"unmasked", client_frame(0x81, "hi", false)},
      {"a reserved bit", client_frame(0xC1, "hi")},
      {"an unknown opcode", client_frame(0x83, "hi")},
      {"a continuation with nothing to continue", client_frame(0x80, "hi")},
      {"a new message inside a fragmented one", client_frame(0x01, "a") + client_frame(0x81, "b")},
      {"a fragmented ping", client_frame(0x09, "")},
      {"a ping over 125 bytes", client_frame(0x89, std::string(126, 'p'))},
      {"a 16-bit length under 126", client_frame(0x81, "short", true, true)},
      {"a one-byte close", client_frame(0x88, "x")},
      {"close code 1005", client_frame(0x88, std::string("\x03\xED", 2))},
      {"close code 999", client_frame(0x88, std::string("\x03\xE7", 2))},
  };
  for (const auto& [what, bytes] : cases) {
    const auto seen = read_all(bytes);
    ASSERT_FALSE(seen.empty()) << what;
    EXPECT_EQ(seen.back().kind, Kind::failed) << what;
    EXPECT_EQ(seen.back().close_code, CloseCode::protocol_error) << what;
  }
}

TEST(WsReader, A64BitLengthWithTheTopBitSetFails) {
  std::string frame("\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04", 14);
  const auto seen = read_all(frame);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].close_code, CloseCode::protocol_error);
}

TEST(WsReader, InvalidUtf8InTextFailsWith1007EvenAcrossFragments) {
  // "é" split between two fragments is fine; a lone continuation byte is not.
  const auto fine = read_all(client_frame(0x01, "caf\xC3") + client_frame(0x80, "\xA9"), 1);
  ASSERT_EQ(fine.size(), 1u);
  EXPECT_EQ(fine[0].payload, "caf\xC3\xA9");
  const auto bad = read_all(client_frame(0x81, "{} \xC3\x28"));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].close_code, CloseCode::invalid_payload);
  // Binary is not text: any bytes.
  EXPECT_EQ(read_all(client_frame(0x82, "\xC3\x28")).at(0).kind, Kind::message);
  // A close reason must be UTF-8 too.
  EXPECT_EQ(read_all(client_frame(0x88, std::string("\x03\xE8\xFF", 3))).at(0).close_code, CloseCode::invalid_payload);
}

TEST(WsReader, CloseFramesCarryTheirCode) {
  auto seen = read_all(client_frame(0x88, std::string("\x03\xE8", 2) + "bye"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, Kind::close);
  EXPECT_EQ(seen[0].code, 1000);
  seen = read_all(client_frame(0x88, ""));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, Kind::close);
  EXPECT_EQ(seen[0].code, 0);
  EXPECT_EQ(read_all(client_frame(0x88, std::string("\x0F\xA1", 2))).at(0).code, 4001);
}

TEST(WsReader, AfterAFailureEverythingIsRefused) {
  WsReader reader(100, 400);
  auto seen = read_all(reader, client_frame(0x81, "x", false), 100);
  ASSERT_EQ(seen.back().kind, Kind::failed);
  std::string more = client_frame(0x81, "fine");
  std::span<char> in(more.data(), more.size());
  EXPECT_EQ(reader.next(in).kind, Kind::failed);
  EXPECT_TRUE(in.empty());
}

TEST(WsFrames, ServerFramesUseTheShortestLength) {
  EXPECT_EQ(*make_ws_frame(WsOpcode::text, "hi"), std::string("\x81\x02hi", 4));
  const auto medium = make_ws_frame(WsOpcode::binary, std::string(300, 'x'));
  EXPECT_EQ(medium->substr(0, 4), std::string("\x82\x7E\x01\x2C", 4));
  const auto big = make_ws_frame(WsOpcode::binary, std::string(70000, 'x'));
  EXPECT_EQ(big->substr(0, 10), std::string("\x82\x7F\x00\x00\x00\x00\x00\x01\x11\x70", 10));
  EXPECT_EQ(*make_close_frame(4001), std::string("\x88\x02\x0F\xA1", 4));
}

TEST(Utf8, TheEdgesOfValid) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("\xF0\x9F\x92\x9C"));      // U+1F49C
  EXPECT_TRUE(valid_utf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));     // past U+10FFFF
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));         // a surrogate
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));             // overlong
  EXPECT_FALSE(valid_utf8("\xE0\x80\xAF"));         // overlong
  EXPECT_FALSE(valid_utf8("\xF0\x8F\xBF\xBF"));     // overlong
  EXPECT_FALSE(valid_utf8("\xE2\x82"));             // cut short
  EXPECT_FALSE(valid_utf8("\x80"));                 // a lone continuation
}

}  // namespace
}  // namespace hearth
