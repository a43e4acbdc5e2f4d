#include "engine_memory.hpp"

#include <algorithm>

namespace hearth {

void MemoryEngine::append(const std::string& room_id, const std::string& epoch, std::uint64_t known_seq,
                          v1::LogEntry entry, AppendHandler handler) {
  std::error_code error;
  std::uint64_t seq = 0;
  {
    std::lock_guard lock(mutex_);
    RoomLog& log = rooms_[room_id];
    if (entry.has_room_created() && !log.epoch.empty()) {
      error = EngineError::room_exists;
    } else if (!entry.has_room_created() && (log.epoch != epoch || log.entries.size() < known_seq)) {
      error = EngineError::epoch_mismatch;
    } else {
      if (entry.has_room_created()) log.epoch = epoch;
      seq = log.entries.size() + 1;
      SequencedEntry stored{seq, std::make_shared<const v1::LogEntry>(std::move(entry)), epoch};
      log.entries.push_back(stored);
      std::erase_if(log.subscribers, [](const auto& weak) { return weak.expired(); });
      for (const auto& weak : log.subscribers) {
        if (auto subscriber = weak.lock()) subscriber->on_entry(room_id, stored);
      }
    }
  }
  handler(error, seq);
}

void MemoryEngine::delete_room(const std::string& room_id, std::function<void(std::error_code)> handler) {
  std::vector<std::shared_ptr<EngineSubscriber>> told;
  {
    std::lock_guard lock(mutex_);
    const auto it = rooms_.find(room_id);
    if (it != rooms_.end()) {
      for (const auto& weak : it->second.subscribers) {
        if (auto subscriber = weak.lock()) told.push_back(std::move(subscriber));
      }
      it->second.entries.clear();
      it->second.epoch.clear();
    }
  }
  for (const auto& subscriber : told) subscriber->on_deleted(room_id);
  handler({});
}

void MemoryEngine::read(const std::string& room_id, std::uint64_t after_seq, std::size_t limit, ReadHandler handler) {
  std::vector<SequencedEntry> out;
  {
    std::lock_guard lock(mutex_);
    const auto it = rooms_.find(room_id);
    if (it != rooms_.end()) {
      const auto& entries = it->second.entries;
      for (std::size_t i = after_seq; i < entries.size() && out.size() < limit; ++i) out.push_back(entries[i]);
    }
  }
  handler({}, std::move(out));
}

void MemoryEngine::subscribe(const std::string& room_id, std::weak_ptr<EngineSubscriber> subscriber) {
  std::lock_guard lock(mutex_);
  auto& subscribers = rooms_[room_id].subscribers;
  const auto* raw = subscriber.lock().get();
  const bool known = std::any_of(subscribers.begin(), subscribers.end(),
                                 [raw](const auto& weak) { return weak.lock().get() == raw; });
  if (!known) subscribers.push_back(std::move(subscriber));
}

void MemoryEngine::unsubscribe(const std::string& room_id, const EngineSubscriber* subscriber) {
  std::lock_guard lock(mutex_);
  const auto it = rooms_.find(room_id);
  if (it == rooms_.end()) return;
  std::erase_if(it->second.subscribers, [subscriber](const auto& weak) {
    const auto locked = weak.lock();
    return !locked || locked.get() == subscriber;
  });
  // A room that never had an entry leaves nothing behind (someone asked for
  // a room that does not exist).
  if (it->second.entries.empty() && it->second.subscribers.empty()) rooms_.erase(it);
}

}  // namespace hearth
