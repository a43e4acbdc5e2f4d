// The server's threads: each runs an io_context of its own (a shard), so that
// everything placed on a shard runs on one thread. That buys two things on the
// fan-out path, where a room hands one event to every member:
// - a room gives a frame to a member on its own shard with a plain call, not a
//   post per member (a member on another shard still gets a post);
// - a session asks to be flushed when its shard has run the handlers that
//   were ready (up to kHandlersPerFlush of them), so the frames it got
//   meanwhile go out in one gather-write. When events come faster than one
//   at a time, several reach each member with one system call.
// - after a big flush (kBigFlush connections or more, a large room's event)
//   the next waits until the coalescing interval (--write-coalesce-ms) has
//   passed since, and whatever arrives meanwhile joins it. An idle shard, or
//   one whose flushes are small (small rooms, replies), flushes at once.
//   This is Nagle's trade, made per shard and only where it pays: a few
//   milliseconds under load for far fewer system calls.
// - one timer per shard looks at every connection there now and then (for
//   idle ones to ping or drop), instead of a timer in each connection.
// Connections and rooms are spread over the shards in turn. Shard 0 also runs
// the listener, storage and the node's timers.
#pragma once

#include <atomic>
#include <chrono>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <memory>
#include <vector>

namespace hearth {

// Something with writes to make once the current turn is over.
class Flushable {
 public:
  virtual ~Flushable() = default;
  virtual void flush() = 0;
};

// Something its shard calls every so often (see Shard::watch). One destroyed
// while watched leaves the list by itself: that happens only at shutdown,
// when the io_context's pending handlers (and the sessions they hold) are
// destroyed after every shard's thread has stopped.
class Ticked : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  virtual ~Ticked() = default;
  virtual void tick() = 0;
};

class Shard {
 public:
  explicit Shard(std::chrono::microseconds coalesce) : coalesce_(coalesce) {}
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  boost::asio::io_context& io() noexcept { return io_; }

  // The shard whose thread this is; null on any other thread.
  static Shard* current() noexcept;

  // Calls `writer->flush()` once the handlers ready on this shard have run.
  // Call on this shard's thread, at most once per writer until its flush()
  // runs.
  void flush_later(std::shared_ptr<Flushable> writer) { dirty_.push_back(std::move(writer)); }

  // Calls `ticked.tick()` every `period` until unwatch(); the period is the
  // first watch()'s. Both on this shard's thread.
  void watch(Ticked& ticked, std::chrono::milliseconds period);
  void unwatch(Ticked& ticked);

 private:
  friend class Shards;
  // At most this many handlers run between two flushes, so that a busy
  // shard still writes.
  static constexpr int kHandlersPerFlush = 256;
  static constexpr std::size_t kBigFlush = 64;
  // Runs the shard's loop on this thread until the io_context stops.
  void run();
  // One wait for handlers, those ready, and a flush if one is due; false
  // once the io_context has stopped.
  bool turn();
  void flush_all();

  // An io_context whose shutdown (destroying every pending handler) can be
  // called before any shard is destroyed: a handler on one shard may hold
  // objects of another's.
  struct Context : boost::asio::io_context {
    Context() : io_context(1) {}
    using io_context::shutdown;
  };
  Context io_;
  const std::chrono::microseconds coalesce_;
  std::chrono::steady_clock::time_point next_flush_{};  // after a big flush: not before this
  std::vector<std::shared_ptr<Flushable>> dirty_;
  std::vector<std::shared_ptr<Flushable>> flushing_;
  boost::intrusive::list<Ticked, boost::intrusive::constant_time_size<false>> watched_;
  boost::asio::steady_timer tick_timer_{io_};  // waits while watched_ is not empty
  std::chrono::milliseconds tick_period_{0};
  bool ticking_ = false;
  void tick_later();
};

class Shards {
 public:
  // `count` shards (at least one), each coalescing writes over `coalesce`.
  Shards(unsigned count, std::chrono::microseconds coalesce);
  ~Shards();
  Shards(const Shards&) = delete;
  Shards& operator=(const Shards&) = delete;

  Shard& main() noexcept { return *shards_.front(); }
  // The shard for a new connection or room: each in turn. Any thread.
  Shard& next() noexcept;

  // Runs every shard, shard 0 on the calling thread, until stop(); then
  // joins the other threads.
  void run();
  // Any thread.
  void stop();

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<Guard> guards_;
  std::atomic<unsigned> next_{0};
};

}  // namespace hearth
