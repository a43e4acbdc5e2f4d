// What the server does when its own code fails (an exception), and the
// test-only way to make it fail on purpose.
//
// A failure stays with what it happened to: a command fails with INTERNAL,
// a connection closes with 1011, a log entry the fold cannot apply is
// skipped on every node alike, and anything else thrown into a shard's loop
// is caught there. Each is counted in /metrics
// (hearth_internal_errors_total{where}); the process and every other room
// go on serving.
//
// --fault-injection (not in --help; tests only) makes a text that is exactly
// "hearth-fault:WHERE" throw at WHERE: see maybe_throw().
#pragma once

#include <exception>
#include <string_view>
#include <utility>

#include "protocol/error.hpp"

namespace hearth::fault {

enum class Where {
  command,  // handling one client message in its session: INTERNAL to it
  session,  // a connection's read path, outside any one command: close 1011
  fold,     // applying a log entry in a room: the entry is skipped
  room,     // a room's handling of one command: INTERNAL to it
  loop,     // anything else that reached a shard's loop
};
inline constexpr int kWheres = 5;

const char* name(Where where) noexcept;

// Counts one failure at `where` in /metrics and logs it (`what` is the
// exception's own text: ours and the standard library's name no user data).
void record(Where where, const char* what) noexcept;

// Runs fn(); should it throw, records the failure at `where` and runs
// on_failure(). Returns whether fn() finished.
template <class Fn, class OnFailure>
bool contain(Where where, Fn&& fn, OnFailure&& on_failure) {
  try {
    std::forward<Fn>(fn)();
    return true;
  } catch (const std::exception& e) {
    record(where, e.what());
  } catch (...) {
    record(where, nullptr);
  }
  std::forward<OnFailure>(on_failure)();
  return false;
}

// What a command that failed this way is answered.
Failure internal_failure();

void enable_injection() noexcept;
// Throws std::runtime_error when injection is on and `text` is
// "hearth-fault:" followed by name(where).
void maybe_throw(Where where, std::string_view text);
// Whether injection is on and `text` names `where` (for a fault that must be
// raised elsewhere, such as in a handler of its own on a shard's loop).
bool injects(Where where, std::string_view text) noexcept;

}  // namespace hearth::fault
