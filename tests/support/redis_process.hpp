// A real redis-server for a test: on a free loopback port, its data in a
// private folder, stopped by PID. restart() keeps port and data (AOF), as a
// crash and restart of the same Redis would.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hearth::testing {

class RedisProcess {
 public:
  // Starts redis-server; `appendonly` turns AOF on (appendfsync always, so a
  // test's kill loses nothing acknowledged). Throws if it does not start.
  struct Options {
    bool appendonly = true;
    std::string password;  // requirepass
    bool unix_socket = false;
  };
  explicit RedisProcess(Options options);
  RedisProcess() : RedisProcess(Options{}) {}
  ~RedisProcess();
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  // hearth-server's flags for a node on this Redis.
  std::vector<std::string> node_args() const { return {"--engine", "redis", "--redis", url()}; }
  std::string socket_path() const { return dir_ + "/redis.sock"; }
  pid_t pid() const { return pid_; }

  // SIGKILL, as a crash would; then start() again on the same port and data.
  // While it is down the port stays reserved for it (refusing connections).
  void kill();
  void start();
  // Runs redis-cli against this server and returns its output.
  std::string cli(const std::vector<std::string>& args) const;
  // Everything this Redis stores: each key, its type and contents (XRANGE,
  // HGETALL, SMEMBERS or GET), for checks of what storage holds.
  std::string dump() const;

 private:
  bool try_start();
  void reserve_port();
  void release_port();

  Options options_;
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  int reserved_fd_ = -1;  // holds port_ while Redis is down
};

}  // namespace hearth::testing
