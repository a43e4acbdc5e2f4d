// The multi-node engine: each room's log is a Redis Stream, and every node
// that has the room open hears of new entries over Redis pub/sub.
//
// Its keys and channels are in redis_keys.hpp.
// One Lua script (loaded once, called by SHA) checks the epoch, XADDs and
// PUBLISHes, so append and publish are atomic and in the same order.
//
// Two connections: one for commands (pipelined), one for subscriptions.
// Both reconnect by themselves; while the command connection is down every
// append and read fails at once with EngineError::unavailable, and after the
// subscription connection comes back every subscriber is told to resync.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/budgets.hpp"
#include "engine/engine.hpp"
#include "engine/redis/redis_connection.hpp"
#include "engine/redis/redis_keys.hpp"

namespace hearth {

// Also the nodes' shared rate budgets and counts (budgets.hpp), kept in
// Redis under hearth:budget:*.
class RedisEngine final : public Engine, public SharedBudgets, public SharedCounts {
 public:
  // `presence_ttl`: how long a node's heartbeat outlives its last refresh.
  RedisEngine(boost::asio::any_io_executor executor, RedisAddress address, std::chrono::milliseconds presence_ttl);
  ~RedisEngine() override;

  // EngineService: appends can succeed once both connections are up.
  void start(std::function<void()> on_first_ready) override;
  void stop() override;
  void say_goodbye(std::function<void()> done) override;
  SharedBudgets* shared_budgets() noexcept override { return this; }
  SharedCounts* shared_counts() noexcept override { return this; }

  void append(const std::string& room_id, const std::string& epoch, std::uint64_t known_seq, v1::LogEntry entry,
              AppendHandler handler) override;
  void read(const std::string& room_id, std::uint64_t after_seq, std::size_t limit, ReadHandler handler) override;
  void subscribe(const std::string& room_id, std::weak_ptr<EngineSubscriber> subscriber) override;
  void unsubscribe(const std::string& room_id, const EngineSubscriber* subscriber) override;
  void delete_room(const std::string& room_id, std::function<void(std::error_code)> handler) override;
  void load_checkpoint(const std::string& room_id, CheckpointHandler handler) override;
  void store_checkpoint(const std::string& room_id, const std::string& epoch, v1::RoomCheckpoint checkpoint,
                        std::function<void(std::error_code)> handler) override;
  void rewrite_page(const std::string& room_id, const Rewrite& rewrite, std::uint64_t after_seq,
                    std::uint64_t up_to_seq, std::vector<SequencedEntry> stand_ins,
                    RewritePageHandler handler) override;
  void finish_rewrite(const std::string& room_id, const std::string& epoch, const Rewrite& rewrite,
                      std::uint64_t last_seq, std::uint64_t checkpoint_seq,
                      std::optional<v1::RoomCheckpoint> checkpoint, v1::LogEntry entry,
                      AppendHandler handler) override;
  void mark_address(const std::string& room_id, const std::string& user_id, const std::string& address_key,
                    std::chrono::seconds ttl, ErrorHandler handler) override;
  void lift_addresses(const std::string& room_id, const std::string& user_id, ErrorHandler handler) override;
  void address_marked(const std::string& room_id, const std::string& address_key,
                      MarkedHandler handler) override;
  void forget_identity(const std::string& room_id, const std::string& user_id, std::chrono::seconds ttl,
                       ErrorHandler handler) override;
  void identity_forgotten(const std::string& room_id, const std::string& user_id,
                          MarkedHandler handler) override;
  void list_rooms(RoomsHandler handler) override;
  void take(std::vector<Budget> budgets, SharedBudgets::Handler handler) override;
  void take_up_to(Budget budget, std::int64_t want, GrantHandler handler) override;
  void take_turn(std::string key, std::chrono::milliseconds every, SharedBudgets::Handler handler) override;
  void give_back(std::vector<Budget> budgets, std::int64_t count) override;
  // A node's counts last --presence-ttl, as its heartbeat does.
  void claim(const std::string& key, std::size_t count, std::size_t max, SharedCounts::Handler handler) override;
  void report(std::vector<std::pair<std::string, std::size_t>> counts) override;
  std::chrono::milliseconds renew_interval() const override { return presence_ttl_ / 3; }
  bool ready() const override { return commands_up_ && subscriptions_up_; }
  const std::string& node_id() const override { return node_id_; }
  void dead_nodes(std::vector<std::string> node_ids, DeadNodesHandler handler) override;
  std::chrono::milliseconds presence_interval() const override { return presence_ttl_ / 3; }
  // Whether `key` exists: the lookups of address marks and forgotten identities.
  void exists(std::string key, MarkedHandler handler);

 private:
  void on_message(const std::string& channel, const std::string& payload);
  void on_subscribed(const std::string& channel);
  void run_append(std::vector<std::string> args, AppendHandler handler, bool by_sha);
  // A script that answers the wait in ms (0: taken), for `handler`.
  void run_budget_script(std::vector<std::string> args, SharedBudgets::Handler handler);
  // A command whose reply says only whether it worked (an error reply:
  // unavailable).
  void run_for_error(std::vector<std::string> args, ErrorHandler handler);
  void scan_rooms(std::string cursor, std::vector<std::string> found, RoomsHandler handler);

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  std::shared_ptr<RedisConnection> commands_;
  std::shared_ptr<RedisConnection> subscriptions_;
  std::atomic<bool> commands_up_{false};
  std::chrono::steady_clock::time_point commands_up_since_;  // on the strand
  // Other nodes' heartbeats as dead_nodes() saw them since then.
  struct Watched {
    std::optional<std::string> first_beat;  // the value first seen
    bool refreshed = false;                 // seen with another value since
  };
  std::unordered_map<std::string, Watched> watched_;
  bool reconnected_ = false;  // the command connection came up again after going down
  std::uint64_t beats_ = 0;
  // How long the command connection must have been up before dead_nodes()
  // takes a missing heartbeat for a dead node.
  std::chrono::milliseconds liveness_grace() const { return presence_ttl_ + kRedisMaxBackoff + kRedisConnectTimeout; }
  std::atomic<bool> subscriptions_up_{false};
  std::string script_sha_;
  const std::string node_id_;
  const std::chrono::milliseconds presence_ttl_;
  boost::asio::steady_timer heartbeat_timer_;
  // The subscription connection hears this node's own heartbeat echo; if it
  // stops, the connection is dead though TCP has not said so yet.
  std::chrono::steady_clock::time_point last_echo_;
  std::string echo_channel() const { return redis_keys::node_echo(node_id_); }
  void heartbeat();
  std::function<void()> on_first_ready_;
  void check_first_ready();
  // On the strand: who listens to which room.
  std::unordered_map<std::string, std::vector<std::weak_ptr<EngineSubscriber>>> subscribers_;
};

}  // namespace hearth
