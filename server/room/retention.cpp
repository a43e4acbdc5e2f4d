#include "room/retention.hpp"

#include <google/protobuf/util/time_util.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <functional>
#include <random>

#include "base/log.hpp"
#include "base/metrics.hpp"
#include "domain/room_state.hpp"
#include "engine/engine_await.hpp"
#include "room/log_rewrite.hpp"

namespace hearth {
namespace {

namespace asio = boost::asio;
using google::protobuf::util::TimeUtil;

// How many times a sweep stores a room's checkpoint again after the log
// grew under it, before leaving the room to the next sweep.
constexpr int kStoreAttempts = 5;

}  // namespace

Retention::Retention(asio::any_io_executor executor, LogStore& engine, SharedBudgets& budgets, Limits limits,
                     std::uint32_t default_days, std::chrono::seconds interval)
    : engine_(engine),
      budgets_(budgets),
      limits_(limits),
      default_days_(default_days),
      interval_(interval),
      timer_(executor) {}

void Retention::start() {
  if (interval_.count() == 0) return;
  asio::co_spawn(timer_.get_executor(), [self = shared_from_this()]() { return self->run(); }, asio::detached);
}

void Retention::stop() {
  asio::post(timer_.get_executor(), [self = shared_from_this()] {
    self->stopped_ = true;
    self->timer_.cancel();
  });
}

void Retention::sweep_now(std::function<void()> done) {
  asio::co_spawn(
      timer_.get_executor(),
      [self = shared_from_this()]() -> asio::awaitable<void> { co_await self->sweep(false); },
      [done = std::move(done)](std::exception_ptr) { done(); });
}

asio::awaitable<void> Retention::run() {
  std::mt19937_64 random(std::random_device{}());
  auto wait = std::chrono::milliseconds(
      std::uniform_int_distribution<std::int64_t>(0, std::chrono::milliseconds(interval_).count())(random));
  while (!stopped_) {
    timer_.expires_after(wait);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopped_) break;
    co_await sweep(true);
    wait = interval_;
  }
}

asio::awaitable<void> Retention::sweep(bool in_turn) {
  auto [error, rooms] = co_await engine_call<std::vector<std::string>>(
      [this](auto done) { engine_.list_rooms(std::move(done)); });
  if (error) {
    log::warn("retention: cannot list rooms (storage unavailable); trying at the next sweep");
    co_return;
  }
  for (const auto& room_id : rooms) {
    if (stopped_) co_return;
    if (in_turn) {
      // This room's turn, unless another node has had it within the interval.
      auto [turn_error, wait] =
          co_await engine_call<std::optional<std::chrono::milliseconds>>([this, &room_id](auto done) {
            budgets_.take_turn("hearth:budget:sweep:{room:" + room_id + "}", interval_, std::move(done));
          });
      if (turn_error || wait) continue;
    }
    metrics().retention_reads.fetch_add(1, std::memory_order_relaxed);
    co_await trim_room(room_id);
  }
}

asio::awaitable<void> Retention::trim_room(const std::string& room_id) {
  auto [load_error, checkpoint] = co_await await_checkpoint(engine_, room_id);
  if (load_error) co_return;
  const std::uint64_t base_seq = checkpoint ? checkpoint->base_seq() : 0;
  // Most rooms have nothing old enough: no room keeps less than a day, so
  // an oldest entry younger than that ends the look before the whole log is
  // read.
  {
    auto [error, oldest] = co_await read_page(engine_, room_id, base_seq, 1);
    if (error || oldest.empty()) co_return;
    if (oldest.front().entry->at() >= TimeUtil::GetCurrentTime() - TimeUtil::SecondsToDuration(86400)) co_return;
  }
  RoomState state = checkpoint ? RoomState::from_data(room_id, limits_, checkpoint->state()) : RoomState(room_id, limits_);
  RoomState base = checkpoint ? RoomState::from_data(room_id, limits_, checkpoint->base()) : RoomState(room_id, limits_);

  // The log is read a page at a time, never held whole. First it is folded
  // to its end (entries the checkpoint's state has seen pass by): that says
  // the room's retention now, and who erased their content where.
  std::vector<std::pair<std::uint64_t, std::string>> erasures;  // seq, user id
  std::uint64_t read_to = base_seq;
  const auto fold_to_end = [&] {
    return visit_log(engine_, room_id, read_to, [&](const SequencedEntry& entry) {
      state.apply(entry.seq, *entry.entry);
      if (entry.entry->has_erase()) erasures.emplace_back(entry.seq, entry.entry->actor().user_id());
      read_to = entry.seq;
      return true;
    });
  };
  if (co_await fold_to_end() || !state.exists()) co_return;

  const std::uint32_t days = state.retention_days() ? state.retention_days() : default_days_;
  if (days == 0) co_return;
  const auto cutoff = TimeUtil::GetCurrentTime() - TimeUtil::SecondsToDuration(std::int64_t{days} * 86400);
  // Then again from the base, as far as entries are older than the
  // cut-off: the last of them is up_to, and the base is folded to it.
  std::uint64_t up_to = base_seq;
  const auto older_than_cutoff = [&](const SequencedEntry& entry) {
    if (entry.entry->at() >= cutoff) return false;
    base.apply(entry.seq, *entry.entry);
    up_to = entry.seq;
    return true;
  };
  if (co_await visit_log(engine_, room_id, base_seq, older_than_cutoff)) co_return;
  if (up_to <= base_seq) co_return;  // nothing new is old enough
  base.trim(up_to);

  v1::LogEntry trim;
  *trim.mutable_at() = TimeUtil::GetCurrentTime();
  trim.mutable_trim()->set_up_to_seq(up_to);
  *trim.mutable_trim()->mutable_before() = cutoff;
  // What was written about an item after an earlier sweep removed it from
  // view (an edit, an answer, a vote, a report, a moderator's act, written
  // after that sweep's cut-off) goes from storage now: the log is
  // rewritten with an ExpiredEntry in place of each, and the TrimEntry
  // appended, in one step. Only items at or below the stored checkpoint's
  // base: every fold from storage starts without them (from the checkpoint's
  // base or its state), and nodes that follow along applied those entries
  // a sweep ago, so the stand-in folds as the entry did everywhere. (An
  // item this sweep removes still stands in the state that entries before
  // the new TrimEntry are folded on: a pin of it moved the pin.)
  const auto about_removed = [base_seq](const v1::LogEntry& entry) {
    const std::uint64_t item = item_acted_on(entry);
    return item != 0 && item <= base_seq;
  };
  bool rewrite = false;
  if (base_seq > 0 && co_await visit_log(engine_, room_id, base_seq, [&](const SequencedEntry& entry) {
        rewrite = about_removed(*entry.entry);
        return !rewrite;
      })) {
    co_return;
  }
  bool trimmed = false;
  // With no new TrimEntry to append in the same step (one is there, its
  // checkpoint missing), the stand-ins wait for a sweep that has one.
  if (rewrite && up_to > state.trimmed_up_to()) {
    const LogRewrite plan{room_id,     state.epoch(), "", base_seq, checkpoint ? checkpoint->seq() : 0,
                          std::nullopt};
    const StandInsFor stand_ins = [&about_removed](const std::vector<SequencedEntry>& page) {
      std::vector<SequencedEntry> out;
      for (const auto& stored : page) {
        if (!about_removed(*stored.entry)) continue;
        auto expired = std::make_shared<v1::LogEntry>();
        *expired->mutable_at() = stored.entry->at();
        expired->mutable_expired();
        out.push_back(SequencedEntry{stored.seq, std::move(expired), {}});
      }
      return out;
    };
    // Named, not made in the co_await expression: GCC 12 destroys such
    // temporaries twice.
    const std::function<v1::LogEntry()> final_entry = [&trim] { return trim; };
    const std::function<bool()> gone = [this] { return stopped_; };
    auto [rewrite_error, seq] = co_await rewrite_stored_log(engine_, plan, stand_ins, final_entry, gone);
    // Else the room is trimmed all the same, and the stand-ins wait for
    // the next sweep.
    trimmed = !rewrite_error;
    if (stopped_) co_return;
    if (rewrite_error) log::warn("retention: could not rewrite a room's log (", rewrite_error.message(), ")");
  }
  if (!trimmed && up_to > state.trimmed_up_to()) {
    // A TrimEntry may already be there (a sweep that stopped before its
    // checkpoint): then only the checkpoint is missing.
    auto [append_error, seq] = co_await engine_call<std::uint64_t>(
        [this, &room_id, &state, &trim](auto done) {
          engine_.append(room_id, state.epoch(), state.seq(), std::move(trim), std::move(done));
        });
    if (append_error) co_return;  // deleted, recreated or unreachable: the next sweep sees
  }

  // The checkpoint covers the log to its end, and is stored only if the log
  // has not grown meanwhile: an erasure among the new entries must reach
  // the checkpoint too.
  for (int attempt = 1;; ++attempt) {
    if (co_await fold_to_end()) co_return;
    // The base predates every erasure after it: it holds what they erased.
    RoomState redacted = base;
    for (const auto& [seq, user_id] : erasures) {
      if (seq > up_to) redacted.redact(user_id);
    }
    v1::RoomCheckpoint next;
    next.set_seq(state.seq());
    *next.mutable_state() = state.to_data();
    next.set_base_seq(up_to);
    *next.mutable_base() = redacted.to_data();
    auto [store_error] = co_await engine_call<>([this, &room_id, &state, &next](auto done) {
      engine_.store_checkpoint(room_id, state.epoch(), std::move(next), std::move(done));
    });
    if (!store_error) break;
    if (store_error != EngineError::conflict || attempt == kStoreAttempts) co_return;
  }
  log::info("retention: trimmed a room's log up to entry ", up_to, " (", days, " days)");
}

}  // namespace hearth
