// Crisis detection: whether a question or chat message suggests that its
// writer may be at risk (CRISIS), talks about suicide or self-harm for
// someone else or in general (ABOUT), or neither (NONE). Decided once, where
// the command arrives (client_session.cpp); the log keeps the flag, so every
// node and every replay agree whatever rules they run.
//
// The rules are data a clinician can read and extend: one file per locale
// (deploy/crisis/*.rules, whose header documents the format), loaded at
// start and again on SIGHUP. A rule is a pattern over words with word forms
// (harm* for harm, harms, harming), one-typo forms (suicidal~), word classes
// (@self), optional words and short gaps; `crisis:` rules say the writer may
// be at risk, `about:` rules that the topic is someone else's or general,
// `not:` rules take idioms and denials out ("this traffic is killing me",
// "i'm not suicidal"). A crisis match is the writer's unless the person it
// is about is someone else: the nearest person word before it in the same
// sentence (@other: she, my friend...) rather than the writer (@self), the
// person right after it ("suicidal wife"), or an `about:` match around it
// that names nobody in @self; deploy/crisis/rules/en.rules says exactly.
//
// Hand-written rather than regular expressions (Boost.Regex is available):
// the rules are over words and classes, not characters; the verdict must
// name the rule that decided it (moderators must be able to say why); and
// an index on each rule's first word keeps a message's cost to a few
// microseconds with hundreds of rules (bench: hearth-server crisis-check
// --bench). Nothing is ever blocked for matching.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hearth {

enum class CrisisOutcome : std::uint8_t { none, about, crisis };
const char* outcome_name(CrisisOutcome outcome);

// The words of `text` as rules see them: lower case, accents folded (é is
// e, ñ is n), apostrophes dropped (don't is dont), every other mark a
// separator; sentence ends (. ! ? ; : … and line breaks) are kept as empty
// words, which no pattern word matches and no gap crosses (a pattern's "/"
// alone may take one).
std::vector<std::string> crisis_words(std::string_view text);

class CrisisRules {
 public:
  struct Verdict {
    CrisisOutcome outcome = CrisisOutcome::none;
    std::string rule;  // "en.rules:42": the rule that decided it (empty for NONE)
  };

  CrisisRules();
  ~CrisisRules();
  CrisisRules(CrisisRules&&) noexcept;
  CrisisRules& operator=(CrisisRules&&) noexcept;

  // One locale's rules from `text`, named `name` in verdicts and errors.
  static std::optional<CrisisRules> parse(const std::string& name, std::string_view text, std::string& error);
  // Every *.rules file in the folder `path`, or the file `path`; each is a
  // locale of its own, and a message gets the strongest verdict of any.
  static std::optional<CrisisRules> load(const std::string& path, std::string& error);

  Verdict classify(std::string_view text) const;
  std::size_t size() const;  // rules, over every locale
  bool empty() const { return size() == 0; }

 private:
  struct Locale;
  std::vector<std::unique_ptr<Locale>> locales_;
};

// What the crisis lane runs with: the rules and the words a writer is shown
// (with the reply to their command) for each outcome. Replaced whole on
// SIGHUP.
struct CrisisLane {
  CrisisRules rules;
  std::string support;    // CRISIS: support, helplines, "moderators have been told"
  std::string resources;  // ABOUT: where help for someone else is found
  std::string general;    // for everyone: where to find support (GET /support)

  // The text the writer of an entry with `outcome` is shown (may be empty).
  const std::string& shown(CrisisOutcome outcome) const {
    static const std::string none;
    return outcome == CrisisOutcome::crisis ? support : outcome == CrisisOutcome::about ? resources : none;
  }
};

}  // namespace hearth
