// What every session shares: configuration, the rooms, and the list of open
// sessions that shutdown walks.
#pragma once

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "config.hpp"
#include "crisis.hpp"
#include "error.hpp"
#include "rate_limit.hpp"
#include "room_registry.hpp"

namespace hearth {

class WsSession;

// The open WebSocket sessions, weakly held, so that shutdown can close each.
class SessionTracker {
 public:
  void add(const std::shared_ptr<WsSession>& session);
  void remove(const WsSession* session);
  // Asks every open session to close with `code`; `on_empty` runs (once, on
  // whichever thread removes the last session) when none is left.
  void close_all(CloseCode code, std::function<void()> on_empty);
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<const WsSession*, std::weak_ptr<WsSession>> sessions_;
  std::function<void()> on_empty_;
};

struct ServerContext {
  ServerContext(const Config& config_, Engine& engine_, RoomRegistry& rooms_, CrisisPhrases crisis_ = {},
                std::string crisis_resources_ = {})
      : config(config_),
        engine(engine_),
        rooms(rooms_),
        crisis(std::move(crisis_)),
        crisis_resources(std::move(crisis_resources_)),
        identity_buckets(config_.limits.identity_message_rate, config_.limits.identity_message_burst) {}

  const Config& config;
  Engine& engine;
  RoomRegistry& rooms;
  const CrisisPhrases crisis;
  const std::string crisis_resources;
  // With --tls-cert: every connection starts with a TLS handshake.
  boost::asio::ssl::context* tls = nullptr;
  SessionTracker sessions;
  std::atomic<bool> shutting_down{false};
  // Per-identity message budgets and open connections per address, shared
  // by every session of this node.
  KeyedBuckets identity_buckets;
  ConnectionCounter connections_per_address;
  // TCP connections whose first HTTP request has not come whole, per peer
  // address (limits.hpp, unfinished_cap).
  ConnectionCounter unfinished_per_address;
};

}  // namespace hearth
