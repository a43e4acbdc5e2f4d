#include "base/fault.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <tuple>

#include "base/log.hpp"
#include "base/metrics.hpp"

namespace hearth::fault {
namespace {

std::atomic<bool> injection{false};

}  // namespace

static_assert(std::tuple_size_v<decltype(Metrics::internal_errors)> == kWheres, "a counter for each Where");

const char* name(Where where) noexcept {
  switch (where) {
    case Where::command: return "command";
    case Where::session: return "session";
    case Where::fold: return "fold";
    case Where::room: return "room";
    case Where::loop: return "loop";
  }
  return "unknown";
}

void record(Where where, const char* what) noexcept {
  metrics().internal_errors[static_cast<std::size_t>(where)].fetch_add(1, std::memory_order_relaxed);
  try {
    log::error("internal error in a ", name(where), ": ", what != nullptr ? what : "not a std::exception");
  } catch (...) {  // a log line is not worth a second failure
  }
}

Failure internal_failure() {
  return Failure{v1::INTERNAL, "the server failed while carrying this out; nothing was changed, and the room goes on"};
}

void enable_injection() noexcept { injection.store(true, std::memory_order_relaxed); }

bool injects(Where where, std::string_view text) noexcept {
  if (!injection.load(std::memory_order_relaxed)) return false;
  constexpr std::string_view prefix = "hearth-fault:";
  return text.starts_with(prefix) && text.substr(prefix.size()) == name(where);
}

void maybe_throw(Where where, std::string_view text) {
  if (injects(where, text)) throw std::runtime_error(std::string("injected fault: ") + name(where));
}

}  // namespace hearth::fault
