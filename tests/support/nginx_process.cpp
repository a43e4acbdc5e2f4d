#include "nginx_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hearth::testing {
namespace {

std::uint16_t any_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

bool accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

NginxProcess::NginxProcess(const std::vector<std::uint16_t>& node_ports) {
  char pattern[] = "/tmp/hearth-nginx-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  std::ifstream in(HEARTH_SOURCE_DIR "/deploy/nginx.conf.template");
  std::stringstream text;
  text << in.rdbuf();
  std::string upstreams;
  for (const auto port : node_ports) upstreams += "    server 127.0.0.1:" + std::to_string(port) + ";\n";
  port_ = any_free_port();
  std::string config = replace_all(text.str(), "@PREFIX@", dir_);
  config = replace_all(config, "@LISTEN@", "127.0.0.1:" + std::to_string(port_));
  config = replace_all(config, "@UPSTREAMS@", upstreams);
  std::ofstream(dir_ + "/nginx.conf") << config;

  pid_ = ::fork();
  if (pid_ == 0) {
    const std::string conf = dir_ + "/nginx.conf";
    ::execl("/usr/sbin/nginx", "nginx", "-c", conf.c_str(), "-p", dir_.c_str(), "-e", (dir_ + "/error.log").c_str(),
            nullptr);
    ::_exit(127);
  }
  // nginx says nothing when it is ready: try its port until it answers.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!accepts(port_)) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      throw std::runtime_error("nginx did not start; see " + dir_ + "/error.log");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

NginxProcess::~NginxProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);  // the master stops its worker
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd >= 0) {
      pollfd pfd{pidfd, POLLIN, 0};
      if (::poll(&pfd, 1, 5000) <= 0) ::kill(pid_, SIGKILL);
      ::close(pidfd);
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

}  // namespace hearth::testing
