// Server configuration: every setting is a flag and a HEARTH_* environment
// variable (flags win); `hearth-server --help` lists them with defaults.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/limits.hpp"
#include "base/log.hpp"

namespace hearth {

struct Config {
  std::string listen = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (printed at start-up)
  unsigned threads = 0;       // 0: one per core
  // A busy shard flushes at most once per this many milliseconds, so that
  // each connection gets what came meanwhile in one write (0: never wait).
  unsigned write_coalesce_ms = 5;
  // Limits::presence_batch and presence_push, in milliseconds.
  unsigned presence_batch_ms = 20;
  unsigned presence_push_ms = 250;
  std::string engine = "memory";
  std::string redis_url = "redis://127.0.0.1:6379";
  std::string redis_password;
  std::string token_secret;
  std::string web_root;  // the web client's folder; empty: no web client
  // Crisis rules (a folder of *.rules, one per locale, or one file; empty:
  // none), the words of support for a writer who may be at risk (CRISIS),
  // and the resources for one who writes about someone else (ABOUT).
  std::string crisis_rules;
  std::string crisis_resources;
  std::string crisis_about_resources;
  std::string support_resources;
  // Browser origins allowed to open WebSockets ("*": any). Empty: only the
  // server's own origin (the Origin's host equals the Host header). A client
  // that sends no Origin (not a browser) is not checked.
  std::vector<std::string> allowed_origins;
  // Behind a reverse proxy on loopback: take the client's address from its
  // X-Real-IP header (for the per-address connection limit).
  bool trust_proxy = false;
  // ADDR:PORT of a second listener that serves GET /metrics to anyone who
  // can reach it (the operator's scraper); empty: none. The main port serves
  // /metrics to loopback clients only.
  std::string metrics_listen;
  // PEM files: with both, the listener speaks TLS (https, wss) only.
  std::string tls_cert;
  std::string tls_key;
  // SO_SNDBUF for client connections, in bytes; 0 leaves it to the kernel's
  // autotuning (up to net.ipv4.tcp_wmem's maximum, 4 MB by default, which a
  // peer that never reads keeps pinned until its connection is dropped).
  std::size_t socket_send_buffer = 0;
  std::chrono::seconds handshake_timeout{10};
  std::chrono::seconds idle_timeout{40};
  std::chrono::seconds shutdown_grace{5};
  std::chrono::seconds presence_ttl{15};
  // Rooms whose settings do not say keep questions and messages this many
  // days (0: for ever); a sweep every retention_sweep (0: never) trims them.
  std::uint32_t retention_days = 30;
  std::chrono::seconds retention_sweep{3600};
  log::Level log_level = log::Level::info;
  bool fault_injection = false;  // tests only (server/base/fault.hpp); not in --help
  Limits limits;
};

// Parses `hearth-server [flags]` with HEARTH_* variables from the process
// environment. Prints help or the error itself and returns an exit code in
// `exit_code` when the program should stop instead of serving.
std::optional<Config> parse_config(int argc, const char* const argv[], int& exit_code);

// `hearth-server token ...`: prints a signed token. Returns the exit code.
int run_token_command(int argc, const char* const argv[]);

// `hearth-server crisis-check ...`: the crisis rules over lines of text
// (scripts/crisis-eval), or their cost (--bench). Returns the exit code.
int run_crisis_check_command(int argc, const char* const argv[]);

// "a, b ,c" -> {"a", "b", "c"}: a comma-separated list (a flag, an HTTP
// header), each item trimmed of spaces and tabs, empty items dropped.
std::vector<std::string> split_list(std::string_view text);

// "90s", "30m", "2h", "7d" or plain seconds.
std::optional<std::chrono::seconds> parse_duration(const std::string& text);

}  // namespace hearth
