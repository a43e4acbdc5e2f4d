#include "crisis.hpp"

#include <filesystem>
#include <fstream>
#include <system_error>

namespace hearth {

std::string normalise_for_matching(std::string_view text) {
  std::string out = " ";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\'') continue;
    if (c == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
        static_cast<unsigned char>(text[i + 2]) == 0x99) {  // ’
      i += 2;
      continue;
    }
    char mapped;
    if (c >= 'A' && c <= 'Z') mapped = static_cast<char>(c - 'A' + 'a');
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) mapped = static_cast<char>(c);
    else mapped = ' ';
    if (mapped == ' ' && out.back() == ' ') continue;
    out.push_back(mapped);
  }
  if (out.back() != ' ') out.push_back(' ');
  return out;
}

void CrisisPhrases::add(std::string_view phrase) {
  if (const auto hash = phrase.find('#'); hash != std::string_view::npos) phrase = phrase.substr(0, hash);
  std::string normalised = normalise_for_matching(phrase);
  if (normalised.size() > 2) phrases_.push_back(std::move(normalised));
}

CrisisPhrases CrisisPhrases::of(const std::vector<std::string>& phrases) {
  CrisisPhrases out;
  for (const auto& phrase : phrases) out.add(phrase);
  return out;
}

std::optional<CrisisPhrases> CrisisPhrases::load(const std::string& path, std::string& error) {
  namespace fs = std::filesystem;
  std::error_code code;
  std::vector<fs::path> files;
  if (fs::is_directory(path, code)) {
    for (const auto& item : fs::recursive_directory_iterator(path, code)) {
      if (item.is_regular_file() && item.path().extension() == ".txt") files.push_back(item.path());
    }
  } else if (fs::is_regular_file(path, code)) {
    files.emplace_back(path);
  }
  if (files.empty()) {
    error = "no crisis phrase files at " + path;
    return std::nullopt;
  }
  CrisisPhrases out;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) {
      error = "cannot read " + file.string();
      return std::nullopt;
    }
    for (std::string line; std::getline(in, line);) out.add(line);
  }
  return out;
}

bool CrisisPhrases::matches(std::string_view text) const {
  if (phrases_.empty()) return false;
  const std::string normalised = normalise_for_matching(text);
  for (const auto& phrase : phrases_) {
    if (normalised.find(phrase) != std::string::npos) return true;
  }
  return false;
}

}  // namespace hearth
