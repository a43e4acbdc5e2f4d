#include "room/room.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <set>
#include <span>

#include "base/fault.hpp"
#include "base/identity.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"
#include "domain/command.hpp"
#include "room/room_parts.hpp"
#include "room/room_registry.hpp"
#include "room/shards.hpp"

namespace hearth {
namespace {

namespace asio = boost::asio;
using room_parts::FanOut;

// Outcomes remembered for their appenders (see Room::outcomes_).
constexpr std::size_t kMaxOutcomes = 1024;

}  // namespace

Room::Room(std::string room_id, asio::any_io_executor executor, Engine& engine, RoomRegistry& registry,
           Limits limits)
    : id_(std::move(room_id)),
      strand_(asio::make_strand(executor)),
      engine_(engine),
      registry_(registry),
      state_(id_, limits),
      limits_(limits),
      patience_timer_(strand_),
      sweep_timer_(strand_),
      retry_timer_(strand_),
      flush_timer_(strand_),
      push_timer_(strand_) {}

// ---------------------------------------------------------------------------
// Following the log: the LogFollower decides (server/domain/log_follower.hpp), the
// Room subscribes, reads, loads and applies as it says.
// ---------------------------------------------------------------------------

void Room::start() {
  asio::post(strand_, [self = shared_from_this()] {
    self->engine_.subscribe(self->id_, self->weak_from_this());
    self->follow(self->follower_.start());
  });
}

void Room::follow(LogFollower::Actions actions, const v1::RoomCheckpoint* checkpoint) {
  using F = LogFollower;
  for (auto& action : actions) {
    if (retired_) return;
    // Each action fails alone, as a handler on the shard does
    // (server/base/fault.hpp): the follower has counted it done, so what comes
    // after it must still run. An entry's sequence is RoomState's before
    // anything of it can throw; a read or a load that failed to start is
    // retried as one that failed.
    if (auto* apply = std::get_if<F::Apply>(&action)) {
      fault::contain(
          fault::Where::fold, [&] { handle_entry(apply->entry); }, [] {});
    } else if (auto* read = std::get_if<F::Read>(&action)) {
      if (!fault::contain(
              fault::Where::loop, [&] { read_log(read->after); }, [] {})) {
        follow(follower_.read_failed());
      }
    } else if (std::holds_alternative<F::LoadCheckpoint>(action)) {
      if (!fault::contain(
              fault::Where::loop, [&] { load_checkpoint(); }, [] {})) {
        follow(follower_.checkpoint_failed());
      }
    } else if (std::holds_alternative<F::RetryLater>(action)) {
      retry_timer_.expires_after(std::chrono::seconds(1));
      retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code) {
        if (!self->retired_) self->follow(self->follower_.retry());
      });
    } else if (std::holds_alternative<F::AdoptCheckpoint>(action)) {
      state_ = RoomState::from_data(id_, limits_, checkpoint->state());
      history_.clear();
      history_floor_ = checkpoint->seq();
    } else if (auto* skip = std::get_if<F::Skip>(&action)) {
      log::warn(skip->why == F::Skip::Why::log_starts_later
                    ? "room log starts later than this node's state and has no checkpoint; continuing"
                    : "room log has a gap it cannot fill; continuing");
      history_floor_ = skip->to;
    } else if (std::holds_alternative<F::Ready>(action)) {
      fault::contain(
          fault::Where::loop, [&] { become_ready(); }, [] {});
    } else if (std::holds_alternative<F::Reset>(action)) {
      fell_behind();
    }
  }
}

void Room::read_log(std::uint64_t after) {
  engine_.read(
      id_, after, LogFollower::kReadPage,
      [self = shared_from_this()](std::error_code error, std::vector<SequencedEntry> entries) {
        asio::post(self->strand_, [self, error, entries = std::move(entries)]() mutable {
          if (self->retired_) return;
          if (error == EngineError::corrupt) {
            log::error("room log holds an entry this server cannot read; retrying");
          }
          self->follow(error ? self->follower_.read_failed() : self->follower_.read_done(std::move(entries)));
          // The read may have settled the last thing this Room waited for.
          self->maybe_retire();
        });
      });
}

void Room::load_checkpoint() {
  engine_.load_checkpoint(
      id_, [self = shared_from_this()](std::error_code error, std::optional<v1::RoomCheckpoint> checkpoint) {
        asio::post(self->strand_, [self, error, checkpoint = std::move(checkpoint)] {
          if (self->retired_) return;
          if (error) return self->follow(self->follower_.checkpoint_failed());
          const auto seq = checkpoint ? std::optional(checkpoint->seq()) : std::nullopt;
          self->follow(self->follower_.checkpoint_loaded(seq), checkpoint ? &*checkpoint : nullptr);
        });
      });
}

void Room::fell_behind() {
  // Members have seen events this node can no longer continue exactly.
  log::warn("room log was trimmed past this node's state; members must join again");
  // This node's own entries still waiting to be applied are in the log
  // (appended, not lost): ROOM_RESET would tell their senders that nothing
  // was written, and a retry would do it twice.
  auto appended = std::move(after_applied_);
  after_applied_.clear();
  for (auto& [seq, fn] : appended) {
    fn(seq, {Failure{v1::OUTCOME_UNKNOWN,
                     "this server fell behind the room's log; your command may have been applied: join "
                     "again and look before retrying"}});
  }
  reset(Failure{v1::ROOM_RESET, "this server fell behind the room's retention; join it again"});
}

void Room::become_ready() {
  ready_ = true;
  patience_timer_.cancel();
  schedule_sweep();
  auto waiting = std::move(waiting_);
  waiting_.clear();
  refusable_waiting_ = 0;
  for (auto& item : waiting) item.op(*this);
  maybe_retire();
}

namespace {

Failure cannot_load() {
  return {v1::UNAVAILABLE, "the room cannot be loaded from storage now; try again soon"};
}

}  // namespace

void Room::refuse_waiting() {
  // Storage that cannot be read (down, or holding an entry this server
  // cannot read) must not keep commands waiting unanswered for ever.
  const auto too_old = std::chrono::steady_clock::now() - kLoadPatience;
  std::deque<Waiting> kept;
  std::vector<Refusal> refused;
  for (auto& item : waiting_) {
    if (item.refusal && item.since <= too_old)
      refused.push_back(std::move(item.refusal));
    else
      kept.push_back(std::move(item));
  }
  waiting_ = std::move(kept);
  refusable_waiting_ -= refused.size();
  for (auto& refusal : refused) refusal(*this, cannot_load());
  arm_patience();
}

void Room::arm_patience() {
  if (ready_ || refusable_waiting_ == 0) return;
  const auto oldest =
      std::find_if(waiting_.begin(), waiting_.end(), [](const Waiting& w) { return bool(w.refusal); });
  patience_timer_.expires_at(oldest->since + kLoadPatience);
  patience_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (!error && !self->ready_ && !self->retired_) self->refuse_waiting();
  });
}

void Room::refuse(Caller caller, const Failure& failure) {
  // A join or create refused leaves the connection out of the room.
  if (caller.command == v1::ClientMessage::kJoinRoom || caller.command == v1::ClientMessage::kCreateRoom) {
    caller.joining = true;
    pending_joins_.erase(log_id(*caller.connection));
  }
  reply_error(caller, failure);
}

Room::Refusal Room::refusal(Caller caller) {
  return [caller = std::move(caller)](Room& room, const Failure& failure) { room.refuse(caller, failure); };
}

Room::Op Room::guarded(Caller caller, Op op) {
  return [caller = std::move(caller), op = std::move(op)](Room& room) mutable {
    fault::contain(
        fault::Where::room, [&] { op(room); }, [&] { room.refuse(caller, fault::internal_failure()); });
  };
}

void Room::run(Op op, Refusal refusal) {
  asio::post(strand_, [self = shared_from_this(), op = std::move(op),
                       refusal = std::move(refusal)]() mutable {
    if (self->retired_) {
      self->registry_.with_room(self->id_, std::move(op), std::move(refusal));
    } else if (!self->ready_) {
      if (refusal && self->refusable_waiting_ >= self->limits_.max_waiting_ops)
        return refusal(*self, cannot_load());
      const bool refusable = bool(refusal);
      self->waiting_.push_back(Waiting{std::move(op), std::move(refusal), std::chrono::steady_clock::now()});
      if (refusable && ++self->refusable_waiting_ == 1) self->arm_patience();
    } else {
      op(*self);
      self->maybe_retire();
    }
  });
}

// A node follows a room only while it has members of it here: the last one
// gone (and nothing in flight), the Room unsubscribes and leaves the
// registry; the next join opens a new one from the log.
void Room::maybe_retire() {
  if (!ready_ || retired_ || !members_.empty() || !pending_joins_.empty() || !join_checks_.empty() ||
      appends_in_flight_ > 0 || !after_applied_.empty() || !presence_queue_.empty() || presence_in_flight_) {
    return;
  }
  // A Left of ours that failed (storage was out) leaves the connection
  // present in the log: stay, so that the sweep writes it.
  for (const auto& connection : state_.present_connections()) {
    if (connection.node_id == engine_.node_id()) return;
  }
  retired_ = true;
  sweep_timer_.cancel();
  flush_timer_.cancel();
  push_timer_.cancel();
  follower_.stop();
  engine_.unsubscribe(id_, this);
  registry_.forget(id_, this);
}

void Room::on_entry(const std::string&, SequencedEntry entry) {
  asio::post(strand_, [self = shared_from_this(), entry = std::move(entry)]() mutable {
    if (self->retired_) return;
    if (!entry.epoch.empty() && self->state_.exists() && entry.epoch != self->state_.epoch()) {
      // The log this Room folded is gone: it was lost and created again.
      log::warn("room log changed under this node (lost and recreated); members must join again");
      return self->reset(Failure{v1::ROOM_RESET, "the room's history was lost; join it again"});
    }
    self->follow(self->follower_.live(std::move(entry)));
    // The entry may have settled the last thing this Room waited for.
    self->maybe_retire();
  });
}

void Room::on_resync(const std::string&) {
  asio::post(strand_, [self = shared_from_this()] {
    if (!self->retired_) self->follow(self->follower_.resync());
  });
}

void Room::handle_entry(const SequencedEntry& sequenced) {
  if (sequenced.seq <= state_.seq()) return;
  const v1::LogEntry& entry = *sequenced.entry;
  Applied applied;
  fault::contain(
      fault::Where::fold, [&] { applied = state_.apply(sequenced.seq, entry); },
      [&] {
        // Skipped, as on every node (the fold is the same code everywhere):
        // its sender hears INTERNAL, nobody an event.
        applied = Applied{};
        applied.refused = fault::internal_failure();
      });
  if (applied.event) {
    fan_out(applied);
    remember(applied);
  }
  if (entry.has_erase()) {
    // What was erased is not replayed to anyone: a resume from before the
    // erasure gets a fresh snapshot.
    while (!history_.empty() && history_.front().seq < sequenced.seq) history_.pop_front();
    history_floor_ = std::max(history_floor_, sequenced.seq - 1);
  }
  if (applied.event && applied.event->has_items_expired()) {
    // What retention removed is not replayed to anyone: a resume from
    // before it gets a fresh snapshot.
    const std::uint64_t up_to = applied.event->items_expired().up_to_seq();
    while (!history_.empty() && history_.front().seq <= up_to) history_.pop_front();
    history_floor_ = std::max(history_floor_, up_to);
  }
  if (entry.has_ban() && applied.event) note_ban(entry);
  if (!applied.removed_user.empty()) remove_user(applied.removed_user);
  if (entry.has_joined()) finish_join(entry.joined().connection_id());
  for (const auto& change : entry.presence().changes()) {
    if (change.has_joined()) finish_join(change.joined().connection_id());
  }
  if (applied.presence_changed) schedule_presence_push();
  if (applied.refused || applied.changed_nothing) {
    outcomes_.emplace(sequenced.seq, Outcome{std::move(applied.refused), applied.changed_nothing});
    if (outcomes_.size() > kMaxOutcomes) outcomes_.erase(outcomes_.begin());
  }
  while (!after_applied_.empty() && after_applied_.begin()->first <= sequenced.seq) {
    auto node = after_applied_.extract(after_applied_.begin());
    node.mapped()(node.key(), take_outcome(node.key()));
  }
}

Room::Outcome Room::take_outcome(std::uint64_t seq) {
  auto node = outcomes_.extract(seq);
  if (node.empty()) return {};
  return std::move(node.mapped());
}

void Room::remember(const Applied& applied) {
  history_.push_back(
      HistoryItem{applied.event->seq(), applied.event->SerializeAsString(), applied.audience,
                  applied.staff_event ? applied.staff_event->SerializeAsString() : std::string(),
                  applied.author_event ? applied.author : std::string(),
                  applied.author_event ? applied.author_event->SerializeAsString() : std::string()});
  while (history_.size() > limits_.resume_window) {
    history_floor_ = history_.front().seq;
    history_.pop_front();
  }
}

bool Room::replay(const Caller& caller, std::uint64_t from, std::uint32_t& replayed) const {
  if (from < history_floor_) return false;
  // A replay longer than half the client's send queue would close it as a
  // slow consumer (and again on every retry): a snapshot is cheaper then.
  std::size_t count = 0;
  for (const auto& item : history_) {
    if (item.seq > from &&
        RoomState::may_see(item.audience, caller.membership.user_id, caller.membership.role))
      ++count;
  }
  if (count > limits_.send_queue_frames / 2) return false;
  replayed = 0;
  v1::ServerMessage message;
  const bool staff = is_staff(caller.membership.role);
  for (const auto& item : history_) {
    if (item.seq <= from) continue;
    if (!RoomState::may_see(item.audience, caller.membership.user_id, caller.membership.role)) continue;
    const bool own = !item.author_event.empty() && item.author == caller.membership.user_id;
    // Serialized from a whole message by this process: it parses.
    message.mutable_event()->ParseFromString(own                                  ? item.author_event
                                             : staff && !item.staff_event.empty() ? item.staff_event
                                                                                  : item.event);
    caller.connection->send(encode_frame(message, caller.encoding));
    ++replayed;
  }
  return true;
}

void Room::fan_out(const Applied& applied) {
  // Encoded and framed at most once per encoding (and per variant); every
  // member gets the same frame as the others like them.
  metrics().events_out.fetch_add(1, std::memory_order_relaxed);
  const Audience& audience = applied.audience;
  // Everyone's, staff's, the anonymous author's.
  const v1::Event* events[3] = {&*applied.event, applied.staff_event ? &*applied.staff_event : nullptr,
                                applied.author_event ? &*applied.author_event : nullptr};
  SharedFrame encoded[3][2];
  FanOut fan;
  const auto deliver = [&](const LocalMember& member) {
    if (!RoomState::may_see(audience, member.membership.user_id, member.membership.role)) return;
    const int variant = events[2] && member.membership.user_id == applied.author ? 2
                        : events[1] && is_staff(member.membership.role)          ? 1
                                                                                 : 0;
    const Encoding encoding = member.connection->push_encoding();
    SharedFrame& frame = encoded[variant][static_cast<int>(encoding)];
    if (!frame) {
      v1::ServerMessage message;
      *message.mutable_event() = *events[variant];
      frame = encode_frame(message, encoding);
    }
    fan.send(member.connection, frame);
  };
  // News for staff alone (membersChanged, reports) costs the staff here,
  // not the whole room.
  if (audience.staff_only && audience.also_user.empty()) {
    for (const Connection* connection : staff_here_) deliver(members_.at(connection));
    return;
  }
  for (const auto& [key, member] : members_) deliver(member);
}

void Room::reset(const Failure& failure) {
  if (retired_) return;
  auto push = error_reply(0, failure);
  push.mutable_reply()->set_room_id(id_);
  for (auto& [key, member] : members_) {
    member.connection->send(encode_frame(push, member.connection->push_encoding()));
    member.connection->removed(id_);
  }
  members_.clear();
  staff_here_.clear();
  for (auto& [connection_id, caller] : pending_joins_) reply_error(caller, failure);
  pending_joins_.clear();
  for (auto& [connection_id, caller] : join_checks_) reply_error(caller, failure);
  join_checks_.clear();
  for (auto& queued : presence_queue_) {
    if (queued.caller && queued.caller->wants_reply && !queued.change.has_joined()) {
      reply_error(*queued.caller, failure);
    }
  }
  presence_queue_.clear();
  auto waiting = std::move(after_applied_);
  after_applied_.clear();
  for (auto& [seq, fn] : waiting) fn(seq, Outcome{failure});
  retired_ = true;
  sweep_timer_.cancel();
  retry_timer_.cancel();
  flush_timer_.cancel();
  push_timer_.cancel();
  follower_.stop();
  engine_.unsubscribe(id_, this);
  registry_.forget(id_, this);
}

void Room::abandon() {
  members_.clear();
  staff_here_.clear();
  pending_joins_.clear();
  join_checks_.clear();
  after_applied_.clear();
  waiting_.clear();
  refusable_waiting_ = 0;
  patience_timer_.cancel();
  follower_.stop();
  presence_queue_.clear();
  retired_ = true;
}

void Room::on_deleted(const std::string&) {
  asio::post(strand_, [self = shared_from_this()] {
    self->reset(Failure{v1::ROOM_NOT_FOUND, "the room was deleted"});
  });
}
void Room::when_applied(std::uint64_t seq, OnApplied fn) {
  if (state_.seq() >= seq)
    fn(seq, take_outcome(seq));
  else
    after_applied_.emplace(seq, std::move(fn));
}

void Room::reply_error(const Caller& caller, const Failure& failure) const {
  if (caller.joining) caller.connection->join_failed(id_);
  if (caller.wants_reply) metrics().command_error(caller.command, failure.code);
  caller.connection->send(encode_frame(error_reply(caller.request_id, failure), caller.encoding));
}

void Room::reply_ok(const Caller& caller, v1::Ok ok) const {
  caller.connection->send(encode_frame(ok_reply(caller.request_id, std::move(ok)), caller.encoding));
}

}  // namespace hearth
