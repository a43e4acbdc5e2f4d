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

#include "base/budgets.hpp"
#include "base/rate_limit.hpp"
#include "domain/crisis.hpp"
#include "net/ws_connection.hpp"
#include "protocol/error.hpp"
#include "room/room_registry.hpp"
#include "session/config.hpp"

namespace hearth {

struct ServerContext {
  // `budgets`: the budgets every node shares (Redis), or this node's;
  // `counts`: the counts every node shares (null: this node alone).
  ServerContext(const Config& config_, Engine& engine_, RoomRegistry& rooms_, SharedBudgets& budgets,
                SharedCounts* counts, std::shared_ptr<const CrisisLane> crisis_ = nullptr)
      : config(config_),
        engine(engine_),
        rooms(rooms_),
        crisis(crisis_ ? std::move(crisis_) : std::make_shared<const CrisisLane>()),
        identity_budgets(
            budgets,
            [secret = config_.token_secret](const std::string& user_id) {
              return budget_key(secret, "message", user_id);
            },
            config_.limits.identity_message_rate, config_.limits.identity_message_burst),
        connections_per_address(counts, config_.limits.max_connections_per_ip,
                                [secret = config_.token_secret](const std::string& address) {
                                  return budget_key(secret, "connections", address);
                                }) {}

  const Config& config;
  Engine& engine;
  RoomRegistry& rooms;
  // The crisis rules and texts now: read once per command, replaced whole
  // on SIGHUP (server.cpp).
  std::atomic<std::shared_ptr<const CrisisLane>> crisis;
  // With --tls-cert: every connection starts with a TLS handshake.
  boost::asio::ssl::context* tls = nullptr;
  // The open WebSocket connections, which shutdown closes.
  ConnectionTracker connections;
  std::atomic<bool> shutting_down{false};
  // Per-identity message budgets and open connections per address, both
  // over every node.
  LeasedBudgets identity_budgets;
  ConnectionCap connections_per_address;
  // TCP connections whose first HTTP request has not come whole, per peer
  // address (limits.hpp, unfinished_cap).
  ConnectionCounter unfinished_per_address;
};

}  // namespace hearth
