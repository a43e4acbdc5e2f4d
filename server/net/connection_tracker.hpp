// The open WebSocket connections of this node, for shutdown.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "protocol/error.hpp"

namespace hearth {

class WsConnection;

// The open connections, weakly held, so that shutdown can close each.
class ConnectionTracker {
 public:
  // The close code a connection added now must close with, if close_all()
  // has run.
  std::optional<CloseCode> add(const std::shared_ptr<WsConnection>& connection);
  void remove(const WsConnection* connection);
  // Asks every open connection, and every one added later, to close with
  // `code`; `on_empty` runs (once, on whichever thread removes the last
  // one) when none is left.
  void close_all(CloseCode code, std::function<void()> on_empty);
  std::size_t size() const;
  // For a forced stop, once no shard runs: WsConnection::abandon() on every
  // open connection.
  void abandon_all();

 private:
  // The connections still alive; under the lock.
  std::vector<std::shared_ptr<WsConnection>> open_locked() const;

  mutable std::mutex mutex_;
  std::unordered_map<const WsConnection*, std::weak_ptr<WsConnection>> connections_;
  std::optional<CloseCode> closing_;
  std::function<void()> on_empty_;
};

}  // namespace hearth
