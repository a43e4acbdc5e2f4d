// The single-node engine: room logs in this process's memory, fan-out by
// direct call. Nothing survives a restart. The default, and the reference
// the Redis engine is tested against.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>

#include "engine/engine.hpp"

namespace hearth {

class MemoryEngine final : public Engine {
 public:
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
  // One node, in this process: nothing to connect to or leave.
  void start(std::function<void()> on_first_ready) override {
    if (on_first_ready) on_first_ready();
  }
  bool ready() const override { return true; }
  void say_goodbye(std::function<void()> done) override { done(); }
  void stop() override {}
  const std::string& node_id() const override { return node_id_; }
  void dead_nodes(std::vector<std::string>, DeadNodesHandler handler) override { handler({}, {}); }
  std::chrono::milliseconds presence_interval() const override { return std::chrono::seconds(10); }

 private:
  // A rewrite's pages so far: the stand-ins it will put in, by seq.
  struct PendingRewrite {
    std::map<std::uint64_t, SequencedEntry> stand_ins;
    std::uint64_t copied = 0;
  };
  struct RoomLog {
    std::string epoch;
    std::uint64_t generation = 0;                              // rewrites and checkpoints stored
    std::unordered_map<std::string, PendingRewrite> rewrites;  // by id; all dropped when generation moves on
    std::uint64_t trimmed = 0;           // entries up to this seq are gone
    std::deque<SequencedEntry> entries;  // seq trimmed+i+1 at index i
    std::optional<v1::RoomCheckpoint> checkpoint;
    std::uint64_t last_seq() const { return trimmed + entries.size(); }
    std::vector<std::weak_ptr<EngineSubscriber>> subscribers;
  };

  // Appends to `log` (the mutex held) and tells its subscribers.
  std::uint64_t add(const std::string& room_id, RoomLog& log, const std::string& epoch, v1::LogEntry entry);

  // Guards rooms_. Entries are delivered while it is held so that two
  // appends to one room reach every subscriber in sequence order; on_entry
  // only posts, so this is short.
  const std::string node_id_ = "local";
  std::mutex mutex_;
  std::unordered_map<std::string, RoomLog> rooms_;
  struct AddressMark {
    std::string user_id;
    std::chrono::steady_clock::time_point until;
  };
  std::map<std::pair<std::string, std::string>, AddressMark> address_marks_;  // by room and address key
  // Until when, by room and user id.
  std::map<std::pair<std::string, std::string>, std::chrono::steady_clock::time_point> forgotten_;
};

}  // namespace hearth
