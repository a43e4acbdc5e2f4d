// The seam between rooms and where their logs live: an ordered, durable (as
// far as the implementation goes) log per room, and fan-out of each appended
// entry to every node that has the room open.
//
// Guarantees every implementation gives (tests/unit/engine_conformance.hpp
// holds them to it):
//   * append assigns the room's next sequence number, strictly greater than
//     any before it in that room (not necessarily contiguous), and the entry
//     is in the log before the handler sees the sequence;
//   * each subscriber of a room receives every entry appended after its
//     subscription took effect, in sequence order, at most once. A
//     subscriber that needs everything must read() the log after
//     subscribing and drop live entries it has already read;
//   * append either stores and publishes the entry, or does neither and
//     reports an error (memory: never fails);
//   * handlers and on_entry may run on any thread: a subscriber posts to its
//     own strand.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "hearth/v1/log.pb.h"

namespace hearth {

struct SequencedEntry {
  std::uint64_t seq = 0;
  std::shared_ptr<const v1::LogEntry> entry;
};

class EngineSubscriber {
 public:
  virtual ~EngineSubscriber() = default;
  virtual void on_entry(const std::string& room_id, SequencedEntry entry) = 0;
};

class Engine {
 public:
  using AppendHandler = std::function<void(std::error_code, std::uint64_t seq)>;
  using ReadHandler = std::function<void(std::error_code, std::vector<SequencedEntry>)>;

  virtual ~Engine() = default;

  virtual void append(const std::string& room_id, v1::LogEntry entry, AppendHandler handler) = 0;

  // Entries with seq > after_seq, oldest first, at most `limit`.
  virtual void read(const std::string& room_id, std::uint64_t after_seq, std::size_t limit, ReadHandler handler) = 0;

  // The subscriber is held weakly: a destroyed subscriber simply stops
  // receiving. Subscribing twice is harmless.
  virtual void subscribe(const std::string& room_id, std::weak_ptr<EngineSubscriber> subscriber) = 0;
  virtual void unsubscribe(const std::string& room_id, const EngineSubscriber* subscriber) = 0;
};

}  // namespace hearth
