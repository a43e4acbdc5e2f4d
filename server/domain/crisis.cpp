#include "domain/crisis.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace hearth {
namespace {

constexpr std::size_t npos = std::string::npos;
constexpr long kMaxChoices = 4;
constexpr std::size_t kClassifiedBytes = 16 * 1024;

// Damerau distance of at most one: equal, or one letter added, dropped,
// changed, or two neighbours swapped.
bool within_one_edit(std::string_view a, std::string_view b) {
  if (a == b) return true;
  if (a.size() > b.size()) std::swap(a, b);
  if (b.size() - a.size() > 1) return false;
  std::size_t i = 0;
  while (i < a.size() && a[i] == b[i]) ++i;
  if (a.size() == b.size()) {
    if (a.substr(i + 1) == b.substr(i + 1)) return true;
    return i + 1 < a.size() && a[i] == b[i + 1] && a[i + 1] == b[i] && a.substr(i + 2) == b.substr(i + 2);
  }
  return a.substr(i) == b.substr(i + 1);
}

// One way a pattern word matches a word of the text.
struct Form {
  enum Kind { exact, prefix, fuzzy, fuzzy_prefix };
  std::string text;
  Kind kind = exact;

  bool matches(std::string_view word) const {
    switch (kind) {
      case exact:
        return word == text;
      case prefix:
        return word.starts_with(text);
      case fuzzy:
        return word.size() + 1 >= text.size() && word.size() <= text.size() + 1 &&
               within_one_edit(word, text);
      case fuzzy_prefix:
        for (std::size_t length = text.size() - 1; length <= text.size() + 1; ++length) {
          if (length <= word.size() && within_one_edit(word.substr(0, length), text)) return true;
        }
        return false;
    }
    return false;
  }
};

// A class of single words (@self, @other, @people).
struct WordClass {
  std::vector<Form> forms;
  bool matches(std::string_view word) const {
    return std::any_of(forms.begin(), forms.end(), [&](const Form& form) { return form.matches(word); });
  }
};

struct Token {
  // Any of these, each a run of words ("(for good|forever)": two runs);
  // none for a gap.
  std::vector<std::vector<Form>> choices;
  int gap = 0;  // a gap: up to this many words (none across a sentence end)
  bool optional = false;
  bool sentence_end = false;  // "/": a sentence end here, or none
};

struct Rule {
  enum Kind { crisis, about, exception };
  Kind kind = crisis;
  bool writers = false;  // crisis-self: the writer's, whoever else is named
  std::vector<Token> tokens;
  std::string name;  // file:line
};

struct Match {
  std::size_t begin = 0;
  std::size_t end = 0;
  const Rule* rule = nullptr;
  bool overlaps(const Match& other) const { return begin < other.end && other.begin < end; }
  bool within(const Match& other) const { return other.begin <= begin && end <= other.end; }
  bool same_span(const Match& other) const { return begin == other.begin && end == other.end; }
};

using Words = std::vector<std::string>;

// The end of a match of rule.tokens[t..] starting at word w, or npos: the
// longest gaps first, so that an exception or an about: match covers all it
// can (what it shares words with, or holds, is what it decides).
std::size_t match_from(const Rule& rule, std::size_t t, std::size_t w, const Words& words) {
  if (t == rule.tokens.size()) return w;
  const Token& token = rule.tokens[t];
  if (token.sentence_end) {
    if (w < words.size() && words[w].empty()) {
      if (const auto end = match_from(rule, t + 1, w + 1, words); end != npos) return end;
    }
    return match_from(rule, t + 1, w, words);
  }
  if (token.gap > 0) {
    int longest = 0;  // words that can be skipped: not past the end or a sentence end
    while (longest < token.gap && w + static_cast<std::size_t>(longest) < words.size() &&
           !words[w + static_cast<std::size_t>(longest)].empty()) {
      ++longest;
    }
    for (int skipped = longest; skipped >= 0; --skipped) {
      if (const auto end = match_from(rule, t + 1, w + static_cast<std::size_t>(skipped), words);
          end != npos) {
        return end;
      }
    }
    return npos;
  }
  for (const auto& run : token.choices) {
    std::size_t at = w;
    for (const auto& form : run) {
      if (at >= words.size() || words[at].empty() || !form.matches(words[at])) {
        at = npos;
        break;
      }
      ++at;
    }
    if (at == npos) continue;
    if (const auto end = match_from(rule, t + 1, at, words); end != npos) return end;
  }
  return token.optional ? match_from(rule, t + 1, w, words) : npos;
}

std::string trim(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return {};
  const auto end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(begin, end - begin + 1));
}

// The tokens of a pattern: split at spaces, but a (...) group is one.
bool pattern_tokens(std::string_view text, std::vector<std::string>& out) {
  std::string token;
  int depth = 0;
  for (const char c : text) {
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) return false;
    if ((c == ' ' || c == '\t') && depth == 0) {
      if (!token.empty()) out.push_back(std::move(token));
      token.clear();
      continue;
    }
    token.push_back(c);
  }
  if (!token.empty()) out.push_back(std::move(token));
  return depth == 0;
}

std::vector<std::string> split_spaces(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  for (std::string part; in >> part;) out.push_back(part);
  return out;
}

}  // namespace

const char* outcome_name(CrisisOutcome outcome) {
  switch (outcome) {
    case CrisisOutcome::crisis:
      return "CRISIS";
    case CrisisOutcome::about:
      return "ABOUT";
    case CrisisOutcome::none:
      return "NONE";
  }
  return "NONE";
}

struct CrisisRules::Locale {
  std::string name;
  std::vector<Rule> rules;
  // Rules by the words their first token matches exactly; the rest (a
  // first token with word forms, or optional) are tried at every word.
  std::unordered_map<std::string, std::vector<std::size_t>> by_first_word;
  std::vector<std::size_t> everywhere;
  WordClass self;    // @self: the writer (I, me, my...)
  WordClass other;   // @other: someone else (she, my friend...)
  WordClass people;  // @people: the nouns among them (friend, wife...)
  WordClass common;  // @common: the language's most frequent words

  std::size_t common_words(const Words& words) const {
    return static_cast<std::size_t>(
        std::count_if(words.begin(), words.end(), [&](const std::string& w) { return common.matches(w); }));
  }

  void index() {
    for (std::size_t r = 0; r < rules.size(); ++r) {
      const Token& first = rules[r].tokens.front();
      const bool exact =
          !first.optional && std::all_of(first.choices.begin(), first.choices.end(),
                                         [](const auto& run) { return run.front().kind == Form::exact; });
      if (!exact) {
        everywhere.push_back(r);
        continue;
      }
      for (const auto& run : first.choices) {
        auto& list = by_first_word[run.front().text];
        if (list.empty() || list.back() != r) list.push_back(r);
      }
    }
  }

  // Whether the match names the writer: an @self word among its first two
  // words or its last two ("im a burden", "kill myself", "without me"), not
  // one a long gap swallowed from another clause.
  bool names_self(const Words& words, const Match& match) const {
    for (std::size_t w = match.begin; w < match.end; ++w) {
      const bool edge = w < match.begin + 2 || w + 2 >= match.end;
      if (edge && self.matches(words[w])) return true;
    }
    return false;
  }

  // Whether a crisis match is about the writer: it names them, or nothing
  // says it is someone else's.
  bool about_writer(const Words& words, const Match& match, const std::vector<Match>& abouts) const {
    if (match.rule->writers || names_self(words, match)) return true;
    // "suicidal wife": the person right after it.
    if (match.end < words.size() && people.matches(words[match.end])) return false;
    for (const auto& about : abouts) {
      if (match.within(about) && !match.same_span(about) && !names_self(words, about)) return false;
    }
    for (std::size_t w = match.begin; w-- > 0 && !words[w].empty();) {
      if (self.matches(words[w])) return true;
      if (other.matches(words[w])) return false;
    }
    return true;
  }

  Verdict classify(const Words& words) const {
    std::vector<Match> crises, abouts, exceptions;
    const auto try_rule = [&](std::size_t r, std::size_t w) {
      const Rule& rule = rules[r];
      const std::size_t end = match_from(rule, 0, w, words);
      if (end == npos || end == w) return;
      auto& list = rule.kind == Rule::crisis ? crises : rule.kind == Rule::about ? abouts : exceptions;
      list.push_back(Match{w, end, &rule});
    };
    for (std::size_t w = 0; w < words.size(); ++w) {
      if (words[w].empty()) continue;
      if (const auto it = by_first_word.find(words[w]); it != by_first_word.end()) {
        for (const std::size_t r : it->second) try_rule(r, w);
      }
      for (const std::size_t r : everywhere) try_rule(r, w);
    }
    const auto excepted = [&](const Match& match) {
      return std::any_of(exceptions.begin(), exceptions.end(),
                         [&](const Match& e) { return e.overlaps(match); });
    };
    std::erase_if(crises, excepted);
    std::erase_if(abouts, excepted);
    const Match* someone_else = nullptr;
    for (const auto& match : crises) {
      if (about_writer(words, match, abouts)) return Verdict{CrisisOutcome::crisis, match.rule->name};
      if (someone_else == nullptr) someone_else = &match;
    }
    if (someone_else != nullptr) return Verdict{CrisisOutcome::about, someone_else->rule->name};
    if (!abouts.empty()) return Verdict{CrisisOutcome::about, abouts.front().rule->name};
    return {};
  }
};

CrisisRules::CrisisRules() = default;
CrisisRules::~CrisisRules() = default;
CrisisRules::CrisisRules(CrisisRules&&) noexcept = default;
CrisisRules& CrisisRules::operator=(CrisisRules&&) noexcept = default;

std::size_t CrisisRules::size() const {
  std::size_t total = 0;
  for (const auto& locale : locales_) total += locale->rules.size();
  return total;
}

std::optional<CrisisRules> CrisisRules::parse(const std::string& name, std::string_view text,
                                              std::string& error) {
  auto locale = std::make_unique<Locale>();
  locale->name = name;
  std::unordered_map<std::string, std::vector<Form>> classes;
  std::size_t line_number = 0;
  const auto fail = [&](const std::string& why) {
    error = name + ":" + std::to_string(line_number) + ": " + why;
    return std::nullopt;
  };
  // One word form: "word", "word*", "word~", "word~*".
  const auto form_of = [&](std::string_view spelled, Form& form) -> bool {
    form.kind = Form::exact;
    bool prefix = false, fuzzy = false;
    while (!spelled.empty() && (spelled.back() == '*' || spelled.back() == '~')) {
      (spelled.back() == '*' ? prefix : fuzzy) = true;
      spelled.remove_suffix(1);
    }
    const auto words = crisis_words(spelled);
    if (words.size() != 1 || words[0].empty()) return false;
    form.text = words[0];
    form.kind = prefix && fuzzy ? Form::fuzzy_prefix
                : prefix        ? Form::prefix
                : fuzzy         ? Form::fuzzy
                                : Form::exact;
    return !fuzzy || form.text.size() >= 4;
  };
  std::istringstream in{std::string(text)};
  for (std::string raw; std::getline(in, raw);) {
    ++line_number;
    std::string line = trim(std::string_view(raw).substr(0, raw.find('#')));
    if (line.empty()) continue;
    if (line[0] == '@') {  // @name = forms...
      const auto equals = line.find('=');
      if (equals == npos) return fail("a class is written @name = word word...");
      const std::string class_name = trim(std::string_view(line).substr(1, equals - 1));
      std::vector<Form> forms;
      for (auto& spelled : split_spaces(std::string_view(line).substr(equals + 1))) {
        if (spelled.ends_with(',')) spelled.pop_back();
        if (spelled.empty()) continue;
        if (spelled.starts_with('@')) {  // an earlier class's words
          const auto it = classes.find(spelled.substr(1));
          if (it == classes.end()) return fail("no class " + spelled + " above this line");
          forms.insert(forms.end(), it->second.begin(), it->second.end());
          continue;
        }
        Form form;
        if (!form_of(spelled, form))
          return fail("not one word: \"" + spelled + "\" (a typo form needs 4 letters)");
        forms.push_back(std::move(form));
      }
      if (class_name.empty() || forms.empty()) return fail("a class needs a name and words");
      classes[class_name] = std::move(forms);
      continue;
    }
    const auto colon = line.find(':');
    const std::string kind = colon == npos ? "" : trim(std::string_view(line).substr(0, colon));
    Rule rule;
    if (kind == "crisis")
      rule.kind = Rule::crisis;
    else if (kind == "crisis-self")
      rule.kind = Rule::crisis, rule.writers = true;
    else if (kind == "about")
      rule.kind = Rule::about;
    else if (kind == "not")
      rule.kind = Rule::exception;
    else
      return fail("a line is a class (@name = ...) or a rule (crisis:, crisis-self:, about: or not:)");
    rule.name = name + ":" + std::to_string(line_number);
    std::vector<std::string> spelled_tokens;
    if (!pattern_tokens(std::string_view(line).substr(colon + 1), spelled_tokens)) {
      return fail("a ( without its ), or the other way round");
    }
    for (auto spelled : spelled_tokens) {
      Token token;
      if (spelled.size() >= 2 && spelled[0] == '~' &&
          std::all_of(spelled.begin() + 1, spelled.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (spelled.size() != 2 || spelled[1] == '0') return fail("a gap is ~1 to ~9");
        token.gap = spelled[1] - '0';
        rule.tokens.push_back(std::move(token));
        continue;
      }
      if (spelled == "/") {
        token.sentence_end = true;
        rule.tokens.push_back(std::move(token));
        continue;
      }
      if (spelled.ends_with('?')) {
        token.optional = true;
        spelled.pop_back();
      }
      if (spelled.starts_with('(') && spelled.ends_with(')')) spelled = spelled.substr(1, spelled.size() - 2);
      std::string_view rest = spelled;
      while (!rest.empty()) {
        const auto bar = rest.find('|');
        const std::string_view choice = rest.substr(0, bar);
        rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
        std::vector<Form> run;
        for (const auto& word : split_spaces(choice)) {
          if (word.starts_with('@')) {
            const auto it = classes.find(word.substr(1));
            if (it == classes.end()) return fail("no class " + word + " above this line");
            if (split_spaces(choice).size() != 1) return fail("a class stands alone among choices: (@a|b c)");
            for (const auto& form : it->second) token.choices.push_back({form});
            continue;
          }
          Form form;
          if (!form_of(word, form))
            return fail("not one word: \"" + word + "\" (a typo form needs 4 letters)");
          run.push_back(std::move(form));
        }
        if (!run.empty()) token.choices.push_back(std::move(run));
      }
      if (token.choices.empty()) return fail("an empty word in the pattern");
      rule.tokens.push_back(std::move(token));
    }
    if (rule.tokens.empty()) return fail("a rule with no pattern");
    if (rule.tokens.front().gap > 0 || rule.tokens.back().gap > 0 || rule.tokens.front().sentence_end ||
        rule.tokens.back().sentence_end) {
      return fail("a pattern cannot start or end with a gap or a /");
    }
    if (std::all_of(rule.tokens.begin(), rule.tokens.end(),
                    [](const Token& t) { return t.optional || t.gap || t.sentence_end; })) {
      return fail("a pattern needs a word that is not optional");
    }
    // Each gap and optional word is a choice the matcher may take back:
    // few of them keep a message's cost small whatever the rules.
    if (std::count_if(rule.tokens.begin(), rule.tokens.end(),
                      [](const Token& t) { return t.gap || t.optional || t.sentence_end; }) > kMaxChoices) {
      return fail("a pattern has at most " + std::to_string(kMaxChoices) + " gaps, / and optional words");
    }
    locale->rules.push_back(std::move(rule));
  }
  if (const auto it = classes.find("self"); it != classes.end()) locale->self.forms = it->second;
  if (const auto it = classes.find("other"); it != classes.end()) locale->other.forms = it->second;
  if (const auto it = classes.find("people"); it != classes.end()) locale->people.forms = it->second;
  if (const auto it = classes.find("common"); it != classes.end()) locale->common.forms = it->second;
  locale->index();
  CrisisRules out;
  out.locales_.push_back(std::move(locale));
  return out;
}

std::optional<CrisisRules> CrisisRules::load(const std::string& path, std::string& error) {
  namespace fs = std::filesystem;
  std::error_code code;
  std::vector<fs::path> files;
  if (fs::is_directory(path, code)) {
    for (fs::directory_iterator it(path, code), end; !code && it != end; it.increment(code)) {
      if (it->is_regular_file(code) && it->path().extension() == ".rules") files.push_back(it->path());
    }
    if (code) {
      error = "cannot list " + path + ": " + code.message();
      return std::nullopt;
    }
    std::sort(files.begin(), files.end());
  } else if (fs::is_regular_file(path, code)) {
    files.emplace_back(path);
  }
  if (files.empty()) {
    error = "no crisis rule files (*.rules) at " + path;
    return std::nullopt;
  }
  CrisisRules out;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) {
      error = "cannot read " + file.string();
      return std::nullopt;
    }
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = parse(file.filename().string(), text.str(), error);
    if (!parsed) return std::nullopt;
    for (auto& locale : parsed->locales_) out.locales_.push_back(std::move(locale));
  }
  return out;
}

CrisisRules::Verdict CrisisRules::classify(std::string_view text) const {
  if (locales_.empty()) return {};
  // Longer texts are refused by the fold anyway (--max-message-chars).
  const Words words = crisis_words(text.substr(0, kClassifiedBytes));
  // The text's language decides alone: one locale's words must not be read
  // by another's rules ("me" is English and Spanish, and one locale's
  // exceptions are not another's). The language is the locale whose
  // @common words the text uses most; on a tie, every tied locale reads it
  // and the strongest verdict stands.
  std::vector<std::size_t> hits;
  for (const auto& locale : locales_) hits.push_back(locale->common_words(words));
  const std::size_t most = *std::max_element(hits.begin(), hits.end());
  Verdict best;
  for (std::size_t l = 0; l < locales_.size(); ++l) {
    if (hits[l] != most) continue;
    Verdict verdict = locales_[l]->classify(words);
    if (verdict.outcome > best.outcome) best = std::move(verdict);
  }
  return best;
}

}  // namespace hearth
