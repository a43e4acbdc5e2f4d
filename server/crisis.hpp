// Crisis phrases: words that suggest someone may be in danger ("end my
// life"). A question or message that contains one is flagged; what happens
// then is the room's crisis policy (RoomSettings.crisis_policy), and its
// writer is offered the configured resources (--crisis-resources).
//
// Matching is deliberately plain and predictable (moderators must be able to
// say why something was flagged): lower case, apostrophes dropped, every
// other non-letter a space, whole words only. It finds phrases; it does not
// understand people, and nothing is ever blocked for matching.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

class CrisisPhrases {
 public:
  CrisisPhrases() = default;
  // Every *.txt file under `path` (a folder, searched recursively) or `path`
  // itself (a file): one phrase per line, '#' starts a comment. nullopt (and
  // `error` set) if it cannot be read.
  static std::optional<CrisisPhrases> load(const std::string& path, std::string& error);
  static CrisisPhrases of(const std::vector<std::string>& phrases);

  bool matches(std::string_view text) const;
  std::size_t size() const { return phrases_.size(); }

 private:
  void add(std::string_view phrase);
  std::vector<std::string> phrases_;  // normalised, with a space on each side
};

// " " + words + " ": lower-case ASCII, apostrophes (' and U+2019) removed,
// every other ASCII non-alphanumeric a single space; other UTF-8 kept.
std::string normalise_for_matching(std::string_view text);

}  // namespace hearth
