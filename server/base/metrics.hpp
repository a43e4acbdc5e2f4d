// The node's counters, served at GET /metrics in the Prometheus text format
// (version 0.0.4). Process-wide, as in every Prometheus client: the hot
// paths add with relaxed atomics, once per event or per flush rather than
// per frame where they can, and a scrape reads them. Nothing here names a
// user, a room, an address or anything anyone wrote.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace hearth {

// A histogram with fixed upper bounds; observe() is lock-free.
template <std::size_t N>
class Histogram {
 public:
  explicit constexpr Histogram(std::array<double, N> bounds) : bounds_(bounds) {}
  void observe(double value);
  // `name`_bucket{le=...}, `name`_sum and `name`_count lines.
  void render(std::string& out, const std::string& name) const;

 private:
  std::array<double, N> bounds_;
  std::array<std::atomic<std::uint64_t>, N + 1> counts_{};  // the last is +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

class Metrics {
 public:
  using Counter = std::atomic<std::uint64_t>;

  Counter commands_in{0};        // client messages decoded (or refused as malformed)
  Counter events_out{0};         // events fanned out by this node's rooms
  Counter deliveries{0};         // frames written to clients, events and replies
  Counter slow_consumers{0};     // connections closed with 4001: send queue full
  Counter redis_errors{0};       // Redis error replies, and commands whose connection failed
  Counter retention_reads{0};    // rooms whose log this node's retention sweeps read
  // Exceptions caught, by fault::Where (server/base/fault.hpp).
  std::array<Counter, 5> internal_errors{};
  // Frames waiting in a session's queue when it starts a write.
  Histogram<9> send_queue_depth{{1, 2, 4, 8, 16, 64, 256, 1024, 4096}};
  // Redis commands, from write to reply.
  Histogram<10> redis_seconds{{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1}};

  // An error reply with `code` to a command (a ClientMessage field number;
  // 0, shown as "none", when the frame could not be decoded).
  void command_error(int command, int code);

  // The whole exposition; the gauges are read by the caller.
  std::string render(std::size_t connections, std::size_t rooms) const;

 private:
  mutable std::mutex errors_mutex_;
  std::map<std::pair<int, int>, std::uint64_t> errors_;  // (command, code)
};

Metrics& metrics();

}  // namespace hearth
