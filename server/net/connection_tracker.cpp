#include "net/connection_tracker.hpp"

#include "net/ws_connection.hpp"

namespace hearth {
std::optional<CloseCode> ConnectionTracker::add(const std::shared_ptr<WsConnection>& connection) {
  std::lock_guard lock(mutex_);
  connections_.emplace(connection.get(), connection);
  return closing_;
}

void ConnectionTracker::remove(const WsConnection* connection) {
  std::function<void()> on_empty;
  {
    std::lock_guard lock(mutex_);
    connections_.erase(connection);
    if (connections_.empty() && on_empty_) on_empty = std::exchange(on_empty_, nullptr);
  }
  if (on_empty) on_empty();
}

void ConnectionTracker::close_all(CloseCode code, std::function<void()> on_empty) {
  std::vector<std::shared_ptr<WsConnection>> open;
  {
    std::lock_guard lock(mutex_);
    closing_ = code;
    open = open_locked();
    if (connections_.empty()) {
      on_empty_ = nullptr;
    } else {
      on_empty_ = std::move(on_empty);
      on_empty = nullptr;
    }
  }
  // Never call into connections while holding the lock.
  for (const auto& connection : open) connection->close(code);
  if (on_empty) on_empty();
}

void ConnectionTracker::abandon_all() {
  std::vector<std::shared_ptr<WsConnection>> open;
  {
    std::lock_guard lock(mutex_);
    open = open_locked();
    connections_.clear();
  }
  for (const auto& connection : open) connection->abandon();
}

std::vector<std::shared_ptr<WsConnection>> ConnectionTracker::open_locked() const {
  std::vector<std::shared_ptr<WsConnection>> open;
  for (const auto& [key, weak] : connections_) {
    if (auto connection = weak.lock()) open.push_back(std::move(connection));
  }
  return open;
}

std::size_t ConnectionTracker::size() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

}  // namespace hearth
