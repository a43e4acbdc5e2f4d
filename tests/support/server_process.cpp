#include "server_process.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hearth::testing {
namespace {

using Clock = std::chrono::steady_clock;

pid_t spawn(const std::vector<std::string>& argv, int stdout_fd, int stdin_fd, int stderr_fd = -1) {
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::setenv("HEARTH_TOKEN_SECRET", ServerProcess::kSecret, 1);
    if (stdout_fd >= 0) ::dup2(stdout_fd, STDOUT_FILENO);
    if (stdin_fd >= 0) ::dup2(stdin_fd, STDIN_FILENO);
    if (stderr_fd >= 0) ::dup2(stderr_fd, STDERR_FILENO);
    close_inherited();
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

// Everything `fd` gives until its end (or 15 s of silence); closes it.
std::string read_all(int fd) {
  std::string output;
  char buffer[4096];
  for (;;) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 15000) <= 0) break;
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return output;
}

// Waits for `pid` to exit; kills it and throws if it takes over 15 s.
int finish(pid_t pid, const std::string& program) {
  const auto status = wait_for_exit(pid, std::chrono::seconds(15));
  if (!status) {
    ::kill(pid, SIGKILL);
    wait_for_exit(pid, std::chrono::seconds(5));
    throw std::runtime_error(program + " did not finish");
  }
  return *status;
}

}  // namespace

void close_inherited() {
  // Asio opens sockets without close-on-exec: without this, a child would
  // hold the test's client connections open after the test closes them.
  ::close_range(3, ~0U, 0);
}

std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd pfd{pidfd, POLLIN, 0};
    ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    ::close(pidfd);
  }
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) return status;
  return std::nullopt;
}

bool listens_on(pid_t pid, std::uint16_t port) {
  // /proc/net/tcp: "sl local_address rem_address st ... inode", addresses in
  // hex; 0100007F is 127.0.0.1 and state 0A is LISTEN.
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, "0100007F:%04X", port);
  std::ifstream table("/proc/net/tcp");
  std::string line, inode;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, node;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> node;
    if (local == wanted && state == "0A") inode = node;
  }
  if (inode.empty()) return false;
  const std::string target = "socket:[" + inode + "]";
  std::error_code error;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) {
    std::error_code ignored;
    if (std::filesystem::read_symlink(fd.path(), ignored).string() == target) return true;
  }
  return false;
}

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("no free port");
  return ntohs(address.sin_port);
}

std::string sanitizer_report(const std::string& log) {
  // The first line of every ASan, LSan and UBSan report.
  static const char* const markers[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                                        "WARNING: AddressSanitizer", "ERROR: UndefinedBehaviorSanitizer"};
  for (const char* marker : markers) {
    const auto at = log.find(marker);
    if (at == std::string::npos) continue;
    const auto begin = log.rfind('\n', at);
    const auto end = log.find('\n', at);
    return log.substr(begin == std::string::npos ? 0 : begin + 1,
                      end == std::string::npos ? std::string::npos : end - (begin == std::string::npos ? 0 : begin + 1));
  }
  return "";
}

ServerProcess::ServerProcess(std::vector<std::string> args) {
  char pattern[] = "/tmp/hearth-server-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  const int log_fd = ::open((dir_ + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) throw std::runtime_error("cannot create the server's log file");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> argv{HEARTH_SERVER_BIN, "--port", "0", "--listen", "127.0.0.1"};
  const bool threads_set = std::any_of(args.begin(), args.end(), [](const std::string& arg) {
    return arg == "--threads" || arg.starts_with("--threads=");
  });
  if (!threads_set) argv.insert(argv.end(), {"--threads", "2"});
  argv.insert(argv.end(), args.begin(), args.end());
  // Most tests send faster than any person and open more connections than
  // one person would: the abuse limits are off unless a test sets them
  // (the limit tests do).
  const std::pair<const char*, const char*> unlimited[] = {
      {"--message-rate", "1000000"}, {"--message-burst", "1000000"}, {"--identity-message-rate", "1000000"},
      {"--identity-message-burst", "1000000"}, {"--max-connections-per-ip", "0"}, {"--shutdown-grace", "5s"}};
  for (const auto& [flag, value] : unlimited) {
    if (std::find(args.begin(), args.end(), flag) == args.end()) argv.insert(argv.end(), {flag, value});
  }
  pid_ = spawn(argv, fds[1], -1, log_fd);
  ::close(fds[1]);
  ::close(log_fd);

  // Read stdout until the address line.
  std::string output;
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  const std::regex address(R"(hearth listening on https?://[0-9.]+:([0-9]+)[\s\S]*hearth ready)");
  std::smatch match;
  while (!std::regex_search(output, match, address)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd pfd{fds[0], POLLIN, 0};
    if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) <= 0) break;
    char buffer[512];
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (match.empty()) {
    ::kill(pid_, SIGKILL);
    wait_for_exit(pid_, std::chrono::seconds(5));
    pid_ = -1;
    const std::string errors = log();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw std::runtime_error("hearth-server did not start: " + output + errors);
  }
  port_ = static_cast<std::uint16_t>(std::stoi(match[1]));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    const auto code = stop();
    EXPECT_EQ(code, 0) << "hearth-server on port " << port_ << " did not exit cleanly on SIGTERM";
  }
  // A test body that throws fails only once the exception has left it, after
  // this destructor: the exception in flight counts as a failure here.
  if (::testing::Test::HasFailure() || std::uncaught_exceptions() > 0) {
    // A sanitizer's report from its start (a leak report's first stacks say
    // the most), else the log's end.
    const std::string text = log();
    const std::string report = sanitizer_report(text);
    const auto from = report.empty() ? (text.size() > 8000 ? text.size() - 8000 : 0) : text.find(report);
    std::cerr << "--- hearth-server (port " << port_ << ") stderr ---\n"
              << text.substr(from, 100000) << "--- end ---" << std::endl;
  }
  std::error_code ignored;
  // For debugging: HEARTH_TEST_KEEP_LOGS=FOLDER keeps every server's stderr.
  if (const char* keep = std::getenv("HEARTH_TEST_KEEP_LOGS")) {
    std::filesystem::copy_file(dir_ + "/stderr.log",
                               std::filesystem::path(keep) / ("hearth-server-" + std::to_string(port_) + ".log"),
                               std::filesystem::copy_options::overwrite_existing, ignored);
  }
  std::filesystem::remove_all(dir_, ignored);
}

std::string ServerProcess::log() const {
  std::ifstream in(dir_ + "/stderr.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool ServerProcess::wait_for_log(const std::string& text, std::size_t occurrences,
                                 std::chrono::seconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const std::string now = log();
    std::size_t found = 0;
    for (auto at = now.find(text); at != std::string::npos; at = now.find(text, at + text.size())) ++found;
    if (found >= occurrences) return true;
    if (Clock::now() >= deadline) return false;
    // The server appends to a file: look again shortly.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::optional<int> ServerProcess::stop(std::chrono::seconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  ::kill(pid_, SIGTERM);
  return wait_exit(timeout);
}

std::optional<int> ServerProcess::wait_exit(std::chrono::seconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto status = wait_for_exit(pid_, timeout);
  if (!status) {
    ADD_FAILURE() << "hearth-server on port " << port_ << " did not exit within " << timeout.count()
                  << " s of SIGTERM; killed";
    ::kill(pid_, SIGKILL);
    wait_for_exit(pid_, std::chrono::seconds(10));
  }
  pid_ = -1;
  const std::string report = sanitizer_report(log());
  EXPECT_EQ(report, "") << "hearth-server on port " << port_ << " reported a sanitizer error";
  if (status && WIFEXITED(*status)) return WEXITSTATUS(*status);
  if (status && WIFSIGNALED(*status)) {
    ADD_FAILURE() << "hearth-server on port " << port_ << " died of signal " << WTERMSIG(*status);
  }
  return std::nullopt;
}

void ServerProcess::crash() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_for_exit(pid_, std::chrono::seconds(10));
  pid_ = -1;
}

std::string run_and_capture(const std::vector<std::string>& argv, const std::string& input) {
  int out[2], in[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = spawn(argv, out[1], in[0]);
  ::close(out[1]);
  ::close(in[0]);
  if (!input.empty() && ::write(in[1], input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
    throw std::runtime_error("write to child failed");
  }
  ::close(in[1]);
  const std::string output = read_all(out[0]);
  const int status = finish(pid, argv[0]);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(argv[0] + " failed; output: " + output);
  }
  return output;
}

Finished run_to_end(const std::vector<std::string>& argv) {
  int err[2];
  if (::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = spawn(argv, -1, -1, err[1]);
  ::close(err[1]);
  Finished finished;
  finished.errors = read_all(err[0]);
  const int status = finish(pid, argv[0]);
  finished.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  EXPECT_EQ(sanitizer_report(finished.errors), "") << argv[0] << " reported a sanitizer error";
  return finished;
}

std::string ServerProcess::token(const std::string& role, const std::string& room, const std::string& name,
                                 const std::string& sub, const std::string& ttl) {
  std::string out = run_and_capture(
      {HEARTH_SERVER_BIN, "token", "--role", role, "--room", room, "--name", name, "--sub", sub, "--ttl", ttl});
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace hearth::testing
