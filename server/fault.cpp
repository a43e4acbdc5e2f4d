#include "fault.hpp"

#include <atomic>
#include <stdexcept>
#include <string>

#include "log.hpp"
#include "metrics.hpp"

namespace hearth::fault {
namespace {

std::atomic<bool> injection{false};

}  // namespace

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

void maybe_throw(Where where, std::string_view text) {
  if (!injection.load(std::memory_order_relaxed)) return;
  constexpr std::string_view prefix = "hearth-fault:";
  if (text.starts_with(prefix) && text.substr(prefix.size()) == name(where)) {
    throw std::runtime_error(std::string("injected fault: ") + name(where));
  }
}

}  // namespace hearth::fault
