// Operator log lines on stderr: "2026-11-26T01:02:03Z info listening on ...".
//
// Hand-written rather than Boost.Log: a dozen lines cover what we need, and
// the rule that matters here is not a feature of any library: never log a
// token, an IP address or anything a user wrote. Log ids and counts only.
#pragma once

#include <sstream>
#include <string_view>

namespace hearth::log {

enum class Level { debug, info, warn, error };

void set_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view line);

template <class... Parts>
void at(Level level, const Parts&... parts) {
  if (!enabled(level)) return;
  std::ostringstream out;
  (out << ... << parts);
  write(level, out.str());
}

template <class... Parts> void debug(const Parts&... parts) { at(Level::debug, parts...); }
template <class... Parts> void info(const Parts&... parts) { at(Level::info, parts...); }
template <class... Parts> void warn(const Parts&... parts) { at(Level::warn, parts...); }
template <class... Parts> void error(const Parts&... parts) { at(Level::error, parts...); }

}  // namespace hearth::log
