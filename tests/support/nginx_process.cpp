#include "nginx_process.hpp"

#include "server_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

NginxProcess::NginxProcess(const std::vector<std::uint16_t>& node_ports, const std::optional<Tls>& tls) {
  char pattern[] = "/tmp/hearth-nginx-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  const auto read = [](const char* path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  std::string tls_lines;
  if (tls) {
    tls_lines = replace_all(read(HEARTH_SOURCE_DIR "/deploy/nginx-tls.conf.template"), "@TLS_CERT@", tls->cert);
    tls_lines = replace_all(tls_lines, "@TLS_KEY@", tls->key);
  }
  std::string upstreams;
  for (const auto port : node_ports) upstreams += "    server 127.0.0.1:" + std::to_string(port) + ";\n";
  // The port was free a moment ago; another process may take it first, and
  // would then answer in nginx's place: ready means nginx's own master
  // process holds the listening socket. Otherwise try another port.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    std::string config = replace_all(read(HEARTH_SOURCE_DIR "/deploy/nginx.conf.template"), "@PREFIX@", dir_);
    config = replace_all(config, "@LISTEN@", "127.0.0.1:" + std::to_string(port_) + (tls ? " ssl" : ""));
    config = replace_all(config, "@UPSTREAMS@", upstreams);
    config = replace_all(config, "@TLS@", tls_lines);
    std::ofstream(dir_ + "/nginx.conf") << config;
    if (try_start()) return;
  }
  throw std::runtime_error("nginx did not start; see " + dir_ + "/error.log");
}

bool NginxProcess::try_start() {
  pid_ = ::fork();
  if (pid_ == 0) {
    close_inherited();
    const std::string conf = dir_ + "/nginx.conf";
    ::execl("/usr/sbin/nginx", "nginx", "-c", conf.c_str(), "-p", dir_.c_str(), "-e", (dir_ + "/error.log").c_str(),
            nullptr);
    ::_exit(127);
  }
  // nginx says nothing when it is ready: look for its listening socket until
  // it has one, or has given up (it exits when it cannot bind).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (listens_on(pid_, port_)) return true;
    if (wait_for_exit(pid_, 20ms)) {
      pid_ = -1;
      return false;
    }
  }
  ::kill(pid_, SIGKILL);
  wait_for_exit(pid_, 5s);
  pid_ = -1;
  return false;
}

NginxProcess::~NginxProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);  // the master stops its worker
    if (!wait_for_exit(pid_, std::chrono::seconds(5))) {
      ::kill(pid_, SIGKILL);
      wait_for_exit(pid_, std::chrono::seconds(5));
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

}  // namespace hearth::testing
