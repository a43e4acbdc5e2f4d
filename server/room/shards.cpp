#include "room/shards.hpp"

#include <algorithm>
#include <thread>

#include "base/fault.hpp"

namespace hearth {
namespace {

thread_local Shard* this_thread_shard = nullptr;

}  // namespace

Shard* Shard::current() noexcept { return this_thread_shard; }

void Shard::run() {
  this_thread_shard = this;
  // A handler that throws ends only itself (server/base/fault.hpp): the loop,
  // and every connection and room on the shard, go on.
  for (bool running = true; running;) fault::contain(fault::Where::loop, [&] { running = turn(); }, [] {});
  flush_all();
  this_thread_shard = nullptr;
}

bool Shard::turn() {
  // io_context::run() with a flush after every batch of ready handlers: wait
  // for one, run those that are ready (each fan-out only queues frames),
  // then write.
  using Clock = std::chrono::steady_clock;
  // Block for a handler while no writer waits; while one waits, only until
  // its flush is due.
  if (dirty_.empty()) {
    if (io_.run_one() == 0) return false;
  } else if (Clock::now() < next_flush_) {
    io_.run_one_until(next_flush_);
  }
  if (io_.stopped()) return false;
  for (int i = 1; i < kHandlersPerFlush && io_.poll_one() > 0; ++i) {
  }
  if (dirty_.empty()) return true;
  const auto now = Clock::now();
  if (now < next_flush_) return true;
  const bool big = dirty_.size() >= kBigFlush;
  flush_all();
  if (big) next_flush_ = now + coalesce_;
  return true;
}

void Shard::flush_all() {
  // A flush that asks for another lands in the emptied dirty_, and run()
  // flushes again after the handlers then ready.
  flushing_.swap(dirty_);
  for (auto& writer : flushing_) fault::contain(fault::Where::loop, [&] { writer->flush(); }, [] {});
  flushing_.clear();
}

void Shard::watch(Ticked& ticked, std::chrono::milliseconds period) {
  if (tick_period_.count() == 0) tick_period_ = std::max(period, std::chrono::milliseconds(1));
  watched_.push_back(ticked);
  if (!ticking_) tick_later();
}

void Shard::unwatch(Ticked& ticked) {
  if (ticked.is_linked()) watched_.erase(watched_.iterator_to(ticked));
}

void Shard::tick_later() {
  ticking_ = true;
  tick_timer_.expires_after(tick_period_);
  tick_timer_.async_wait([this](boost::system::error_code error) {
    ticking_ = false;
    if (error) return;
    // A tick may unwatch the one ticked (and only that one).
    for (auto it = watched_.begin(); it != watched_.end();) (it++)->tick();
    if (!watched_.empty()) tick_later();
  });
}

Shards::Shards(unsigned count, std::chrono::microseconds coalesce) {
  for (unsigned i = 0; i < std::max(1u, count); ++i) {
    shards_.push_back(std::make_unique<Shard>(coalesce));
    // A shard with nothing to do yet must keep running until stop().
    guards_.emplace_back(shards_.back()->io().get_executor());
  }
}

Shards::~Shards() {
  for (auto& shard : shards_) shard->io_.shutdown();
}

Shard& Shards::next() noexcept { return *shards_[next_.fetch_add(1, std::memory_order_relaxed) % shards_.size()]; }

void Shards::run() {
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < shards_.size(); ++i) {
    threads.emplace_back([shard = shards_[i].get()] { shard->run(); });
  }
  main().run();
  for (auto& thread : threads) thread.join();
}

void Shards::stop() {
  for (auto& shard : shards_) shard->io().stop();
}

}  // namespace hearth
