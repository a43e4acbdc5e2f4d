// A real hearth-server process for a test: started on a free port (the
// server binds port 0 and prints the one it got), stopped by PID.
//
// Every server is watched by the sanitizers to its end: it is stopped with
// SIGTERM (never SIGKILL, unless the test crashes it on purpose with
// crash()), and the test fails if it exits with anything but 0, does not
// stop within the timeout, or wrote an AddressSanitizer, LeakSanitizer or
// UndefinedBehaviorSanitizer report to its stderr. Its stderr goes to a file
// (log()), printed when a check fails, and kept in the folder
// HEARTH_TEST_KEEP_LOGS names, if set.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hearth::testing {

class ServerProcess {
 public:
  static constexpr const char* kSecret = "integration-test-secret-0123456789abcdef";

  // Starts hearth-server with `args` added; returns once it says it is ready
  // (listening, storage reachable); throws if that takes over 15 seconds.
  explicit ServerProcess(std::vector<std::string> args = {});
  // Stops the server as stop() does, if it still runs, and checks its end.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  // Sends SIGTERM and waits; returns the exit code, or nullopt if the
  // process did not exit normally within `timeout` (it is then killed). A
  // sanitizer report on its stderr fails the test whatever the exit code.
  std::optional<int> stop(std::chrono::seconds timeout = std::chrono::seconds(20));
  // Waits for an exit already under way (the test sent the signal itself);
  // checks it as stop() does.
  std::optional<int> wait_exit(std::chrono::seconds timeout = std::chrono::seconds(20));
  // SIGKILL, as a crash of the node would: for tests that kill a node on
  // purpose. Nothing is checked.
  void crash();
  // Everything the server has written to its stderr so far.
  std::string log() const;
  // Waits until its stderr holds `text` at least `occurrences` times;
  // false after `timeout`.
  bool wait_for_log(const std::string& text, std::size_t occurrences = 1,
                    std::chrono::seconds timeout = std::chrono::seconds(10)) const;

  // `hearth-server token ...` with this server's secret.
  static std::string token(const std::string& role, const std::string& room, const std::string& name,
                           const std::string& sub, const std::string& ttl = "1h");

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string dir_;  // private folder holding stderr.log
};

// Whether `log` holds a report by AddressSanitizer, LeakSanitizer or
// UndefinedBehaviorSanitizer (the first line of it, or empty).
std::string sanitizer_report(const std::string& log);

// A loopback port that was free a moment ago (another process may take it
// first: callers retry).
std::uint16_t free_port();

// Whether process `pid` holds a socket listening on 127.0.0.1:`port` (read
// from /proc): unlike a connect, this cannot be fooled by another process
// that took the port first.
bool listens_on(pid_t pid, std::uint16_t port);

// In a child between fork and exec: closes every descriptor but 0, 1 and 2,
// so that the child holds none of the test's sockets.
void close_inherited();

// Waits up to `timeout` for child `pid` to exit (no polling: a pidfd becomes
// readable when it does) and reaps it; returns its wait status.
std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

// Runs `argv` with HEARTH_TOKEN_SECRET set; returns its stdout, throws on a
// non-zero exit.
std::string run_and_capture(const std::vector<std::string>& argv, const std::string& input = "");

// Runs `argv` (as run_and_capture) to its end, whatever its exit code.
struct Finished {
  int exit_code = -1;  // -1: killed by a signal
  std::string errors;  // its stderr
};
Finished run_to_end(const std::vector<std::string>& argv);

}  // namespace hearth::testing
