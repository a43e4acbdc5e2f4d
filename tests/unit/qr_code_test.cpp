// The share panel's QR codes: only this server's room links are drawn, and
// the drawing is a whole QR code with its quiet zone. (The browser test
// browser.share reads one back with zbarimg.)
#include "app/qr_code.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace hearth {
namespace {

TEST(QrCode, OnlyThisServersRoomLinksAreDrawn) {
  EXPECT_TRUE(shareable_room_link("http://127.0.0.1:8080/r/grief-ama", "127.0.0.1:8080"));
  EXPECT_TRUE(shareable_room_link("https://hearth.example.org/r/Night_shift-2", "hearth.example.org"));
  for (const char* link : {
           "https://evil.example/r/grief-ama",                   // someone else's host
           "https://hearth.example.org.evil/r/grief-ama",        // a host that only starts the same
           "https://hearth.example.org/r/grief-ama#invite=abc",  // a secret in a fragment
           "https://hearth.example.org/r/grief-ama?x=1",
           "https://hearth.example.org/r/a/b",
           "https://hearth.example.org/r/",
           "https://hearth.example.org/transcript",
           "javascript:alert(1)//hearth.example.org/r/x",
           "ftp://hearth.example.org/r/grief-ama",
           "",
       }) {
    EXPECT_FALSE(shareable_room_link(link, "hearth.example.org")) << link;
  }
  EXPECT_FALSE(shareable_room_link("https://hearth.example.org/r/x", "")) << "no Host header";
  EXPECT_FALSE(shareable_room_link("https://me@hearth.example.org/r/x", "hearth.example.org")) << "userinfo";
  EXPECT_TRUE(shareable_room_link("https://Hearth.Example.org/r/x", "hearth.example.org"))
      << "hosts ignore case";
  EXPECT_FALSE(shareable_room_link("http://127.0.0.1:8081/r/x", "127.0.0.1:8080")) << "another port";
  EXPECT_TRUE(shareable_room_link("http://[::1]:8080/r/x", "[::1]:8080"));
  // A Host header is whatever the client sends: it must be a host and port.
  EXPECT_FALSE(shareable_room_link("https://evil.example/phish?x=/r/abc", "evil.example/phish?x="));
  EXPECT_FALSE(shareable_room_link("https://good.example@evil.example/r/abc", "good.example@evil.example"));
  EXPECT_FALSE(
      shareable_room_link("https://hearth.example.org/r/" + std::string(65, 'a'), "hearth.example.org"));
}

TEST(QrCode, IsAnSvgOfAWholeCodeWithItsQuietZone) {
  const auto svg = qr_code_svg("https://hearth.example.org/r/grief-ama", "QR code for <the room> & more");
  ASSERT_TRUE(svg);
  std::smatch match;
  ASSERT_TRUE(std::regex_search(*svg, match, std::regex(R"re(viewBox="0 0 (\d+) (\d+)")re")));
  const int size = std::stoi(match[1]);
  EXPECT_EQ(match[1], match[2]);
  // A version-v code is 4v + 17 modules wide, plus 4 on each side.
  EXPECT_EQ((size - 8 - 17) % 4, 0) << size;
  EXPECT_GE(size, 21 + 8);
  EXPECT_NE(svg->find("<title>QR code for &lt;the room&gt; &amp; more</title>"), std::string::npos);
  // The three finder patterns: a 7-module dark run starts rows at the
  // quiet zone's edge, top left.
  EXPECT_NE(svg->find("M4 4h7v1h-7z"), std::string::npos);
  EXPECT_FALSE(qr_code_svg("", "empty"));
  EXPECT_FALSE(qr_code_svg(std::string(301, 'x'), "too long for a share link"));
}

}  // namespace
}  // namespace hearth
