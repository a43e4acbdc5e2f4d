// How a Room follows its log, as a state machine without I/O: what came in
// (a live entry from pub/sub, a read's page, a checkpoint, a resync, a
// retry's time) goes in, and what the Room must do next comes out, in order
// (read, load the checkpoint, apply an entry, go on past what cannot be had,
// be ready, reset). The Room does the I/O and hands the answers back; tests
// drive it without sockets or an engine (tests/unit/log_follower_test.cpp).
//
// The rules it keeps:
// - subscribe first, then read, so that nothing falls between the two
//   (the Room subscribes before start());
// - live entries wait while a read is on its way, and are applied in
//   sequence once it is done; one past a gap is held, and the gap is read
//   from the log (pub/sub may lose messages); held entries are bounded
//   (kMaxLive), and past that they go: the log has every one of them;
// - a read that ends short of what is held (the log never had the gap's
//   entries: retention removed them) goes on past the gap, since waiting
//   would never end; only a read issued after the entry past the gap came
//   can tell (an earlier one may predate the missing entries);
// - a log that starts after where the state is (retention trimmed it) is
//   continued from the stored checkpoint, before the Room is ready; once it
//   is ready, members have seen events this node can no longer continue
//   exactly, and the Room resets;
// - the first time the Room has read to the log's end, it is ready.
// It counts the last entry it handed out to apply as applied: every entry
// moves RoomState's sequence, even one the fold refuses.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <variant>
#include <vector>

#include "base/sequenced_entry.hpp"

namespace hearth {

class LogFollower {
 public:
  // Read a page of the log: entries after `after`; answer read_done() or
  // read_failed().
  struct Read {
    std::uint64_t after = 0;
  };
  // Load the room's stored checkpoint; answer checkpoint_loaded() or
  // checkpoint_failed().
  struct LoadCheckpoint {};
  // Call retry() in a while (storage was unreachable).
  struct RetryLater {};
  // Take the checkpoint just loaded as the state: its seq is now the
  // position, and nothing before it is anyone's history.
  struct AdoptCheckpoint {};
  // Fold this entry.
  struct Apply {
    SequencedEntry entry;
  };
  // The entries up to `to` cannot be had (see `why`): go on without them.
  struct Skip {
    std::uint64_t to = 0;
    enum class Why { log_starts_later, gap_not_in_log } why = Why::log_starts_later;
  };
  // Caught up with the log for the first time.
  struct Ready {};
  // The log was trimmed past where this node is, after members saw events:
  // they must join again. Nothing follows it.
  struct Reset {};
  using Action = std::variant<Read, LoadCheckpoint, RetryLater, AdoptCheckpoint, Apply, Skip, Ready, Reset>;
  using Actions = std::vector<Action>;

  // Entries per read; held live entries at most.
  static constexpr std::size_t kReadPage = 1000;
  static constexpr std::size_t kMaxLive = 10000;

  explicit LogFollower(std::size_t read_page = kReadPage, std::size_t max_live = kMaxLive)
      : read_page_(read_page), max_live_(max_live) {}

  // Subscribed: read from the start.
  Actions start();
  // An entry from pub/sub (its epoch checked by the Room).
  Actions live(SequencedEntry entry);
  // Live delivery may have missed entries: read from here.
  Actions resync();
  Actions read_done(std::vector<SequencedEntry> entries);
  Actions read_failed();
  // The stored checkpoint's seq (none stored: nullopt).
  Actions checkpoint_loaded(std::optional<std::uint64_t> seq);
  Actions checkpoint_failed();
  // The wait RetryLater asked for is over.
  Actions retry();

  // The last entry handed out to apply, or the adopted checkpoint's seq.
  std::uint64_t position() const { return position_; }
  bool ready() const { return ready_; }
  // Stops holding live entries (the Room retired).
  void stop() { live_.clear(); }

 private:
  void catch_up(Actions& out);
  void load_checkpoint(Actions& out);
  void apply(SequencedEntry entry, Actions& out);
  void drain_live(Actions& out);

  const std::size_t read_page_;
  const std::size_t max_live_;
  std::uint64_t position_ = 0;
  bool ready_ = false;
  bool reset_ = false;             // Reset was said: nothing more
  bool reading_ = false;           // a read or a checkpoint load is on its way (or its retry)
  bool read_again_ = false;        // something asked for a read while one was on its way
  bool checkpoint_tried_ = false;  // the checkpoint found none that helps
  enum class Retrying { read, checkpoint } retrying_ = Retrying::read;
  std::uint64_t live_high_at_read_ = 0;  // the highest live seq held when the read was issued
  std::map<std::uint64_t, SequencedEntry> live_;
};

}  // namespace hearth
