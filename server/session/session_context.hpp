// What every client session shares: the settings sessions run by, the
// rooms, the engine (whether storage is reachable), the crisis lane, the
// open connections that shutdown closes, and the budgets over every node.
// The server's context (app/server_context.hpp) is this and what only the
// HTTP front door needs.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "base/budgets.hpp"
#include "base/limits.hpp"
#include "base/rate_limit.hpp"
#include "domain/crisis.hpp"
#include "net/connection_tracker.hpp"
#include "room/room_registry.hpp"

namespace hearth {

// The settings a session runs by (from the server's Config).
struct SessionSettings {
  std::string token_secret;
  Limits limits;
  std::chrono::seconds handshake_timeout{10};
  std::chrono::seconds idle_timeout{40};
};

struct SessionContext {
  // `budgets`: the budgets every node shares (Redis), or this node's;
  // `counts`: the counts every node shares (null: this node alone).
  SessionContext(SessionSettings settings_, Engine& engine_, RoomRegistry& rooms_, SharedBudgets& budgets,
                 SharedCounts* counts, std::shared_ptr<const CrisisLane> crisis_ = nullptr)
      : settings(std::move(settings_)),
        engine(engine_),
        rooms(rooms_),
        crisis(crisis_ ? std::move(crisis_) : std::make_shared<const CrisisLane>()),
        identity_budgets(
            budgets,
            [secret = settings.token_secret](const std::string& user_id) {
              return budget_key(secret, "message", user_id);
            },
            settings.limits.identity_message_rate, settings.limits.identity_message_burst),
        connections_per_address(counts, settings.limits.max_connections_per_ip,
                                [secret = settings.token_secret](const std::string& address) {
                                  return budget_key(secret, "connections", address);
                                }) {}

  const SessionSettings settings;
  Engine& engine;
  RoomRegistry& rooms;
  // The crisis rules and texts now: read once per command, replaced whole
  // on SIGHUP (server.cpp).
  std::atomic<std::shared_ptr<const CrisisLane>> crisis;
  // The open WebSocket connections, which shutdown closes.
  ConnectionTracker connections;
  std::atomic<bool> shutting_down{false};
  // Per-identity message budgets and open connections per address, both
  // over every node.
  LeasedBudgets identity_budgets;
  ConnectionCap connections_per_address;
};

}  // namespace hearth
