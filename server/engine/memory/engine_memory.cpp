#include "engine/memory/engine_memory.hpp"

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
    } else if (!entry.has_room_created() && (log.epoch != epoch || log.last_seq() < known_seq)) {
      error = EngineError::epoch_mismatch;
    } else {
      if (entry.has_room_created()) log.epoch = epoch;
      seq = add(room_id, log, epoch, std::move(entry));
    }
  }
  handler(error, seq);
}

std::uint64_t MemoryEngine::add(const std::string& room_id, RoomLog& log, const std::string& epoch,
                                v1::LogEntry entry) {
  const std::uint64_t seq = log.last_seq() + 1;
  SequencedEntry stored{seq, std::make_shared<const v1::LogEntry>(std::move(entry)), epoch};
  log.entries.push_back(stored);
  std::erase_if(log.subscribers, [](const auto& weak) { return weak.expired(); });
  for (const auto& weak : log.subscribers) {
    if (auto subscriber = weak.lock()) subscriber->on_entry(room_id, stored);
  }
  return seq;
}

void MemoryEngine::rewrite_page(const std::string& room_id, const Rewrite& rewrite, std::uint64_t after_seq,
                                std::uint64_t up_to_seq, std::vector<SequencedEntry> stand_ins,
                                RewritePageHandler handler) {
  std::error_code error;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    RoomLog& log = rooms_[room_id];
    generation = log.generation;
    if (rewrite.generation && *rewrite.generation != log.generation) {
      error = EngineError::conflict;
    } else {
      PendingRewrite& pending = log.rewrites[rewrite.id];
      const std::uint64_t from = std::max(after_seq, log.trimmed);
      const std::uint64_t to = std::min(up_to_seq, log.last_seq());
      if (to > from) pending.copied += to - from;
      for (auto& stand_in : stand_ins) {
        if (stand_in.seq > from && stand_in.seq <= to) pending.stand_ins[stand_in.seq] = std::move(stand_in);
      }
    }
  }
  handler(error, generation);
}

void MemoryEngine::finish_rewrite(const std::string& room_id, const std::string& epoch,
                                  const Rewrite& rewrite, std::uint64_t last_seq,
                                  std::uint64_t checkpoint_seq, std::optional<v1::RoomCheckpoint> checkpoint,
                                  v1::LogEntry entry, AppendHandler handler) {
  std::error_code error;
  std::uint64_t seq = 0;
  {
    std::lock_guard lock(mutex_);
    RoomLog& log = rooms_[room_id];
    const auto pending = log.rewrites.find(rewrite.id);
    const std::uint64_t copied = pending == log.rewrites.end() ? 0 : pending->second.copied;
    // The entries after the copy's last, which go in as they are: only if
    // none can be the person's.
    const std::uint64_t last = log.entries.empty() ? 0 : log.last_seq();
    const std::uint64_t tail = last > last_seq ? last - last_seq : 0;
    bool tail_fits = last >= last_seq && tail <= kRewriteTail;
    for (std::uint64_t at = last_seq + 1; tail_fits && at <= last; ++at) {
      tail_fits = at > log.trimmed && (rewrite.user_id.empty() ||
                                       log.entries[at - log.trimmed - 1].entry->SerializeAsString().find(
                                           rewrite.user_id) == std::string::npos);
    }
    if (log.epoch.empty() || log.epoch != epoch) {
      error = EngineError::epoch_mismatch;
    } else if (!tail_fits || !rewrite.generation || *rewrite.generation != log.generation ||
               (log.checkpoint ? log.checkpoint->seq() : 0) != checkpoint_seq ||
               copied + tail != log.entries.size()) {
      error = EngineError::conflict;
    } else {
      if (pending != log.rewrites.end()) {
        for (auto& [at, stand_in] : pending->second.stand_ins) {
          stand_in.epoch = epoch;
          log.entries[at - log.trimmed - 1] = std::move(stand_in);
        }
      }
      if (checkpoint) log.checkpoint = std::move(checkpoint);
      ++log.generation;
      log.rewrites.clear();
      seq = add(room_id, log, epoch, std::move(entry));
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
      // A room created again under this id starts its sequence at 1.
      it->second.entries.clear();
      it->second.trimmed = 0;
      it->second.checkpoint.reset();
      it->second.epoch.clear();
      it->second.rewrites.clear();
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
      const RoomLog& log = it->second;
      const std::uint64_t first = std::max(after_seq, log.trimmed) - log.trimmed;  // index of seq after_seq+1
      for (std::size_t i = first; i < log.entries.size() && out.size() < limit; ++i) out.push_back(log.entries[i]);
    }
  }
  handler({}, std::move(out));
}

void MemoryEngine::load_checkpoint(const std::string& room_id, CheckpointHandler handler) {
  std::optional<v1::RoomCheckpoint> checkpoint;
  {
    std::lock_guard lock(mutex_);
    const auto it = rooms_.find(room_id);
    if (it != rooms_.end()) checkpoint = it->second.checkpoint;
  }
  handler({}, std::move(checkpoint));
}

void MemoryEngine::store_checkpoint(const std::string& room_id, const std::string& epoch,
                                    v1::RoomCheckpoint checkpoint, std::function<void(std::error_code)> handler) {
  std::error_code error;
  {
    std::lock_guard lock(mutex_);
    const auto it = rooms_.find(room_id);
    if (it == rooms_.end() || it->second.epoch.empty() || it->second.epoch != epoch) {
      error = EngineError::epoch_mismatch;
    } else if (it->second.checkpoint && it->second.checkpoint->seq() >= checkpoint.seq()) {
      // a later one is stored: nothing to do
    } else if (it->second.last_seq() != checkpoint.seq()) {
      error = EngineError::conflict;
    } else {
      RoomLog& log = it->second;
      const std::uint64_t up_to = std::min(checkpoint.base_seq(), log.last_seq());
      while (log.trimmed < up_to) {
        log.entries.pop_front();
        ++log.trimmed;
      }
      log.checkpoint = std::move(checkpoint);
      ++log.generation;
      log.rewrites.clear();
    }
  }
  handler(error);
}

void MemoryEngine::mark_address(const std::string& room_id, const std::string& user_id,
                                const std::string& address_key, std::chrono::seconds ttl,
                                ErrorHandler handler) {
  {
    std::lock_guard lock(mutex_);
    address_marks_[{room_id, address_key}] = AddressMark{user_id, std::chrono::steady_clock::now() + ttl};
  }
  handler({});
}

void MemoryEngine::lift_addresses(const std::string& room_id, const std::string& user_id,
                                  ErrorHandler handler) {
  {
    std::lock_guard lock(mutex_);
    std::erase_if(address_marks_, [&](const auto& mark) {
      return mark.first.first == room_id && mark.second.user_id == user_id;
    });
  }
  handler({});
}

void MemoryEngine::address_marked(const std::string& room_id, const std::string& address_key,
                                  MarkedHandler handler) {
  bool marked = false;
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(address_marks_, [now](const auto& mark) { return mark.second.until <= now; });
    marked = address_marks_.contains({room_id, address_key});
  }
  handler({}, marked);
}

void MemoryEngine::forget_identity(const std::string& room_id, const std::string& user_id,
                                   std::chrono::seconds ttl, ErrorHandler handler) {
  {
    std::lock_guard lock(mutex_);
    forgotten_[{room_id, user_id}] = std::chrono::steady_clock::now() + ttl;
  }
  handler({});
}

void MemoryEngine::identity_forgotten(const std::string& room_id, const std::string& user_id,
                                      MarkedHandler handler) {
  bool forgotten = false;
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(forgotten_, [now](const auto& entry) { return entry.second <= now; });
    forgotten = forgotten_.contains({room_id, user_id});
  }
  handler({}, forgotten);
}

void MemoryEngine::list_rooms(RoomsHandler handler) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, log] : rooms_) {
      if (!log.epoch.empty()) ids.push_back(id);
    }
  }
  handler({}, std::move(ids));
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
  if (it->second.last_seq() == 0 && it->second.subscribers.empty()) rooms_.erase(it);
}

}  // namespace hearth
