#include "engine/redis/engine_redis.hpp"

#include <openssl/sha.h>

#include <boost/asio/post.hpp>
#include <charconv>

#include "base/identity.hpp"
#include "base/log.hpp"
#include "redis_scripts.hpp"  // generated from lua/*.lua

namespace hearth {

namespace asio = boost::asio;

namespace {

// How long a scratch copy outlives its last page: a rewrite whose node died
// leaves nothing behind for long.
constexpr auto kRewriteScratchLife = std::chrono::seconds(60);

// A script's refusal as an engine error. A script that fails leaves nothing
// written: every write comes after every check.
std::error_code script_error(const std::string& reply) {
  if (reply.find("HEARTH_EXISTS") != std::string::npos) return EngineError::room_exists;
  if (reply.find("HEARTH_EPOCH") != std::string::npos) return EngineError::epoch_mismatch;
  if (reply.find("HEARTH_CONFLICT") != std::string::npos) return EngineError::conflict;
  log::error("redis script failed: ", reply);
  return EngineError::unavailable;
}

std::string sha1_hex(std::string_view text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return to_hex(digest);
}

// "0-42" or "42" -> 42.
std::optional<std::uint64_t> parse_seq(std::string_view text) {
  if (text.starts_with("0-")) text.remove_prefix(2);
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// What an appending script answered: "0-SEQ", or why it refused.
void finish_append(const RedisReply& reply, const Engine::AppendHandler& handler) {
  if (reply.is_error()) return handler(script_error(reply.str), 0);
  const auto id = reply_as<std::string>(reply);
  const auto seq = id ? parse_seq(*id) : std::nullopt;
  if (!seq) return handler(EngineError::corrupt, 0);
  handler({}, *seq);
}

}  // namespace

RedisEngine::RedisEngine(asio::any_io_executor executor, RedisAddress address,
                         std::chrono::milliseconds presence_ttl)
    : strand_(asio::make_strand(executor)),
      commands_(std::make_shared<RedisConnection>(strand_, address, "commands")),
      subscriptions_(std::make_shared<RedisConnection>(strand_, address, "subscriptions")),
      script_sha_(sha1_hex(lua::append)),
      node_id_(random_hex(8)),
      presence_ttl_(presence_ttl),
      heartbeat_timer_(strand_) {}

void RedisEngine::heartbeat() {
  // The value changes with every beat, so that another node can tell a
  // heartbeat refreshed while it watched from one left over from before.
  commands_->command({"SET", redis_keys::node(node_id_), std::to_string(++beats_), "PX",
                      std::to_string(presence_ttl_.count())},
                     [](std::error_code, RedisReply) {});
  // The echo proves the subscription connection alive: silent for three
  // rounds, it is dead though TCP has not said so; drop it (it reconnects,
  // resubscribes, and every room resyncs).
  if (subscriptions_up_ && commands_up_) {
    if (std::chrono::steady_clock::now() - last_echo_ > 3 * (presence_ttl_ / 3) + std::chrono::seconds(1)) {
      log::warn("redis subscriptions: own heartbeat echo not heard; reconnecting");
      last_echo_ = std::chrono::steady_clock::now();
      subscriptions_->drop();
    }
    commands_->command({"PUBLISH", echo_channel(), "1"}, [](std::error_code, RedisReply) {});
  }
  heartbeat_timer_.expires_after(presence_ttl_ / 3);
  heartbeat_timer_.async_wait([this](boost::system::error_code error) {
    if (!error) heartbeat();
  });
}

void RedisEngine::dead_nodes(std::vector<std::string> node_ids, DeadNodesHandler handler) {
  asio::post(strand_, [this, node_ids = std::move(node_ids), handler = std::move(handler)]() mutable {
    if (!commands_up_) return handler(EngineError::unavailable, {});
    std::vector<std::string> args{"MGET"};
    for (const auto& id : node_ids) args.push_back(redis_keys::node(id));
    commands_->command(std::move(args), [this, node_ids, handler = std::move(handler)](std::error_code error,
                                                                                      RedisReply reply) {
      if (error) return handler(error, {});
      const auto beats = reply_as<std::vector<std::optional<std::string>>>(reply);
      if (!beats || beats->size() != node_ids.size()) return handler(EngineError::unavailable, {});
      // A missing heartbeat proves a death only if it stopped while this
      // node watched: seen refreshed (its value changed) since this node's
      // connection came up, or missing for longer than any live node takes
      // to come back. After an outage of Redis (or of this node's link to
      // it) every heartbeat may have expired, or be about to, and the node
      // back first must not write off the members of nodes still on their
      // way back.
      // (On its first connection a node has no outage behind it.)
      const bool waited_long_enough =
          !reconnected_ || std::chrono::steady_clock::now() - commands_up_since_ >= liveness_grace();
      std::vector<std::string> dead;
      for (std::size_t i = 0; i < node_ids.size(); ++i) {
        auto& watched = watched_[node_ids[i]];
        if (const auto& beat = (*beats)[i]) {
          if (!watched.first_beat)
            watched.first_beat = *beat;
          else if (*watched.first_beat != *beat)
            watched.refreshed = true;
        } else if (waited_long_enough || watched.refreshed) {
          dead.push_back(node_ids[i]);
          watched_.erase(node_ids[i]);
        }
      }
      handler({}, std::move(dead));
    });
  });
}

RedisEngine::~RedisEngine() = default;

void RedisEngine::check_first_ready() {
  if (ready() && on_first_ready_) std::exchange(on_first_ready_, nullptr)();
}

void RedisEngine::start(std::function<void()> on_first_ready) {
  on_first_ready_ = std::move(on_first_ready);
  asio::post(strand_, [this] {
    commands_->start([this](bool up) {
      commands_up_ = up;
      // The heartbeat first, so that this node is alive before any join of
      // its names it; then on, at a third of the expiry.
      if (up) {
        reconnected_ = commands_up_since_ != std::chrono::steady_clock::time_point{};
        commands_up_since_ = std::chrono::steady_clock::now();
        watched_.clear();
        heartbeat_timer_.cancel();
        heartbeat();
      }
      check_first_ready();
      // Load the script ahead of the first append; a Redis restarted without
      // it answers NOSCRIPT, and run_append falls back to EVAL.
      if (up) commands_->command({"SCRIPT", "LOAD", lua::append}, [](std::error_code, RedisReply) {});
    });
    subscriptions_->set_message_handler(
        [this](const std::string& name, const std::string& payload) { on_message(name, payload); });
    subscriptions_->set_subscribed_handler([this](const std::string& name) { on_subscribed(name); });
    subscriptions_->start([this](bool up) {
      subscriptions_up_ = up;
      check_first_ready();
      if (!up) return;
      last_echo_ = std::chrono::steady_clock::now();
      subscriptions_->subscribe(echo_channel());
      for (const auto& [room_id, subscribers] : subscribers_)
        subscriptions_->subscribe(redis_keys::events(room_id));
    });
  });
}

void RedisEngine::say_goodbye(std::function<void()> done) {
  asio::post(strand_, [this, done = std::move(done)]() mutable {
    heartbeat_timer_.cancel();
    commands_->command({"DEL", redis_keys::node(node_id_)},
                       [done = std::move(done)](std::error_code, RedisReply) { done(); });
  });
}

void RedisEngine::stop() {
  asio::post(strand_, [this] {
    commands_->stop();
    subscriptions_->stop();
  });
}

// ---------------------------------------------------------------------------
// Appending and reading
// ---------------------------------------------------------------------------

void RedisEngine::append(const std::string& room_id, const std::string& epoch, std::uint64_t known_seq,
                         v1::LogEntry entry, AppendHandler handler) {
  std::vector<std::string> args{"EVALSHA",
                                script_sha_,
                                "2",
                                redis_keys::log(room_id),
                                redis_keys::epoch(room_id),
                                redis_keys::events(room_id),
                                epoch,
                                entry.SerializeAsString(),
                                entry.has_room_created() ? "1" : "0",
                                std::to_string(known_seq)};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    run_append(std::move(args), std::move(handler), true);
  });
}

void RedisEngine::run_append(std::vector<std::string> args, AppendHandler handler, bool by_sha) {
  auto retry_args = args;
  commands_->command(std::move(args), [this, handler = std::move(handler), retry_args = std::move(retry_args),
                                       by_sha](std::error_code error, RedisReply reply) mutable {
    if (error) return handler(error, 0);
    if (by_sha && reply.is_error() && reply.str.starts_with("NOSCRIPT")) {
      retry_args[0] = "EVAL";
      retry_args[1] = lua::append;
      return run_append(std::move(retry_args), std::move(handler), false);
    }
    finish_append(reply, handler);
  });
}

void RedisEngine::delete_room(const std::string& room_id, std::function<void(std::error_code)> handler) {
  run_for_error({"EVAL", lua::delete_room, "3", redis_keys::log(room_id), redis_keys::epoch(room_id),
                 redis_keys::checkpoint(room_id), redis_keys::events(room_id)},
                std::move(handler));
}

void RedisEngine::read(const std::string& room_id, std::uint64_t after_seq, std::size_t limit, ReadHandler handler) {
  std::vector<std::string> args{"XRANGE", redis_keys::log(room_id), "(0-" + std::to_string(after_seq), "+",
                                "COUNT",  std::to_string(limit)};
  if (after_seq == 0) args[2] = "-";
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (error) return handler(error, {});
      if (reply.is_error() || reply.type != RedisReply::Type::array) return handler(EngineError::unavailable, {});
      // [[id, [field, value, ...]], ...]
      const auto items = reply_as<std::vector<std::tuple<std::string, std::vector<std::string>>>>(reply);
      if (!items) return handler(EngineError::corrupt, {});
      std::vector<SequencedEntry> entries;
      entries.reserve(items->size());
      for (const auto& [id, fields] : *items) {
        const auto seq = parse_seq(id);
        auto entry = std::make_shared<v1::LogEntry>();
        if (!seq || fields.size() < 2 || !entry->ParseFromString(fields[1]))
          return handler(EngineError::corrupt, {});
        entries.push_back(SequencedEntry{*seq, std::move(entry), {}});
      }
      handler({}, std::move(entries));
    });
  });
}

// ---------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------

void RedisEngine::load_checkpoint(const std::string& room_id, CheckpointHandler handler) {
  std::vector<std::string> args{"HGET", redis_keys::checkpoint(room_id), "data"};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (error) return handler(error, std::nullopt);
      const auto data = reply_as<std::optional<std::string>>(reply);
      if (data && !*data) return handler({}, std::nullopt);  // none stored
      v1::RoomCheckpoint checkpoint;
      if (!data || !checkpoint.ParseFromString(**data)) return handler(EngineError::corrupt, std::nullopt);
      handler({}, std::move(checkpoint));
    });
  });
}

void RedisEngine::store_checkpoint(const std::string& room_id, const std::string& epoch,
                                   v1::RoomCheckpoint checkpoint, std::function<void(std::error_code)> handler) {
  // Rare (a sweep at most), so plain EVAL: no script cache to keep.
  std::vector<std::string> args{"EVAL",
                                lua::checkpoint,
                                "3",
                                redis_keys::log(room_id),
                                redis_keys::epoch(room_id),
                                redis_keys::checkpoint(room_id),
                                epoch,
                                std::to_string(checkpoint.seq()),
                                checkpoint.SerializeAsString(),
                                "0-" + std::to_string(checkpoint.base_seq() + 1)};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (!error && reply.is_error()) error = script_error(reply.str);
      handler(error);
    });
  });
}

void RedisEngine::rewrite_page(const std::string& room_id, const Rewrite& rewrite, std::uint64_t after_seq,
                               std::uint64_t up_to_seq, std::vector<SequencedEntry> stand_ins,
                               RewritePageHandler handler) {
  std::vector<std::string> args{"EVAL",
                                lua::rewrite_page,
                                "3",
                                redis_keys::log(room_id),
                                redis_keys::checkpoint(room_id),
                                redis_keys::rewrite(room_id, rewrite.id),
                                rewrite.generation ? std::to_string(*rewrite.generation) : std::string(),
                                std::to_string(after_seq),
                                std::to_string(up_to_seq),
                                std::to_string(std::chrono::milliseconds(kRewriteScratchLife).count())};
  for (const auto& stand_in : stand_ins) {
    args.push_back(std::to_string(stand_in.seq));
    args.push_back(stand_in.entry->SerializeAsString());
  }
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args),
                       [handler = std::move(handler)](std::error_code error, RedisReply reply) {
                         if (!error && reply.is_error()) error = script_error(reply.str);
                         const auto generation = reply_as<long long>(reply);
                         if (!error && !generation) error = EngineError::corrupt;
                         handler(error, error ? 0 : static_cast<std::uint64_t>(*generation));
                       });
  });
}

void RedisEngine::finish_rewrite(const std::string& room_id, const std::string& epoch, const Rewrite& rewrite,
                                 std::uint64_t last_seq, std::uint64_t checkpoint_seq,
                                 std::optional<v1::RoomCheckpoint> checkpoint, v1::LogEntry entry,
                                 AppendHandler handler) {
  std::vector<std::string> args{"EVAL",
                                lua::rewrite_finish,
                                "5",
                                redis_keys::log(room_id),
                                redis_keys::epoch(room_id),
                                redis_keys::checkpoint(room_id),
                                redis_keys::rewrite(room_id, rewrite.id),
                                redis_keys::rewrite_old(room_id),
                                redis_keys::events(room_id),
                                epoch,
                                entry.SerializeAsString(),
                                std::to_string(last_seq),
                                std::to_string(checkpoint_seq),
                                checkpoint ? checkpoint->SerializeAsString() : std::string(),
                                std::to_string(rewrite.generation.value_or(0)),
                                std::to_string(rewrite.copied),
                                rewrite.user_id,
                                std::to_string(kRewriteTail)};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (error) return handler(error, 0);
      finish_append(reply, handler);
    });
  });
}

void RedisEngine::list_rooms(RoomsHandler handler) {
  asio::post(strand_, [this, handler = std::move(handler)]() mutable {
    scan_rooms("0", {}, std::move(handler));
  });
}

void RedisEngine::scan_rooms(std::string cursor, std::vector<std::string> found, RoomsHandler handler) {
  // Every created room has an epoch key; SCAN walks them a page at a time
  // without blocking Redis.
  commands_->command({"SCAN", std::move(cursor), "MATCH", redis_keys::every_epoch(), "COUNT", "1000"},
                     [this, found = std::move(found), handler = std::move(handler)](
                         std::error_code error, RedisReply reply) mutable {
                       if (error) return handler(error, {});
                       // [next cursor, [key, ...]]
                       auto page = reply_as<std::tuple<std::string, std::vector<std::string>>>(reply);
                       if (!page) return handler(EngineError::unavailable, {});
                       auto& [next, keys] = *page;
                       for (const auto& key : keys) {
                         if (auto room_id = redis_keys::room_of(key, redis_keys::kEpochSuffix);
                             !room_id.empty()) {
                           found.push_back(std::move(room_id));
                         }
                       }
                       if (next == "0") return handler({}, std::move(found));
                       scan_rooms(std::move(next), std::move(found), std::move(handler));
                     });
}

// ---------------------------------------------------------------------------
// Fan-out
// ---------------------------------------------------------------------------

void RedisEngine::subscribe(const std::string& room_id, std::weak_ptr<EngineSubscriber> subscriber) {
  asio::post(strand_, [this, room_id, subscriber = std::move(subscriber)]() mutable {
    auto& list = subscribers_[room_id];
    const auto* raw = subscriber.lock().get();
    for (const auto& weak : list) {
      if (weak.lock().get() == raw) return;
    }
    list.push_back(std::move(subscriber));
    if (list.size() == 1) subscriptions_->subscribe(redis_keys::events(room_id));
  });
}

void RedisEngine::unsubscribe(const std::string& room_id, const EngineSubscriber* subscriber) {
  asio::post(strand_, [this, room_id, subscriber] {
    const auto it = subscribers_.find(room_id);
    if (it == subscribers_.end()) return;
    std::erase_if(it->second, [subscriber](const auto& weak) {
      const auto locked = weak.lock();
      return !locked || locked.get() == subscriber;
    });
    if (it->second.empty()) {
      subscribers_.erase(it);
      subscriptions_->unsubscribe(redis_keys::events(room_id));
    }
  });
}

void RedisEngine::on_subscribed(const std::string& name) {
  // Anything published before the subscription took effect is only in the
  // log: every subscriber reads from where it is.
  const std::string room_id = redis_keys::room_of(name, redis_keys::kEventsSuffix);
  const auto it = subscribers_.find(room_id);
  if (it == subscribers_.end()) return;
  for (const auto& weak : it->second) {
    if (auto subscriber = weak.lock()) subscriber->on_resync(room_id);
  }
}

void RedisEngine::on_message(const std::string& name, const std::string& payload) {
  if (name == echo_channel()) {
    last_echo_ = std::chrono::steady_clock::now();
    return;
  }
  const std::string room_id = redis_keys::room_of(name, redis_keys::kEventsSuffix);
  const auto it = subscribers_.find(room_id);
  if (it == subscribers_.end()) return;
  // "SEQ EPOCH\n" + entry, or "0\n" for a deleted room.
  const auto newline = payload.find('\n');
  const auto undecodable = [] {
    log::error("redis: undecodable message on a room channel; skipping it (the log fills the gap)");
  };
  if (newline == std::string::npos) return undecodable();
  const std::string_view head = std::string_view(payload).substr(0, newline);
  const auto space = head.find(' ');
  const auto parsed = parse_seq(head.substr(0, space));
  if (!parsed) return undecodable();
  const std::uint64_t seq = parsed.value_or(0);
  if (seq == 0) {
    for (const auto& weak : it->second) {
      if (auto subscriber = weak.lock()) subscriber->on_deleted(room_id);
    }
    return;
  }
  const std::string epoch(space == std::string_view::npos ? std::string_view() : head.substr(space + 1));
  auto entry = std::make_shared<v1::LogEntry>();
  if (!entry->ParseFromArray(payload.data() + newline + 1, static_cast<int>(payload.size() - newline - 1))) {
    return undecodable();
  }
  // Decoded once per node, shared by every subscriber.
  const SequencedEntry sequenced{seq, std::move(entry), epoch};
  for (const auto& weak : it->second) {
    if (auto subscriber = weak.lock()) subscriber->on_entry(room_id, sequenced);
  }
}

}  // namespace hearth
