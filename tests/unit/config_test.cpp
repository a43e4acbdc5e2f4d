#include "app/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace hearth {
namespace {

TEST(Config, DurationsTakeUnits) {
  EXPECT_EQ(parse_duration("90s"), std::chrono::seconds(90));
  EXPECT_EQ(parse_duration("2h"), std::chrono::hours(2));
  EXPECT_EQ(parse_duration("7d"), std::chrono::hours(168));
  EXPECT_EQ(parse_duration("15"), std::chrono::seconds(15));
  EXPECT_FALSE(parse_duration("soon"));
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration("1y"));
}

TEST(Config, FlagsWinOverEnvironmentAndSecretIsRequired) {
  ::setenv("HEARTH_PORT", "9001", 1);
  ::setenv("HEARTH_TOKEN_SECRET", "0123456789abcdef0123456789abcdef", 1);
  ::setenv("HEARTH_MAX_FRAME_BYTES", "2048", 1);
  int exit_code = -1;
  const char* argv[] = {"hearth-server", "--port", "9002"};
  const auto config = parse_config(3, argv, exit_code);
  ASSERT_TRUE(config);
  EXPECT_EQ(config->port, 9002);
  EXPECT_EQ(config->limits.max_frame_bytes, 2048u);
  EXPECT_GE(config->threads, 1u);

  ::setenv("HEARTH_TOKEN_SECRET", "short", 1);
  const char* plain[] = {"hearth-server"};
  EXPECT_FALSE(parse_config(1, plain, exit_code));
  EXPECT_EQ(exit_code, 2);
  ::unsetenv("HEARTH_PORT");
  ::unsetenv("HEARTH_TOKEN_SECRET");
  ::unsetenv("HEARTH_MAX_FRAME_BYTES");
}

TEST(Config, WriteCoalescingIsFiveMillisecondsByDefaultAndAtMostOneHundred) {
  ::setenv("HEARTH_TOKEN_SECRET", "0123456789abcdef0123456789abcdef", 1);
  int exit_code = -1;
  const char* plain[] = {"hearth-server"};
  ASSERT_TRUE(parse_config(1, plain, exit_code));
  EXPECT_EQ(parse_config(1, plain, exit_code)->write_coalesce_ms, 5u);
  const char* off[] = {"hearth-server", "--write-coalesce-ms", "0"};
  ASSERT_TRUE(parse_config(3, off, exit_code));
  EXPECT_EQ(parse_config(3, off, exit_code)->write_coalesce_ms, 0u);
  const char* too_long[] = {"hearth-server", "--write-coalesce-ms", "101"};
  EXPECT_FALSE(parse_config(3, too_long, exit_code));
  EXPECT_EQ(exit_code, 2);
  ::unsetenv("HEARTH_TOKEN_SECRET");
}

// A dead peer (browsers answer pings on their own) is freed within about a
// minute: pinged after half the idle timeout of silence, dropped after the
// other half; a connection that never finishes its request, within 10 s.
TEST(Config, DeadPeersAndUnfinishedRequestsAreDroppedWithinAboutAMinute) {
  ::setenv("HEARTH_TOKEN_SECRET", "0123456789abcdef0123456789abcdef", 1);
  int exit_code = -1;
  const char* plain[] = {"hearth-server"};
  const auto config = parse_config(1, plain, exit_code);
  ASSERT_TRUE(config);
  EXPECT_LE(config->idle_timeout * 3 / 2, std::chrono::seconds(60));
  EXPECT_GE(config->idle_timeout, std::chrono::seconds(20)) << "a phone on a bad network needs a while";
  EXPECT_EQ(config->handshake_timeout, std::chrono::seconds(10));
  ::unsetenv("HEARTH_TOKEN_SECRET");
}

TEST(Config, UnknownFlagIsAnError) {
  int exit_code = -1;
  const char* argv[] = {"hearth-server", "--no-such-flag"};
  EXPECT_FALSE(parse_config(2, argv, exit_code));
  EXPECT_EQ(exit_code, 2);
}

TEST(Config, ListsAreSplitAtCommasAndTrimmed) {
  EXPECT_EQ(split_list(" https://a.example,https://b.example , \thearth.v1 ,,"),
            (std::vector<std::string>{"https://a.example", "https://b.example", "hearth.v1"}));
  EXPECT_TRUE(split_list("").empty());
  EXPECT_TRUE(split_list(" , ").empty());
}

}  // namespace
}  // namespace hearth
