// The typed reader of Redis replies (server/engine/redis/redis_reply.hpp): each shape the
// engine reads, and the wrong shapes it must refuse rather than misread.
#include "engine/redis/redis_reply.hpp"

#include <gtest/gtest.h>

namespace hearth {
namespace {

RedisReply integer(long long value) {
  RedisReply reply;
  reply.type = RedisReply::Type::integer;
  reply.integer = value;
  return reply;
}

RedisReply string(std::string text, RedisReply::Type type = RedisReply::Type::string) {
  RedisReply reply;
  reply.type = type;
  reply.str = std::move(text);
  return reply;
}

RedisReply array(std::vector<RedisReply> elements) {
  RedisReply reply;
  reply.type = RedisReply::Type::array;
  reply.elements = std::move(elements);
  return reply;
}

const RedisReply kNil{};

TEST(RedisReply, ScalarsAreReadOnlyFromTheirOwnType) {
  EXPECT_EQ(reply_as<long long>(integer(42)), 42);
  EXPECT_EQ(reply_as<long long>(string("42")), std::nullopt);
  EXPECT_EQ(reply_as<std::string>(string("0-7")), "0-7");
  EXPECT_EQ(reply_as<std::string>(string("OK", RedisReply::Type::status)), "OK");
  EXPECT_EQ(reply_as<std::string>(string("ERR wrong", RedisReply::Type::error)), std::nullopt)
      << "an error's text is never a value";
  EXPECT_EQ(reply_as<std::string>(kNil), std::nullopt);
  EXPECT_EQ(reply_as<long long>(array({})), std::nullopt);
}

TEST(RedisReply, NilIsAnEmptyOptional) {
  const auto none = reply_as<std::optional<std::string>>(kNil);
  ASSERT_TRUE(none.has_value()) << "the shape fits";
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(reply_as<std::optional<std::string>>(string("data")), std::optional<std::string>("data"));
  EXPECT_EQ(reply_as<std::optional<std::string>>(integer(1)), std::nullopt);
}

TEST(RedisReply, ArraysAndTuplesAsMgetXrangeAndScanAnswer) {
  // MGET: strings and nils.
  const auto beats =
      reply_as<std::vector<std::optional<std::string>>>(array({string("a"), kNil, string("c")}));
  ASSERT_TRUE(beats);
  EXPECT_EQ(*beats, (std::vector<std::optional<std::string>>{"a", std::nullopt, "c"}));
  // XRANGE: [[id, [field, value]], ...].
  using Entries = std::vector<std::tuple<std::string, std::vector<std::string>>>;
  const auto entries = reply_as<Entries>(array(
      {array({string("0-1"), array({string("e"), string("bytes")})}), array({string("0-2"), array({})})}));
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ(std::get<0>((*entries)[0]), "0-1");
  EXPECT_EQ(std::get<1>((*entries)[0]), (std::vector<std::string>{"e", "bytes"}));
  EXPECT_TRUE(std::get<1>((*entries)[1]).empty());
  // SCAN: [cursor, [key, ...]].
  const auto page = reply_as<std::tuple<std::string, std::vector<std::string>>>(
      array({string("17"), array({string("k1"), string("k2")})}));
  ASSERT_TRUE(page);
  EXPECT_EQ(std::get<0>(*page), "17");
  EXPECT_EQ(std::get<1>(*page).size(), 2u);
}

TEST(RedisReply, AnyElementOfTheWrongShapeRefusesTheWhole) {
  using Grant = std::tuple<long long, long long, long long>;
  EXPECT_EQ(reply_as<Grant>(array({integer(1), integer(0), integer(100)})), (Grant{1, 0, 100}));
  EXPECT_EQ(reply_as<Grant>(array({integer(1), integer(0)})), std::nullopt) << "too few";
  EXPECT_EQ(reply_as<Grant>(array({integer(1), integer(0), integer(1), integer(2)})), std::nullopt)
      << "too many";
  EXPECT_EQ(reply_as<Grant>(array({integer(1), string("0"), integer(100)})), std::nullopt)
      << "a string among them";
  EXPECT_EQ(reply_as<std::vector<long long>>(array({integer(1), kNil})), std::nullopt);
  using Entries = std::vector<std::tuple<std::string, std::vector<std::string>>>;
  EXPECT_EQ(reply_as<Entries>(array({array({string("0-1"), string("not an array")})})), std::nullopt);
}

}  // namespace
}  // namespace hearth
