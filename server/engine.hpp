// The seam between rooms and where their logs live: an ordered, durable (as
// far as the implementation goes) log per room, and fan-out of each appended
// entry to every node that has the room open.
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

struct SequencedEntry {
  std::uint64_t seq = 0;
  std::shared_ptr<const v1::LogEntry> entry;
  std::string epoch;  // of the log it came from, when the engine says (live entries)
};

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

class Engine {
 public:
  using AppendHandler = std::function<void(std::error_code, std::uint64_t seq)>;
  using ReadHandler = std::function<void(std::error_code, std::vector<SequencedEntry>)>;

  virtual ~Engine() = default;

  // Appends `entry` to the log of `room_id` whose epoch is `epoch` (for the
  // creating entry: the new log's epoch) and which the caller has read up to
  // `known_seq`: a log that is shorter than that was rolled back under the
  // caller (storage lost its last writes), and is refused as epoch_mismatch.
  virtual void append(const std::string& room_id, const std::string& epoch, std::uint64_t known_seq,
                      v1::LogEntry entry, AppendHandler handler) = 0;

  // Entries with seq > after_seq, oldest first, at most `limit`. Entries at
  // or below the stored checkpoint's base_seq may be gone (trimmed).
  virtual void read(const std::string& room_id, std::uint64_t after_seq, std::size_t limit, ReadHandler handler) = 0;

  // The subscriber is held weakly: a destroyed subscriber simply stops
  // receiving. Subscribing twice is harmless.
  virtual void subscribe(const std::string& room_id, std::weak_ptr<EngineSubscriber> subscriber) = 0;
  virtual void unsubscribe(const std::string& room_id, const EngineSubscriber* subscriber) = 0;

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
  // "Erase my data": what append_rewriting replaces in storage.
  struct Rewrite {
    std::vector<SequencedEntry> entries;           // stand in for the stored entries with these seqs
    std::uint64_t checkpoint_seq = 0;              // the stored checkpoint's seq as the caller read it; 0: none
    std::optional<v1::RoomCheckpoint> checkpoint;  // its stand-in (the same seq), if one is stored
  };
  // Appends `entry` as append() does and, in the same step, replaces stored
  // entries and the checkpoint as `rewrite` says: nobody ever reads the log
  // with the entry and without the rewrite, or the other way round. Refused
  // with conflict (nothing written) if the log's last seq is not `last_seq`
  // or the stored checkpoint is not the one the caller read: read again.
  virtual void append_rewriting(const std::string& room_id, const std::string& epoch, std::uint64_t last_seq,
                                v1::LogEntry entry, Rewrite rewrite, AppendHandler handler) = 0;

  // The ids of every room that has a log (for the retention sweep).
  using RoomsHandler = std::function<void(std::error_code, std::vector<std::string>)>;
  virtual void list_rooms(RoomsHandler handler) = 0;

  // Whether appends can succeed now (for /readyz).
  virtual bool ready() const = 0;

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

}  // namespace hearth

template <>
struct std::is_error_code_enum<hearth::EngineError> : std::true_type {};
