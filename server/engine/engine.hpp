// The seam between rooms and where their logs live: an ordered, durable (as
// far as the implementation goes) log per room, and fan-out of each appended
// entry to every node that has the room open. By role, each an interface of
// its own, which Engine joins:
//   LogStore       append, read, checkpoints, rewrites, deletes, listing
//   Broker         subscriptions to the entries appended (on any node)
//   Marks          marks that expire: banned addresses, forgotten identities
//   Presence       this node's id, and which nodes have died
//   EngineService  start, ready, stop, and the budgets and counts every
//                  node shares (none for one node alone)
// Rooms use the whole; retention, erasure and the server's start and stop
// take only the role they need.
//
// Guarantees every implementation gives (tests/engine/engine_conformance_test.cpp
// holds both engines to them):
//   * append assigns the room's next sequence number: the first entry of a
//     room is 1 and each next one is exactly one more, so a reader can tell
//     a gap; the entry is in the log before the handler sees the sequence;
//   * a room's log has an epoch, a random id fixed by the entry that creates
//     the room (RoomCreatedEntry.epoch). append refuses (epoch_mismatch) an
//     entry whose epoch is not the log's: a node never writes into a log that
//     was lost and recreated under it; and refuses (room_exists) a second
//     creating entry;
//   * each subscriber of a room receives entries appended after its
//     subscription took effect, in sequence order, at most once, possibly
//     with gaps (pub/sub is lossy): a subscriber fills a gap by read(), and
//     must read() the log after subscribing and drop live entries it has
//     already read. After a loss it cannot see, the engine calls on_resync;
//   * append either stores and publishes the entry, or does neither and
//     reports an error (memory: never fails);
//   * retention may remove a log's oldest entries, but only after a
//     checkpoint that stands in for them is stored (store_checkpoint): a
//     reader that finds entries missing at the start loads it;
//   * handlers and on_entry may run on any thread: a subscriber posts to its
//     own strand.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "base/budgets.hpp"
#include "base/sequenced_entry.hpp"
#include "hearth/v1/log.pb.h"

namespace hearth {

enum class EngineError {
  unavailable = 1,  // storage unreachable: nothing was written
  epoch_mismatch,   // the room's log is not the one the caller knows
  room_exists,      // a second creating entry
  corrupt,          // storage holds something this server cannot read
  outcome_unknown,  // the connection broke after the command was sent: it may have been applied
  conflict,         // the log or checkpoint changed since the caller read it: nothing was written
};

const std::error_category& engine_category() noexcept;
inline std::error_code make_error_code(EngineError e) noexcept { return {static_cast<int>(e), engine_category()}; }

class EngineSubscriber {
 public:
  virtual ~EngineSubscriber() = default;
  virtual void on_entry(const std::string& room_id, SequencedEntry entry) = 0;
  // Live delivery may have missed entries (the engine lost its subscription
  // for a while): read the log from where you are.
  virtual void on_resync(const std::string& room_id) = 0;
  // The room's log was deleted (Engine::delete_room, on any node).
  virtual void on_deleted(const std::string& room_id) = 0;
};

class LogStore {
 public:
  using AppendHandler = std::function<void(std::error_code, std::uint64_t seq)>;
  using ReadHandler = std::function<void(std::error_code, std::vector<SequencedEntry>)>;

  virtual ~LogStore() = default;

  // Appends `entry` to the log of `room_id` whose epoch is `epoch` (for the
  // creating entry: the new log's epoch) and which the caller has read up to
  // `known_seq`: a log that is shorter than that was rolled back under the
  // caller (storage lost its last writes), and is refused as epoch_mismatch.
  virtual void append(const std::string& room_id, const std::string& epoch, std::uint64_t known_seq,
                      v1::LogEntry entry, AppendHandler handler) = 0;

  // Entries with seq > after_seq, oldest first, at most `limit`. Entries at
  // or below the stored checkpoint's base_seq may be gone (trimmed).
  virtual void read(const std::string& room_id, std::uint64_t after_seq, std::size_t limit, ReadHandler handler) = 0;

  // Removes the room's log and everything kept beside it, and tells every
  // subscriber on every node. Later appends with the old epoch are refused.
  virtual void delete_room(const std::string& room_id, std::function<void(std::error_code)> handler) = 0;

  // The room's latest checkpoint, if retention ever stored one.
  using CheckpointHandler = std::function<void(std::error_code, std::optional<v1::RoomCheckpoint>)>;
  virtual void load_checkpoint(const std::string& room_id, CheckpointHandler handler) = 0;
  // Stores `checkpoint` unless the log's epoch is not `epoch`
  // (epoch_mismatch), a checkpoint with the same or a later seq is stored
  // (then nothing changes, and no error), or the log has grown past
  // checkpoint.seq (conflict: an entry the checkpoint has not seen, maybe an
  // erasure, came meanwhile); and removes the log's entries at or below
  // checkpoint.base_seq; in one step.
  virtual void store_checkpoint(const std::string& room_id, const std::string& epoch, v1::RoomCheckpoint checkpoint,
                                std::function<void(std::error_code)> handler) = 0;
  // "Erase my data" and retention replace stored entries and the checkpoint in steps,
  // none of which keeps storage busy for long however long the log is:
  // rewrite_page() copies a page of the log, with stand-ins for some of its
  // entries, to a scratch copy; finish_rewrite() puts the copy in place of
  // the log and a stand-in in place of the checkpoint, and appends one entry,
  // in one step: nobody ever reads the log with that entry and without the
  // rewrite, or the other way round. A scratch copy left behind (its node
  // died) goes by itself within a minute.
  static constexpr std::uint64_t kRewriteTail = 250;
  struct Rewrite {
    std::string id;                           // names the scratch copy: random, a new one for each attempt
    std::string user_id;                      // whose entries the stand-ins replace ("": not one person's)
    std::optional<std::uint64_t> generation;  // of the log at the first page (rewrite_page says)
    std::uint64_t copied = 0;                 // entries copied so far: the caller counts
  };
  // Copies the stored entries with seq in (after_seq, up_to_seq], each as
  // it is or as its stand-in in `stand_ins` (by seq), to the scratch copy,
  // and answers the log's generation, which every rewrite and every stored
  // checkpoint changes. Refused with conflict, copying nothing, when
  // `rewrite.generation` is set and is not the log's: the log was rewritten
  // or trimmed since the first page; start again with a new id.
  using RewritePageHandler = std::function<void(std::error_code, std::uint64_t generation)>;
  virtual void rewrite_page(const std::string& room_id, const Rewrite& rewrite, std::uint64_t after_seq,
                            std::uint64_t up_to_seq, std::vector<SequencedEntry> stand_ins,
                            RewritePageHandler handler) = 0;
  // Puts the scratch copy in place of the log's entries and `checkpoint`
  // (if set) in place of the stored checkpoint, and appends `entry` as
  // append() does, in one step. Entries appended after `last_seq` (the last
  // the copy has; 0: the log had none after the checkpoint's base) go into
  // the copy as they are, as long as they are at most kRewriteTail and none
  // holds the bytes of rewrite.user_id (which every entry a stand-in could
  // replace does; with no user_id, every one goes in so). Refused with conflict, writing nothing, if they are
  // more or one does (copy them and finish again), or if the log's generation, its stored checkpoint
  // (`checkpoint_seq`, 0: none) or its number of entries are not what the copy was made from (start again).
  virtual void finish_rewrite(const std::string& room_id, const std::string& epoch, const Rewrite& rewrite,
                              std::uint64_t last_seq, std::uint64_t checkpoint_seq,
                              std::optional<v1::RoomCheckpoint> checkpoint, v1::LogEntry entry,
                              AppendHandler handler) = 0;

  // The ids of every room that has a log (for the retention sweep).
  using RoomsHandler = std::function<void(std::error_code, std::vector<std::string>)>;
  virtual void list_rooms(RoomsHandler handler) = 0;
};

class Broker {
 public:
  virtual ~Broker() = default;
  // The subscriber is held weakly: a destroyed subscriber simply stops
  // receiving. Subscribing twice is harmless.
  virtual void subscribe(const std::string& room_id, std::weak_ptr<EngineSubscriber> subscriber) = 0;
  virtual void unsubscribe(const std::string& room_id, const EngineSubscriber* subscriber) = 0;
};

class Marks {
 public:
  virtual ~Marks() = default;
  // Marks of banned client addresses (AddressBans): `address_key` (an
  // HMAC, never an address) is marked as `user_id`'s in the room for
  // `ttl`; lifting removes every mark of `user_id` there; a lookup says
  // whether `address_key` is marked now.
  using ErrorHandler = std::function<void(std::error_code)>;
  virtual void mark_address(const std::string& room_id, const std::string& user_id,
                            const std::string& address_key, std::chrono::seconds ttl,
                            ErrorHandler handler) = 0;
  virtual void lift_addresses(const std::string& room_id, const std::string& user_id,
                              ErrorHandler handler) = 0;
  using MarkedHandler = std::function<void(std::error_code, bool marked)>;
  virtual void address_marked(const std::string& room_id, const std::string& address_key,
                              MarkedHandler handler) = 0;
  // Anonymous identities forgotten on request (ForgetMe): `user_id`'s
  // resume tokens for the room are void for `ttl`, on every node.
  virtual void forget_identity(const std::string& room_id, const std::string& user_id,
                               std::chrono::seconds ttl, ErrorHandler handler) = 0;
  virtual void identity_forgotten(const std::string& room_id, const std::string& user_id,
                                  MarkedHandler handler) = 0;
};

class Presence {
 public:
  virtual ~Presence() = default;
  // This node's id. The engine keeps a heartbeat for it (Redis: a key with
  // an expiry, refreshed at a third of it), so that other nodes can tell
  // when it died.
  virtual const std::string& node_id() const = 0;
  // Which of `node_ids` have no live heartbeat. The memory engine is one
  // node: nobody else is ever dead.
  using DeadNodesHandler = std::function<void(std::error_code, std::vector<std::string>)>;
  virtual void dead_nodes(std::vector<std::string> node_ids, DeadNodesHandler handler) = 0;
  // How often rooms sweep presence (a third of the heartbeat expiry).
  virtual std::chrono::milliseconds presence_interval() const = 0;
};

class EngineService {
 public:
  virtual ~EngineService() = default;
  // Connects (Redis); `on_first_ready` (may be empty) runs once, when
  // appends can first succeed.
  virtual void start(std::function<void()> on_first_ready) = 0;
  // Whether appends can succeed now (for /readyz).
  virtual bool ready() const = 0;
  // Tells the other nodes this one is leaving (Redis: its heartbeat goes,
  // so they sweep the presence it leaves at once), then `done`, also if
  // storage is out.
  virtual void say_goodbye(std::function<void()> done) = 0;
  // Disconnects.
  virtual void stop() = 0;
  // The budgets and counts every node shares, or null where this node is
  // alone (then it keeps its own: LocalBudgets, and no counts).
  virtual SharedBudgets* shared_budgets() noexcept { return nullptr; }
  virtual SharedCounts* shared_counts() noexcept { return nullptr; }
};

class Engine : public LogStore, public Broker, public Marks, public Presence, public EngineService {};

}  // namespace hearth

template <>
struct std::is_error_code_enum<hearth::EngineError> : std::true_type {};
