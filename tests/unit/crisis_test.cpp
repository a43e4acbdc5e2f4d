#include "crisis.hpp"

#include <gtest/gtest.h>

#include "command.hpp"

namespace hearth {
namespace {

TEST(Crisis, WholeWordsWhateverTheCaseOrPunctuation) {
  const auto phrases = CrisisPhrases::of({"end my life", "dont want to live", "suicide", "# a comment", ""});
  EXPECT_EQ(phrases.size(), 3u);
  EXPECT_TRUE(phrases.matches("Some days I just want to END my life..."));
  EXPECT_TRUE(phrases.matches("I don't want to live like this"));
  EXPECT_TRUE(phrases.matches("I don\u2019t want to live"));
  EXPECT_TRUE(phrases.matches("thinking about suicide"));
  EXPECT_TRUE(phrases.matches("end\nmy   life"));
  EXPECT_FALSE(phrases.matches("the legend my lifestyle"));
  EXPECT_FALSE(phrases.matches("suicides squad"));
  EXPECT_FALSE(phrases.matches("How do I sleep better?"));
  EXPECT_FALSE(CrisisPhrases().matches("end my life")) << "no list: nothing flagged";
}

TEST(Crisis, TheShippedEnglishListLoadsAndFlagsEntries) {
  std::string error;
  const auto phrases = CrisisPhrases::load(HEARTH_SOURCE_DIR "/deploy/crisis/phrases", error);
  ASSERT_TRUE(phrases) << error;
  EXPECT_GT(phrases->size(), 20u);
  v1::LogEntry entry;
  entry.mutable_say()->set_text("honestly everyone would be better off without me");
  EXPECT_TRUE(flag_crisis(entry, *phrases));
  EXPECT_TRUE(entry.say().flagged());
  entry.mutable_say()->set_text("see you next week");
  EXPECT_FALSE(flag_crisis(entry, *phrases));
  EXPECT_FALSE(entry.say().flagged());
  EXPECT_FALSE(CrisisPhrases::load("/nonexistent", error));
}

}  // namespace
}  // namespace hearth
