#include "domain/crisis.hpp"

#include <gtest/gtest.h>

#include "domain/command.hpp"

namespace hearth {
namespace {

CrisisRules rules_of(const std::string& text) {
  std::string error;
  auto rules = CrisisRules::parse("t.rules", text, error);
  EXPECT_TRUE(rules) << error;
  return rules ? std::move(*rules) : CrisisRules();
}

CrisisOutcome outcome(const CrisisRules& rules, std::string_view text) {
  return rules.classify(text).outcome;
}

std::string parse_error(const std::string& text) {
  std::string error;
  EXPECT_FALSE(CrisisRules::parse("t.rules", text, error)) << text;
  return error;
}

TEST(CrisisWords, LowerCaseFoldedAccentsNoApostrophesAndSentenceEnds) {
  EXPECT_EQ(crisis_words("I DON'T want, to   die"),
            (std::vector<std::string>{"i", "dont", "want", "to", "die"}));
  EXPECT_EQ(crisis_words("I don\u2019t"), (std::vector<std::string>{"i", "dont"}));
  EXPECT_EQ(crisis_words("Quiero MORÍR\u2026 ¿sí?"), (std::vector<std::string>{"quiero", "morir", "", "si"}));
  EXPECT_EQ(crisis_words("bye. 😢 ok!!"), (std::vector<std::string>{"bye", "", "ok"}));
  EXPECT_EQ(crisis_words("niño año"), (std::vector<std::string>{"nino", "ano"}));
  EXPECT_TRUE(crisis_words(" ... ").empty());
}

TEST(CrisisRules, WordFormsTyposChoicesOptionalWordsAndGaps) {
  const auto rules = rules_of(
      "crisis: harm* myself\n"
      "crisis: suicidal~\n"
      "crisis: end|ending (my|mah) life\n"
      "crisis: really? want ~3 die\n");
  EXPECT_EQ(outcome(rules, "I keep harming myself"), CrisisOutcome::crisis);
  EXPECT_EQ(outcome(rules, "harmed myself"), CrisisOutcome::crisis);
  EXPECT_EQ(outcome(rules, "feeling sucidal"), CrisisOutcome::crisis) << "a letter dropped";
  EXPECT_EQ(outcome(rules, "feeling suicdial"), CrisisOutcome::crisis) << "two letters swapped";
  EXPECT_EQ(outcome(rules, "feeling suicide"), CrisisOutcome::none) << "two letters off";
  EXPECT_EQ(outcome(rules, "gonna end mah life"), CrisisOutcome::crisis);
  const auto runs = rules_of("crisis: gone (for good|forever)\n");
  EXPECT_EQ(outcome(runs, "soon i will be gone for good"), CrisisOutcome::crisis) << "a choice of two words";
  EXPECT_EQ(outcome(runs, "gone forever"), CrisisOutcome::crisis);
  EXPECT_EQ(outcome(runs, "gone for. good"), CrisisOutcome::none);
  EXPECT_EQ(outcome(rules, "I want to die"), CrisisOutcome::crisis);
  EXPECT_EQ(outcome(rules, "I want so badly to die"), CrisisOutcome::crisis) << "three words in the gap";
  EXPECT_EQ(outcome(rules, "I want it so badly to die"), CrisisOutcome::none) << "four";
  EXPECT_EQ(outcome(rules, "I want. To die hard is a film"), CrisisOutcome::none)
      << "no gap across a sentence end";
  EXPECT_EQ(rules.classify("I want to die").rule, "t.rules:4");
  EXPECT_EQ(rules.classify("a quiet evening").rule, "");
  // "/": one sentence end, or none, and no more.
  const auto on = rules_of("crisis: (im|i am) done / ~1 with everything\n");
  EXPECT_EQ(outcome(on, "I'm done. With everything."), CrisisOutcome::crisis);
  EXPECT_EQ(outcome(on, "im done with everything"), CrisisOutcome::crisis);
  EXPECT_EQ(outcome(on, "I'm done! Just with everything"), CrisisOutcome::crisis) << "then the gap";
  EXPECT_EQ(outcome(on, "I'm done.. With everything"), CrisisOutcome::crisis) << "marks in a row are one end";
  EXPECT_EQ(outcome(on, "I'm done. Ok. With everything"), CrisisOutcome::none) << "two sentence ends";
}

TEST(CrisisRules, WhoseCrisisTheNearestPersonBeforeItOrRightAfterIt) {
  const auto rules = rules_of(
      "@self = i me myself\n"
      "@people = friend wife\n"
      "@other = she @people\n"
      "crisis: want to die\n"
      "crisis: suicidal\n"
      "crisis: kill myself\n"
      "about: suicidal\n");
  EXPECT_EQ(outcome(rules, "want to die"), CrisisOutcome::crisis) << "nobody named: the writer";
  EXPECT_EQ(outcome(rules, "my friend says she want to die"), CrisisOutcome::about);
  EXPECT_EQ(outcome(rules, "my friend left and i want to die"), CrisisOutcome::crisis);
  EXPECT_EQ(outcome(rules, "my friend left. want to die"), CrisisOutcome::crisis) << "not across a sentence";
  EXPECT_EQ(outcome(rules, "caring for my suicidal wife is hard"), CrisisOutcome::about)
      << "the person after it";
  EXPECT_EQ(outcome(rules, "she told me i could kill myself"), CrisisOutcome::crisis)
      << "it names the writer";
}

TEST(CrisisRules, ExceptionsAndTheContextOfAnAboutMatch) {
  const auto rules = rules_of(
      "@self = i me\n"
      "crisis: killing me\n"
      "crisis: suicidal\n"
      "not: traffic ~2 killing me\n"
      "not: not suicidal\n"
      "about: signs ~3 suicidal\n"
      "about: suicidal\n");
  EXPECT_EQ(outcome(rules, "this traffic is killing me"), CrisisOutcome::none);
  EXPECT_EQ(outcome(rules, "the pain is killing me"), CrisisOutcome::crisis);
  EXPECT_EQ(outcome(rules, "i am not suicidal, just tired"), CrisisOutcome::none)
      << "the about: match goes too";
  EXPECT_EQ(outcome(rules, "what are the signs someone is suicidal"), CrisisOutcome::about);
  EXPECT_EQ(outcome(rules, "feeling suicidal tonight"), CrisisOutcome::crisis)
      << "an about: match of the same words";
  EXPECT_EQ(outcome(rules, "signs i am suicidal"), CrisisOutcome::crisis) << "context that names the writer";
}

TEST(CrisisRules, AFileThatCannotBeReadSaysWhereAndWhy) {
  EXPECT_EQ(parse_error("crisis: a\n@self = i\nsad: b\n"),
            "t.rules:3: a line is a class (@name = ...) or a rule "
            "(crisis:, crisis-self:, about: or not:)");
  EXPECT_NE(parse_error("crisis: @nobody dies\n").find("t.rules:1: no class @nobody"), std::string::npos);
  EXPECT_NE(parse_error("crisis: (end it|end all\n").find("a ( without its )"), std::string::npos);
  EXPECT_NE(parse_error("@x = a\ncrisis: (@x them|me)\n").find("a class stands alone"), std::string::npos);
  EXPECT_NE(parse_error("crisis: ~2 die\n").find("start or end with a gap"), std::string::npos);
  EXPECT_NE(parse_error("crisis: die /\n").find("start or end with a gap or a /"), std::string::npos);
  EXPECT_NE(parse_error("crisis: a / ~9 b? ~9 c? d\n").find("at most 4"), std::string::npos)
      << "a / is a choice";
  EXPECT_NE(parse_error("crisis: die~\n").find("4 letters"), std::string::npos);
  EXPECT_NE(parse_error("crisis: a? ~9 b? ~9 c? d\n").find("at most 4"), std::string::npos);
  EXPECT_NE(parse_error("crisis: a? b?\n").find("not optional"), std::string::npos);
  EXPECT_NE(parse_error("crisis: a? ~3 b?\n").find("not optional"), std::string::npos) << "a gap is no word";
  EXPECT_NE(parse_error("crisis: a ~99999999999 b\n").find("a gap is ~1 to ~9"), std::string::npos);
  EXPECT_NE(parse_error("crisis:\n").find("no pattern"), std::string::npos);
  std::string error;
  EXPECT_FALSE(CrisisRules::load("/nonexistent", error));
  EXPECT_NE(error.find("no crisis rule files"), std::string::npos);
}

TEST(CrisisRules, NoRulesNothingFlagged) {
  EXPECT_EQ(CrisisRules().classify("I want to end my life").outcome, CrisisOutcome::none);
  EXPECT_TRUE(CrisisRules().empty());
}

// The shipped rules, on the kinds of messages issue 15 found missed or
// misread: inflections, slang, plans and means, indirect wishes, helping a
// friend, research, idioms. (scripts/crisis-eval measures them at scale.)
TEST(CrisisRules, TheShippedRulesLoadEveryLocaleAndReadTheHardCases) {
  std::string error;
  const auto rules = CrisisRules::load(HEARTH_SOURCE_DIR "/deploy/crisis/rules", error);
  ASSERT_TRUE(rules) << error;
  EXPECT_GT(rules->size(), 100u);
  for (const char* text :
       {"I've been harming myself again", "honestly kms", "i have the pills saved up",
        "I keep thinking about the bridge tonight", "I wrote goodbye letters to my family",
        "i just want to go to sleep and never wake up", "everyone would be better off without me",
        "I want it all to stop", "quiero morirme", "ya no quiero vivir", "me volví a cortar"}) {
    EXPECT_EQ(rules->classify(text).outcome, CrisisOutcome::crisis) << text;
  }
  for (const char* text : {"How can I help a friend who says she wants to die?",
                           "What does the research say about suicide prevention in teens?",
                           "mi amiga me dijo que se quiere morir, ¿qué hago?",
                           // Read by English alone: Spanish "me" is not the writer here.
                           "if my friend tells me she's suicidal, what do I do"}) {
    EXPECT_EQ(rules->classify(text).outcome, CrisisOutcome::about) << text;
  }
  for (const char* text :
       {"this traffic is killing me", "I'm dying to know what you think", "dead tired today",
        "could you cut me some slack on the homework", "me muero de ganas de verte", "How do I sleep better?",
        "trust me, I'm not suicidal"}) {
    EXPECT_EQ(rules->classify(text).outcome, CrisisOutcome::none) << text;
  }
}

TEST(CrisisRules, AnEntryIsFlaggedOnlyWhenItsWriterMayBeAtRisk) {
  const auto rules = rules_of("@self = i\n@other = friend\ncrisis: want to die\n");
  v1::LogEntry entry;
  entry.mutable_say()->set_text("i want to die");
  EXPECT_EQ(flag_crisis(entry, rules), CrisisOutcome::crisis);
  EXPECT_TRUE(entry.say().flagged());
  entry.mutable_ask()->set_text("my friend said they want to die");
  EXPECT_EQ(flag_crisis(entry, rules), CrisisOutcome::about);
  EXPECT_FALSE(entry.ask().flagged());
  entry.mutable_edit_message()->set_text("see you next week");
  EXPECT_EQ(flag_crisis(entry, rules), CrisisOutcome::none);
  EXPECT_FALSE(entry.edit_message().flagged());

  CrisisLane lane;
  lane.support = "support";
  lane.resources = "resources";
  EXPECT_EQ(lane.shown(CrisisOutcome::crisis), "support");
  EXPECT_EQ(lane.shown(CrisisOutcome::about), "resources");
  EXPECT_EQ(lane.shown(CrisisOutcome::none), "");
}

}  // namespace
}  // namespace hearth
