// A real hearth-server process for a test: started on a free port (the
// server binds port 0 and prints the one it got), stopped by PID.
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
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  // Sends SIGTERM and waits; returns the exit code, or nullopt if the
  // process did not exit normally within `timeout` (it is then killed).
  std::optional<int> stop(std::chrono::seconds timeout = std::chrono::seconds(15));
  // Waits for an exit already under way (the test sent the signal itself).
  std::optional<int> wait_exit(std::chrono::seconds timeout = std::chrono::seconds(15));

  // `hearth-server token ...` with this server's secret.
  static std::string token(const std::string& role, const std::string& room, const std::string& name,
                           const std::string& sub, const std::string& ttl = "1h");

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// A loopback port that was free a moment ago (another process may take it
// first: callers retry).
std::uint16_t free_port();

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
