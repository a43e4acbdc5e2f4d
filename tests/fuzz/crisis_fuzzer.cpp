// libFuzzer target: the crisis rules (server/domain/crisis.cpp), whose files a
// clinician edits by hand and whose matcher reads every question and message.
// Whatever the rules file and the text, parsing must succeed or name a line,
// and classifying must end (the fuzzer's timeout catches a matcher that
// backtracks without bound) with a verdict that makes sense:
//   * NONE names no rule; any other verdict names a rule of the file, by a
//     line that exists and holds a rule of that kind;
//   * the same text classified twice gets the same verdict;
//   * the words of a text hold no empty word at either end nor two in a row,
//     and none with an upper-case ASCII letter, an apostrophe or a space.
//
// The input is a rules file and a text, cut at the first zero byte.
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "domain/crisis.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace hearth;
using hearth::fuzz::expect;
using hearth::fuzz::FuzzInput;

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

namespace hearth::fuzz {

std::vector<Seed> fuzz_seeds() {
  const auto seed = [](std::string name, std::string_view rules, std::string_view text) {
    return Seed{std::move(name), std::string(rules) + '\0' + std::string(text)};
  };
  return {
      seed("seed-whose",
           "@self = i me\n@people = friend\n@other = she @people\ncrisis: want ~2 die\n"
           "about: suicid~*\nnot: dying to\n",
           "my friend said she wants to die. i want to die"),
      seed("seed-runs", "crisis: gone (for good|forever) ~2 (now|tonight)?\n", "gone for good now"),
      seed("seed-forms",
           "crisis: harm* myself|myslef\ncrisis: suicidal~\ncrisis: really? (end|ending) my life~\n",
           "I keep HARMING myself, feeling sucidal, end my lfie\xE2\x80\xA6 \xC3\x89st\xC3\xA1"),
      seed("seed-gaps", "crisis: a? ~9 b ~9 c? d\nabout: x ~3 y\n", "a q w e r t y u i o b z d x 1 2 3 y"),
      seed("seed-sentence-end", "crisis: a ~2 / ~2 b / c\nnot: a / / b\n", "a q. w b. c! a b"),
      seed("seed-bad-file", "crisis: (end it|end all\n", "end it"),
  };
}

}  // namespace hearth::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput input(data, size);
  const std::string whole(input.rest());
  const auto cut = whole.find('\0');
  const std::string_view file = std::string_view(whole).substr(0, cut);
  const std::string_view text =
      cut == std::string::npos ? std::string_view() : std::string_view(whole).substr(cut + 1);

  const auto words = crisis_words(text);
  if (!words.empty())
    expect(!words.front().empty() && !words.back().empty(), "no sentence end at either end");
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) expect(!(words[i].empty() && words[i - 1].empty()), "no two sentence ends in a row");
    for (const char c : words[i]) {
      expect(!(c >= 'A' && c <= 'Z') && c != '\'' && c != ' ',
             "words are lower case, with no apostrophe or space");
    }
  }

  std::string error;
  const auto rules = CrisisRules::parse("f.rules", file, error);
  if (!rules) {
    expect(error.starts_with("f.rules:"), "a file that does not parse names its line");
    return 0;
  }
  const auto verdict = rules->classify(text);
  const auto again = rules->classify(text);
  expect(verdict.outcome == again.outcome && verdict.rule == again.rule, "the same text, the same verdict");
  if (verdict.outcome == CrisisOutcome::none) {
    expect(verdict.rule.empty(), "NONE names no rule");
    return 0;
  }
  expect(verdict.rule.starts_with("f.rules:"), "a verdict names a rule of the file");
  const auto lines = lines_of(file);
  const std::size_t line = std::stoul(verdict.rule.substr(8));
  expect(line >= 1 && line <= lines.size(), "the rule's line exists");
  const std::string& rule = lines[line - 1];
  // Leading blanks as the parser trims them (a carriage return included).
  const auto kind = rule.substr(rule.find_first_not_of(" \t\r"), 6);
  expect(verdict.outcome == CrisisOutcome::crisis ? kind.starts_with("crisis")
                                                  : kind.starts_with("about") || kind.starts_with("crisis"),
         "the rule is of the verdict's kind");
  return 0;
}
