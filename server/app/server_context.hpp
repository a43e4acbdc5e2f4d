// What the server's parts share: the sessions' context (session/
// session_context.hpp), the whole configuration, TLS, and the count of
// connections still sending their first request.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include "app/config.hpp"
#include "session/session_context.hpp"

namespace hearth {

inline SessionSettings session_settings(const Config& config) {
  return SessionSettings{config.token_secret, config.limits, config.handshake_timeout, config.idle_timeout};
}

struct ServerContext : SessionContext {
  ServerContext(const Config& config_, Engine& engine_, RoomRegistry& rooms_, SharedBudgets& budgets,
                SharedCounts* counts, std::shared_ptr<const CrisisLane> crisis_ = nullptr)
      : SessionContext(session_settings(config_), engine_, rooms_, budgets, counts, std::move(crisis_)),
        config(config_) {}

  const Config& config;
  // With --tls-cert: every connection starts with a TLS handshake.
  boost::asio::ssl::context* tls = nullptr;
  // TCP connections whose first HTTP request has not come whole, per peer
  // address (limits.hpp, unfinished_cap).
  ConnectionCounter unfinished_per_address;
};

}  // namespace hearth
