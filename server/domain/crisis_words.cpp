// The words of a text as crisis rules see them (crisis.hpp, crisis_words):
// a small hand-written folding of UTF-8, because the rules need only
// lower-case ASCII, Latin-1 letters without their marks, and sentence ends,
// and ICU (the library that would do this fully) is a large dependency for
// that.
#include "domain/crisis.hpp"

namespace hearth {
namespace {

// U+00C0..U+00FF with the marks taken off; "" for × and ÷ (separators).
constexpr const char* kLatin1[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",   // C0
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss",  // D0
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",   // E0
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y",   // F0
};

}  // namespace

std::vector<std::string> crisis_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  const auto end_word = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  const auto end_sentence = [&] {
    end_word();
    if (!words.empty() && !words.back().empty()) words.emplace_back();
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      if (c >= 'A' && c <= 'Z')
        word.push_back(static_cast<char>(c - 'A' + 'a'));
      else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        word.push_back(static_cast<char>(c));
      else if (c == '\'' || c == '`')
        continue;  // don't: dont
      else if (c == '.' || c == '!' || c == '?' || c == ';' || c == ':' || c == '\n')
        end_sentence();
      else
        end_word();
      continue;
    }
    std::size_t length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    // Texts come checked as UTF-8; a broken sequence is a stray byte.
    for (std::size_t k = 1; k < length; ++k) {
      if (i + k >= text.size() || (static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) length = 1;
    }
    const std::string_view point = text.substr(i, length);
    i += length;
    const auto second = point.size() > 1 ? static_cast<unsigned char>(point[1]) : 0;
    const auto third = point.size() > 2 ? static_cast<unsigned char>(point[2]) : 0;
    if (c == 0xC3 && second >= 0x80 && second <= 0xBF) {  // U+00C0..U+00FF
      const char* folded = kLatin1[second - 0x80];
      if (*folded == '\0')
        end_word();
      else
        word += folded;
    } else if (c == 0xE2 && second == 0x80 && (third == 0x98 || third == 0x99)) {
      continue;  // ‘ ’
    } else if (c == 0xE2 && second == 0x80 && third == 0xA6) {
      end_sentence();  // …
    } else if (c == 0xC2 || c == 0xE2 || length == 4 || length == 1 || (c == 0xEF && second == 0xB8)) {
      end_word();  // Latin-1 marks, general punctuation and symbols, emoji, stray bytes
    } else {
      word += point;  // other scripts, as they are
    }
  }
  end_word();
  if (!words.empty() && words.back().empty()) words.pop_back();
  return words;
}

}  // namespace hearth
