#include "server_context.hpp"

#include "ws_session.hpp"

namespace hearth {

void SessionTracker::add(const std::shared_ptr<WsSession>& session) {
  std::lock_guard lock(mutex_);
  sessions_.emplace(session.get(), session);
}

void SessionTracker::remove(const WsSession* session) {
  std::function<void()> on_empty;
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
    if (sessions_.empty() && on_empty_) on_empty = std::exchange(on_empty_, nullptr);
  }
  if (on_empty) on_empty();
}

void SessionTracker::close_all(CloseCode code, std::function<void()> on_empty) {
  std::vector<std::shared_ptr<WsSession>> open;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, weak] : sessions_) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
    if (sessions_.empty()) {
      on_empty_ = nullptr;
    } else {
      on_empty_ = std::move(on_empty);
      on_empty = nullptr;
    }
  }
  // Never call into sessions while holding the lock.
  for (const auto& session : open) session->close(code);
  if (on_empty) on_empty();
}

std::size_t SessionTracker::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace hearth
