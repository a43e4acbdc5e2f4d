#include "base/metrics.hpp"

#include "base/fault.hpp"
#include "hearth/v1/protocol.pb.h"

namespace hearth {
namespace {

void line(std::string& out, const std::string& name, const std::string& labels, double value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " ";
  // Integers print as integers; Prometheus reads either.
  const auto whole = static_cast<std::uint64_t>(value);
  out += static_cast<double>(whole) == value ? std::to_string(whole) : std::to_string(value);
  out += "\n";
}

void head(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

std::string bound(double value) {
  std::string text = std::to_string(value);
  // "0.000250" -> "0.00025", "4096.000000" -> "4096"
  text.erase(text.find_last_not_of('0') + 1);
  if (text.back() == '.') text.pop_back();
  return text;
}

std::string command_name(int command) {
  if (command == 0) return "none";
  const auto* field = v1::ClientMessage::descriptor()->FindFieldByNumber(command);
  return field != nullptr ? field->json_name() : "unknown";
}

}  // namespace

template <std::size_t N>
void Histogram<N>::observe(double value) {
  std::size_t i = 0;
  while (i < N && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

template <std::size_t N>
void Histogram<N>::render(std::string& out, const std::string& name) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= N; ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    line(out, name + "_bucket", "le=\"" + (i < N ? bound(bounds_[i]) : std::string("+Inf")) + "\"",
         static_cast<double>(cumulative));
  }
  line(out, name + "_sum", "", sum_.load(std::memory_order_relaxed));
  line(out, name + "_count", "", static_cast<double>(count_.load(std::memory_order_relaxed)));
}

template class Histogram<9>;
template class Histogram<10>;

void Metrics::command_error(int command, int code) {
  std::lock_guard lock(errors_mutex_);
  ++errors_[{command, code}];
}

std::string Metrics::render(std::size_t connections, std::size_t rooms) const {
  std::string out;
  auto counter = [&](const char* name, const char* help, const Counter& value) {
    head(out, name, "counter", help);
    line(out, name, "", static_cast<double>(value.load(std::memory_order_relaxed)));
  };
  head(out, "hearth_connections", "gauge", "Open WebSocket connections.");
  line(out, "hearth_connections", "", static_cast<double>(connections));
  head(out, "hearth_rooms", "gauge", "Rooms open on this node.");
  line(out, "hearth_rooms", "", static_cast<double>(rooms));
  counter("hearth_commands_total", "Client messages received.", commands_in);
  counter("hearth_events_total", "Events fanned out to members by this node's rooms.", events_out);
  counter("hearth_deliveries_total", "Frames written to clients (events, replies and presence pushes).", deliveries);
  counter("hearth_slow_consumers_total", "Connections closed because their send queue was full.", slow_consumers);
  head(out, "hearth_command_errors_total", "counter", "Error replies, by command and error code.");
  {
    std::lock_guard lock(errors_mutex_);
    for (const auto& [key, count] : errors_) {
      line(out, "hearth_command_errors_total",
           "command=\"" + command_name(key.first) + "\",code=\"" +
               v1::ErrorCode_Name(static_cast<v1::ErrorCode>(key.second)) + "\"",
           static_cast<double>(count));
    }
  }
  head(out, "hearth_send_queue_depth", "histogram", "Frames queued for a connection when it starts a write.");
  send_queue_depth.render(out, "hearth_send_queue_depth");
  head(out, "hearth_redis_command_seconds", "histogram", "Redis commands, from write to reply.");
  redis_seconds.render(out, "hearth_redis_command_seconds");
  counter("hearth_redis_errors_total", "Redis error replies, and commands lost with their connection.", redis_errors);
  counter("hearth_retention_reads_total", "Rooms whose log this node's retention sweeps read.",
          retention_reads);
  head(out, "hearth_internal_errors_total", "counter",
       "Failures of the server's own code, caught where they happened (a command failed with INTERNAL, a "
       "connection closed with 1011, a log entry skipped).");
  for (int i = 0; i < fault::kWheres; ++i) {
    line(out, "hearth_internal_errors_total", std::string("where=\"") + fault::name(static_cast<fault::Where>(i)) + "\"",
         static_cast<double>(internal_errors[static_cast<std::size_t>(i)].load(std::memory_order_relaxed)));
  }
  return out;
}

Metrics& metrics() {
  static Metrics instance;
  return instance;
}

}  // namespace hearth
