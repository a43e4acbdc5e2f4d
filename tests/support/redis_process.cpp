#include "redis_process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "server_process.hpp"

namespace hearth::testing {

RedisProcess::RedisProcess(Options options) : options_(std::move(options)) {
  char pattern[] = "/tmp/hearth-redis-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  // The port was free a moment ago; another test may take it first: retry.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    if (try_start()) return;
  }
  throw std::runtime_error("redis-server did not start");
}

RedisProcess::~RedisProcess() {
  kill();
  release_port();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void RedisProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_for_exit(pid_, std::chrono::seconds(10));
  pid_ = -1;
  reserve_port();
}

void RedisProcess::reserve_port() {
  // Bound but not listening: connections to the port are refused, as with
  // nothing there, but no other process can bind it (another test's
  // free_port() skips it), so start() gets it back.
  release_port();
  reserved_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  ::setsockopt(reserved_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);  // past TIME_WAIT
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(reserved_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) release_port();
}

void RedisProcess::release_port() {
  if (reserved_fd_ >= 0) ::close(reserved_fd_);
  reserved_fd_ = -1;
}

void RedisProcess::start() {
  release_port();
  if (!try_start()) throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_));
}

bool RedisProcess::try_start() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const std::string port = std::to_string(port_);
  std::vector<std::string> argv{"/usr/bin/redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", dir_,
                                "--save", "", "--appendonly", options_.appendonly ? "yes" : "no", "--appendfsync",
                                "always", "--logfile", "", "--daemonize", "no"};
  if (!options_.password.empty()) argv.insert(argv.end(), {"--requirepass", options_.password});
  if (options_.unix_socket) argv.insert(argv.end(), {"--unixsocket", socket_path(), "--unixsocketperm", "700"});
  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    close_inherited();
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  // Redis logs "Ready to accept connections" once it serves (after loading
  // its AOF, on a restart).
  std::string output;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  bool ready = false;
  while (!ready) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd pfd{fds[0], POLLIN, 0};
    if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) <= 0) break;
    char buffer[1024];
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
    ready = output.find("Ready to accept connections") != std::string::npos;
  }
  ::close(fds[0]);  // Redis keeps logging to a closed pipe: it ignores the errors
  if (!ready) {
    ::kill(pid_, SIGKILL);
    wait_for_exit(pid_, std::chrono::seconds(10));
    pid_ = -1;
  }
  return ready;
}

std::string RedisProcess::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"/usr/bin/redis-cli", "-p", std::to_string(port_)};
  if (!options_.password.empty()) argv.insert(argv.end(), {"--no-auth-warning", "-a", options_.password});
  argv.insert(argv.end(), args.begin(), args.end());
  return run_and_capture(argv);
}

std::string RedisProcess::dump() const {
  std::string out;
  std::istringstream keys(cli({"KEYS", "*"}));
  for (std::string key; std::getline(keys, key);) {
    if (key.empty()) continue;
    std::string type = cli({"TYPE", key});
    if (!type.empty() && type.back() == '\n') type.pop_back();
    out += "== " + key + " (" + type + ")\n";
    if (type == "stream")
      out += cli({"XRANGE", key, "-", "+"});
    else if (type == "hash")
      out += cli({"HGETALL", key});
    else if (type == "set")
      out += cli({"SMEMBERS", key});
    else if (type == "string")
      out += cli({"GET", key});
  }
  return out;
}

}  // namespace hearth::testing
