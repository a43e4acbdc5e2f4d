#include "room/room.hpp"

#include <openssl/evp.h>

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
#include "room/passcode.hpp"
#include "room/room_registry.hpp"
#include "room/shards.hpp"

namespace hearth {
namespace {

namespace asio = boost::asio;

// A connection's arrival (on `node_id`) or departure, by `member`, as one
// change of a PresenceEntry.
v1::PresenceEntry::Change joined_change(const Membership& member, const std::string& connection_id,
                                        const std::string& node_id) {
  v1::PresenceEntry::Change change;
  *change.mutable_actor() = new_entry(member).actor();
  change.mutable_joined()->set_connection_id(connection_id);
  change.mutable_joined()->set_node_id(node_id);
  return change;
}

v1::PresenceEntry::Change left_change(const Membership& member, const std::string& connection_id,
                                      v1::MemberLeft::Reason reason) {
  v1::PresenceEntry::Change change;
  *change.mutable_actor() = new_entry(member).actor();
  change.mutable_left()->set_connection_id(connection_id);
  change.mutable_left()->set_reason(reason);
  return change;
}

// Sends frames to many members: at once to those on this thread's shard,
// and to each other shard in one post for all its members (not a post per
// member), when the FanOut ends. Posts from one thread to one shard run in
// order, so what a room sends after a FanOut (a reply) still comes after it.
class FanOut {
 public:
  FanOut() = default;
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;
  ~FanOut() {
    for (auto& [shard, frames] : away_) {
      asio::post(shard->io(), [frames = std::move(frames)]() mutable {
        for (auto& [connection, frame] : frames) connection->send(std::move(frame));
      });
    }
  }

  void send(const std::shared_ptr<Connection>& connection, const SharedFrame& frame) {
    Shard* home = connection->home();
    if (home == nullptr || home == here_) return connection->send(frame);
    for (auto& [shard, frames] : away_) {
      if (shard == home) {
        frames.emplace_back(connection, frame);
        return;
      }
    }
    away_.emplace_back(home, std::vector<std::pair<std::shared_ptr<Connection>, SharedFrame>>{{connection, frame}});
  }

 private:
  Shard* const here_ = Shard::current();
  // A few shards at most (--threads): a vector beats a map.
  std::vector<std::pair<Shard*, std::vector<std::pair<std::shared_ptr<Connection>, SharedFrame>>>> away_;
};

// Outcomes remembered for their appenders (see Room::outcomes_).
constexpr std::size_t kMaxOutcomes = 1024;
// A push costs a frame per member: a big room is pushed at most once per
// this much per person present (Limits::presence_push).
constexpr std::chrono::microseconds kPresencePushPerPerson{100};
// Changes in one PresenceEntry; more wait for the next (which then goes as
// soon as this one is appended).
constexpr std::size_t kMaxPresenceBatch = 1000;

}  // namespace

Room::Room(std::string room_id, asio::any_io_executor executor, Engine& engine, RoomRegistry& registry, Limits limits)
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
  engine_.load_checkpoint(id_, [self = shared_from_this()](std::error_code error,
                                                            std::optional<v1::RoomCheckpoint> checkpoint) {
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

Failure cannot_load() { return {v1::UNAVAILABLE, "the room cannot be loaded from storage now; try again soon"}; }

}  // namespace

void Room::refuse_waiting() {
  // Storage that cannot be read (down, or holding an entry this server
  // cannot read) must not keep commands waiting unanswered for ever.
  const auto too_old = std::chrono::steady_clock::now() - kLoadPatience;
  std::deque<Waiting> kept;
  std::vector<Refusal> refused;
  for (auto& item : waiting_) {
    if (item.refusal && item.since <= too_old) refused.push_back(std::move(item.refusal));
    else kept.push_back(std::move(item));
  }
  waiting_ = std::move(kept);
  refusable_waiting_ -= refused.size();
  for (auto& refusal : refused) refusal(*this, cannot_load());
  arm_patience();
}

void Room::arm_patience() {
  if (ready_ || refusable_waiting_ == 0) return;
  const auto oldest = std::find_if(waiting_.begin(), waiting_.end(), [](const Waiting& w) { return bool(w.refusal); });
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
  asio::post(strand_, [self = shared_from_this(), op = std::move(op), refusal = std::move(refusal)]() mutable {
    if (self->retired_) {
      self->registry_.with_room(self->id_, std::move(op), std::move(refusal));
    } else if (!self->ready_) {
      if (refusal && self->refusable_waiting_ >= self->limits_.max_waiting_ops) return refusal(*self, cannot_load());
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
  fault::contain(fault::Where::fold, [&] { applied = state_.apply(sequenced.seq, entry); }, [&] {
    // Skipped, as on every node (the fold is the same code everywhere):
    // its sender hears INTERNAL, nobody an event.
    applied = Applied{};
    applied.refused = fault::internal_failure();
  });
  if (applied.event) {
    fan_out(*applied.event, applied.audience, applied.staff_event);
    remember(*applied.event, applied.audience, applied.staff_event);
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

void Room::remember(const v1::Event& event, const Audience& audience, const std::optional<v1::Event>& staff_event) {
  history_.push_back(HistoryItem{event.seq(), event.SerializeAsString(), audience,
                                 staff_event ? staff_event->SerializeAsString() : std::string()});
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
    if (item.seq > from && RoomState::may_see(item.audience, caller.membership.user_id, caller.membership.role)) ++count;
  }
  if (count > limits_.send_queue_frames / 2) return false;
  replayed = 0;
  v1::ServerMessage message;
  const bool staff = is_staff(caller.membership.role);
  for (const auto& item : history_) {
    if (item.seq <= from) continue;
    if (!RoomState::may_see(item.audience, caller.membership.user_id, caller.membership.role)) continue;
    // Serialized from a whole message by this process: it parses.
    message.mutable_event()->ParseFromString(staff && !item.staff_event.empty() ? item.staff_event : item.event);
    caller.connection->send(encode_frame(message, caller.encoding));
    ++replayed;
  }
  return true;
}

void Room::fan_out(const v1::Event& event, const Audience& audience, const std::optional<v1::Event>& staff_event) {
  // Encoded and framed at most once per encoding (and per variant); every
  // member gets the same frame as the others like them.
  metrics().events_out.fetch_add(1, std::memory_order_relaxed);
  v1::ServerMessage message;
  *message.mutable_event() = event;
  v1::ServerMessage staff_message;
  if (staff_event) *staff_message.mutable_event() = *staff_event;
  SharedFrame encoded[2][2];
  FanOut fan;
  const auto deliver = [&](const LocalMember& member) {
    if (!RoomState::may_see(audience, member.membership.user_id, member.membership.role)) return;
    const int variant = staff_event && is_staff(member.membership.role) ? 1 : 0;
    const Encoding encoding = member.connection->push_encoding();
    SharedFrame& frame = encoded[variant][static_cast<int>(encoding)];
    if (!frame) frame = encode_frame(variant ? staff_message : message, encoding);
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

void Room::add_member(const Caller& caller) {
  members_.emplace(caller.connection.get(), LocalMember{caller.connection, caller.membership, caller.address,
                                                        log_id(*caller.connection)});
  if (is_staff(caller.membership.role)) staff_here_.insert(caller.connection.get());
  fresh_.insert(caller.connection.get());
  schedule_presence_push();
}

bool Room::remove_member(const Connection* connection) {
  staff_here_.erase(connection);
  return members_.erase(connection) > 0;
}

// A ban of an anonymous member also holds against the addresses of the
// connections this node holds for them; its lifting, by the node of the
// staff member who lifted it, lifts those marks (AddressBans).
void Room::note_ban(const v1::LogEntry& entry) {
  const auto& ban = entry.ban();
  if (!is_anonymous_id(ban.user_id())) return;
  for (const auto& [connection, member] : members_) {
    if (ban.banned() && member.membership.user_id == ban.user_id()) {
      registry_.address_bans().mark(id_, ban.user_id(), member.address);
    }
  }
  if (ban.banned()) return;
  const bool lifted_here = std::ranges::any_of(members_, [&](const auto& member) {
    return member.second.membership.user_id == entry.actor().user_id();
  });
  if (lifted_here) registry_.address_bans().lift(id_, ban.user_id());
}

void Room::remove_user(const std::string& user_id) {
  for (auto it = members_.begin(); it != members_.end();) {
    if (it->second.membership.user_id == user_id) {
      it->second.connection->removed(id_);
      staff_here_.erase(it->first);
      it = members_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

void Room::create(Caller caller, const v1::CreateRoom& command) {
  caller.joining = true;
  v1::LogEntry entry = new_entry(caller.membership);
  auto* created = entry.mutable_room_created();
  created->set_kind(command.kind());
  created->set_title(command.title());
  *created->mutable_settings() = command.settings();
  created->set_epoch(random_hex(8));
  if (!command.passcode().empty()) {
    if (auto failure = check_passcode(command.passcode())) return reply_error(caller, *failure);
    created->set_passcode_hash(hash_passcode(command.passcode()));
  }
  if (auto failure = state_.check(entry)) return reply_error(caller, *failure);
  append(caller, std::move(entry), [this, caller](std::uint64_t seq, const Outcome&) {
    // Two creators can race; the log decides who was first.
    if (state_.created_seq() != seq) return reply_error(caller, {v1::ROOM_EXISTS, "a room with this id exists already"});
    join(caller);
  });
}

// A hash of the connection's id and the room's: the logs of two rooms one
// connection joined cannot be tied together by it (docs/privacy.md), and no
// log holds an id the server's own log does. Connection ids are random
// (new_connection_id), so without them the hash gives nothing away.
std::string Room::log_id(const Connection& connection) const {
  std::string input = connection.connection_id();
  input.push_back('\0');
  input += id_;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return to_hex(std::span(digest.data(), 12));
}

void Room::join(Caller caller) {
  caller.joining = true;
  const std::string& connection_id = log_id(*caller.connection);
  if (members_.contains(caller.connection.get()) || pending_joins_.contains(connection_id) ||
      join_checks_.contains(connection_id)) {
    return reply_error(caller, {v1::ALREADY_IN_ROOM, "you are in this room already"});
  }
  v1::LogEntry entry = new_entry(caller.membership);
  entry.mutable_joined()->set_connection_id(connection_id);
  if (auto failure = state_.check(entry)) return reply_error(caller, *failure);
  // A private room admits invites, the passcode and tokens naming it; a
  // room for signed-in people admits those too, and everyone signed in.
  const bool anonymous = is_anonymous_id(caller.membership.user_id);
  if ((state_.invite_only() || (anonymous && state_.requires_sign_in())) && !caller.membership.admitted) {
    if (caller.passcode.empty() || !state_.has_passcode()) {
      return reply_error(caller, state_.invite_only()
                                     ? Failure{v1::INVITE_REQUIRED,
                                               "this room is private: join with an invite or its passcode"}
                                     : Failure{v1::SIGN_IN_REQUIRED,
                                               "this room is for people who are signed in: sign "
                                               "in, or join with an invite or its passcode"});
    }
    return check_passcode_then_join(std::move(caller));
  }
  // Nothing overrides a ban: an anonymous newcomer from an address a ban
  // holds is refused as the banned person would be.
  if (anonymous && !caller.address_checked && state_.bans_anonymous() && registry_.address_bans().enabled()) {
    return look_up_then_join(std::move(caller), JoinLookup::banned_address);
  }
  // A resume token of an identity its owner asked to forget is void on
  // every node (ForgetMe).
  if (caller.membership.resumed && !caller.identity_checked) {
    return look_up_then_join(std::move(caller), JoinLookup::forgotten_identity);
  }
  pending_joins_.emplace(connection_id, caller);
  // finish_join replies, once the batch that holds it is applied.
  queue_presence(joined_change(caller.membership, connection_id, engine_.node_id()), caller);
}

void Room::check_passcode_then_join(Caller caller) {
  // Meanwhile a second join is refused, and a leave (or a drop) takes the
  // check away, which the verdict then finds.
  const std::string connection_id = log_id(*caller.connection);
  join_checks_.emplace(connection_id, caller);
  registry_.passcodes().check(
      id_, caller.address, caller.membership.user_id, caller.passcode, state_.passcode_hash(),
      [self = shared_from_this(), connection_id](PasscodeChecker::Verdict verdict,
                                                 std::chrono::milliseconds retry_after) {
        asio::post(self->strand_, [self, connection_id, verdict, retry_after] {
          self->on_passcode_checked(connection_id, verdict, retry_after);
          self->maybe_retire();
        });
      });
}

void Room::look_up_then_join(Caller caller, JoinLookup what) {
  const std::string connection_id = log_id(*caller.connection);
  const std::string address = caller.address;
  const std::string user_id = caller.membership.user_id;
  join_checks_.emplace(connection_id, std::move(caller));
  auto answered = [self = shared_from_this(), connection_id, what](std::error_code error, bool found) {
    asio::post(self->strand_, [self, connection_id, what, error, found] {
      self->on_looked_up(connection_id, what, error, found);
      self->maybe_retire();
    });
  };
  if (what == JoinLookup::banned_address)
    return registry_.address_bans().check(id_, address, std::move(answered));
  engine_.identity_forgotten(id_, user_id, std::move(answered));
}

void Room::on_looked_up(const std::string& connection_id, JoinLookup what, std::error_code error,
                        bool found) {
  const auto it = join_checks_.find(connection_id);
  if (it == join_checks_.end()) return;  // left meanwhile (answered then), or the room was reset
  Caller caller = std::move(it->second);
  join_checks_.erase(it);
  if (error) return reply_error(caller, {v1::UNAVAILABLE, "storage is unavailable; try again soon"});
  if (what == JoinLookup::banned_address) {
    if (found) return reply_error(caller, {v1::BANNED, "you are banned from this room"});
    caller.address_checked = true;
  } else {
    if (found)
      return reply_error(caller, {v1::TOKEN_INVALID, "this identity was forgotten at its owner's request"});
    caller.identity_checked = true;
  }
  join(std::move(caller));  // checks the room again: it may have changed meanwhile
}

void Room::forget(Caller caller, std::chrono::seconds ttl) {
  engine_.forget_identity(id_, caller.membership.user_id, ttl,
                          [self = shared_from_this(), caller](std::error_code error) {
                            asio::post(self->strand_, [self, caller, error] {
                              if (error) {
                                self->reply_error(caller,
                                                  {v1::UNAVAILABLE,
                                                   "storage is unavailable; you are still here, and you "
                                                   "may not be forgotten: try again soon"});
                                return self->maybe_retire();
                              }
                              // The connection may have left meanwhile, or even joined again
                              // as someone else: then there is nothing to leave.
                              const auto it = self->members_.find(caller.connection.get());
                              if (it == self->members_.end() ||
                                  it->second.membership.user_id != caller.membership.user_id) {
                                v1::Ok ok;
                                ok.mutable_left();
                                self->reply_ok(caller, std::move(ok));
                                return self->maybe_retire();
                              }
                              caller.connection->removed(self->id_);
                              self->leave(caller, v1::MemberLeft::REASON_LEFT);
                              self->maybe_retire();
                            });
                          });
}

void Room::on_passcode_checked(const std::string& connection_id, PasscodeChecker::Verdict verdict,
                               std::chrono::milliseconds retry_after) {
  const auto it = join_checks_.find(connection_id);
  if (it == join_checks_.end()) return;  // left meanwhile (answered then), or the room was reset
  Caller caller = std::move(it->second);
  join_checks_.erase(it);
  using Verdict = PasscodeChecker::Verdict;
  switch (verdict) {
    case Verdict::match:
      caller.membership.admitted = true;
      return join(std::move(caller));  // checks the room again: it may have changed meanwhile
    case Verdict::wrong: return reply_error(caller, {v1::PASSCODE_WRONG, "that is not the room's passcode"});
    case Verdict::limited:
    case Verdict::busy: {
      Failure failure{v1::RATE_LIMITED, verdict == Verdict::busy ? "the server is busy checking passcodes: try again soon"
                                                                 : "too many passcode attempts: wait a little"};
      failure.retry_after_ms = static_cast<std::uint32_t>(std::max<std::int64_t>(1, retry_after.count()));
      return reply_error(caller, failure);
    }
    case Verdict::unavailable:
      return reply_error(caller, {v1::UNAVAILABLE, "storage is unavailable; try again soon"});
    case Verdict::failed: return reply_error(caller, fault::internal_failure());
  }
}

void Room::finish_join(const std::string& connection_id) {
  const auto it = pending_joins_.find(connection_id);
  if (it == pending_joins_.end()) return;
  Caller caller = std::move(it->second);
  pending_joins_.erase(it);
  // The entry was appended, but the fold may have refused it (a ban or the
  // close got there first).
  if (state_.closed()) return reply_error(caller, {v1::ROOM_CLOSED, "the room is closed"});
  if (state_.is_banned(caller.membership.user_id)) return reply_error(caller, {v1::BANNED, "you are banned from this room"});
  caller.joining = false;
  add_member(caller);
  caller.connection->joined(id_, caller.membership);
  v1::Ok ok;
  auto failure = v1::RESUME_FAILURE_NONE;
  if (caller.resume) {
    const auto& from = *caller.resume;
    std::uint32_t replayed = 0;
    if (from.epoch() != state_.epoch() || from.seq() > state_.seq()) {
      failure = v1::RESUME_FAILURE_EPOCH_CHANGED;
    } else if (!replay(caller, from.seq(), replayed)) {
      failure = v1::RESUME_FAILURE_TRIMMED;
    } else {
      auto* resumed = ok.mutable_resumed();
      resumed->set_room_id(id_);
      resumed->set_epoch(state_.epoch());
      resumed->set_from_seq(from.seq());
      resumed->set_seq(state_.seq());
      resumed->set_replayed(replayed);
      resumed->set_resume_token(caller.resume_token);
      reply_ok(caller, std::move(ok));
      // Presence is not replayed: who is here now.
      caller.connection->send(encode_frame(presence_message(is_staff(caller.membership.role)), caller.encoding));
      return;
    }
  }
  *ok.mutable_snapshot() = state_.snapshot_for(caller.membership.user_id, caller.membership.role);
  ok.mutable_snapshot()->set_resume_failed(failure);
  ok.mutable_snapshot()->set_resume_token(caller.resume_token);
  reply_ok(caller, std::move(ok));
}

void Room::leave(Caller caller, v1::MemberLeft::Reason reason) {
  const std::string& connection_id = log_id(*caller.connection);
  if (join_checks_.erase(connection_id) > 0) {
    // Never joined: nothing to write.
    if (caller.wants_reply) {
      v1::Ok ok;
      ok.mutable_left();
      reply_ok(caller, std::move(ok));
    }
    return;
  }
  const bool member = remove_member(caller.connection.get());
  // A join still on its way will be applied; the Left after it undoes it.
  const bool pending = pending_joins_.erase(connection_id) > 0;
  if (!member && !pending) {
    if (caller.wants_reply) reply_error(caller, {v1::NOT_IN_ROOM, "you are not in this room"});
    return;
  }
  // Under the name the room knows: none, if they erased theirs.
  Membership known = caller.membership;
  if (const v1::Person* person = state_.known_person(known.user_id)) known.display_name = person->display_name();
  queue_presence(left_change(known, connection_id, reason), caller);
}

void Room::list_members(Caller caller, const v1::ListMembers& command) {
  if (!members_.contains(caller.connection.get())) {
    return reply_error(caller, {v1::NOT_IN_ROOM, "you are not in this room"});
  }
  if (!is_staff(caller.membership.role) && !state_.lists_members()) {
    return reply_error(caller, {v1::PERMISSION_DENIED, "only hosts and moderators see who is here"});
  }
  if (command.limit() > kMaxMemberPage) {
    return reply_error(caller,
                       {v1::INVALID_ARGUMENT, "limit is at most " + std::to_string(kMaxMemberPage)});
  }
  const std::size_t limit = command.limit() == 0 ? kDefaultMemberPage : command.limit();
  v1::Ok ok;
  *ok.mutable_members() = state_.member_page(command.query(), command.after(), limit);
  if (!is_staff(caller.membership.role)) {
    for (auto& member : *ok.mutable_members()->mutable_members()) member.clear_muted();
  }
  reply_ok(caller, std::move(ok));
}

void Room::submit(Caller caller, v1::LogEntry entry) {
  fault::maybe_throw(fault::Where::room, entry.say().text());
  if (!members_.contains(caller.connection.get())) {
    return reply_error(caller, {v1::NOT_IN_ROOM, "you are not in this room"});
  }
  // The id is read before the entry is moved: arguments are evaluated in
  // no set order.
  if (const auto id = entry.delete_message().message_id();
      entry.has_delete_message() && state_.forgot_message(id)) {
    return delete_forgotten(std::move(caller), std::move(entry), id);
  }
  if (const auto id = entry.delete_question().question_id();
      entry.has_delete_question() && state_.forgot_question(id)) {
    return delete_forgotten(std::move(caller), std::move(entry), id);
  }
  if (entry.has_report() && !is_staff(entry.actor().role()))
    return meter_report(std::move(caller), std::move(entry));
  submit_checked(std::move(caller), std::move(entry));
}

void Room::meter_report(Caller caller, v1::LogEntry entry) {
  // Only a report that would count spends: not a refused one, nor the same
  // item reported again.
  if (auto failure = state_.check(entry)) return reply_error(caller, *failure);
  if (state_.changes_nothing(entry)) return submit_checked(std::move(caller), std::move(entry));
  ++appends_in_flight_;  // the Room stays while the budget answers
  const std::string user_id = entry.actor().user_id();
  registry_.reports().take(
      id_, caller.address, user_id,
      [self = shared_from_this(), caller = std::move(caller), entry = std::move(entry)](
          std::error_code error, std::optional<std::chrono::milliseconds> wait) mutable {
        asio::post(self->strand_, [self, caller = std::move(caller), entry = std::move(entry), error,
                                   wait]() mutable {
          --self->appends_in_flight_;
          if (self->retired_) {
            self->reply_error(caller, {v1::ROOM_NOT_FOUND, "the room is gone"});
          } else if (error) {
            self->reply_error(caller, {v1::UNAVAILABLE, "storage is unavailable; nothing was written"});
          } else if (!self->members_.contains(caller.connection.get())) {
            self->reply_error(caller, {v1::NOT_IN_ROOM, "you are not in this room"});
          } else if (wait) {
            Failure failure{v1::RATE_LIMITED,
                            "you have made as many reports in this room as an hour allows; the "
                            "moderators have them all"};
            failure.retry_after_ms = static_cast<std::uint32_t>(wait->count());
            self->reply_error(caller, failure);
          } else {
            self->submit_checked(std::move(caller), std::move(entry));
          }
          self->maybe_retire();
        });
      });
}

void Room::delete_forgotten(Caller caller, v1::LogEntry entry, std::uint64_t id) {
  ++appends_in_flight_;  // the Room stays while it reads
  engine_.read(id_, id - 1, 1,
               [self = shared_from_this(), caller = std::move(caller), entry = std::move(entry), id](
                   std::error_code error, std::vector<SequencedEntry> entries) mutable {
                 asio::post(self->strand_, [self, caller = std::move(caller), entry = std::move(entry), id,
                                            error, entries = std::move(entries)]() mutable {
                   --self->appends_in_flight_;
                   self->on_forgotten_read(std::move(caller), std::move(entry), id, error, entries);
                   self->maybe_retire();
                 });
               });
}

void Room::on_forgotten_read(Caller caller, v1::LogEntry entry, std::uint64_t id, std::error_code error,
                             const std::vector<SequencedEntry>& entries) {
  if (retired_) return reply_error(caller, {v1::ROOM_NOT_FOUND, "the room is gone"});
  if (error) return reply_error(caller, {v1::UNAVAILABLE, "storage is unavailable; try again soon"});
  if (!members_.contains(caller.connection.get())) {
    return reply_error(caller, {v1::NOT_IN_ROOM, "you are not in this room"});
  }
  const bool message = entry.has_delete_message();
  const v1::LogEntry* item =
      entries.empty() || entries.front().seq != id ? nullptr : entries.front().entry.get();
  if (item == nullptr || !(message ? item->has_say() : item->has_ask())) {
    return reply_error(caller, message ? Failure{v1::MESSAGE_NOT_FOUND, "no such message"}
                                       : Failure{v1::QUESTION_NOT_FOUND, "no such question"});
  }
  if (item->actor().user_id() != entry.actor().user_id() && !is_staff(entry.actor().role())) {
    return reply_error(caller, {v1::PERMISSION_DENIED, message ? "you can only delete your own messages"
                                                               : "you can only delete your own questions"});
  }
  submit_checked(std::move(caller), std::move(entry));
}

void Room::submit_checked(Caller caller, v1::LogEntry entry) {
  if (auto failure = state_.check(entry)) return reply_error(caller, *failure);
  v1::Ok ok;
  if (state_.changes_nothing(entry)) {
    // A repeated vote, say: accepted, but nothing to append (seq 0).
    ok.mutable_accepted()->set_seq(0);
    return reply_ok(caller, std::move(ok));
  }
  append(caller, std::move(entry), accept_when_applied(caller, std::move(ok)));
}

Room::OnApplied Room::accept_when_applied(Caller caller, v1::Ok ok) {
  return [this, caller = std::move(caller), ok = std::move(ok)](std::uint64_t seq, const Outcome& outcome) mutable {
    // Something that came first (a mute, a ban, a delete) made the fold
    // refuse the entry: it changed nothing, and the sender hears why.
    if (outcome.refused) return reply_error(caller, *outcome.refused);
    // An identical entry came first: accepted as a no-op is, with seq 0
    // (docs/protocol.md 1.4), whichever node took it.
    ok.mutable_accepted()->set_seq(outcome.changed_nothing ? 0 : seq);
    ok.mutable_accepted()->set_support(caller.support);
    ok.mutable_accepted()->set_support_for_helping(caller.support_for_helping);
    reply_ok(caller, std::move(ok));
  };
}

void Room::append(Caller caller, v1::LogEntry entry, OnApplied on_applied) {
  ++appends_in_flight_;
  const std::string epoch = entry.has_room_created() ? entry.room_created().epoch() : state_.epoch();
  const std::uint64_t known = entry.has_room_created() ? 0 : state_.seq();
  engine_.append(id_, epoch, known, std::move(entry), [self = shared_from_this(), caller = std::move(caller),
                                                on_applied = std::move(on_applied)](std::error_code error,
                                                                                    std::uint64_t seq) {
    asio::post(self->strand_, [self, caller, on_applied, error, seq] {
      --self->appends_in_flight_;
      self->on_appended(caller, on_applied, error, seq);
      self->maybe_retire();
    });
  });
}

void Room::on_appended(const Caller& caller, const OnApplied& on_applied, std::error_code error, std::uint64_t seq) {
  if (!error) {
    if (on_applied) when_applied(seq, on_applied);
    return;
  }
  pending_joins_.erase(log_id(*caller.connection));
  const Failure failure = append_failure(error);
  reply_error(caller, failure);
  reset_if_lost(error, failure);
}

void Room::reset_if_lost(std::error_code error, const Failure& failure) {
  if (error != EngineError::epoch_mismatch) return;
  log::warn("room log changed under this node (lost and recreated); members must join again");
  reset(failure);
}

Failure Room::append_failure(std::error_code error) {
  if (error == EngineError::room_exists) return {v1::ROOM_EXISTS, "a room with this id exists already"};
  if (error == EngineError::epoch_mismatch) return {v1::ROOM_RESET, "the room's history was lost; join it again"};
  if (error == EngineError::outcome_unknown) {
    return {v1::OUTCOME_UNKNOWN,
            "the storage connection broke after the command was sent; it may have been applied: check the "
            "room before retrying"};
  }
  return {v1::UNAVAILABLE, "storage is unavailable; nothing was written"};
}

// ---------------------------------------------------------------------------
// Presence: batched into the log, pushed to members coalesced.
// ---------------------------------------------------------------------------

void Room::queue_presence(v1::PresenceEntry::Change change, std::optional<Caller> caller) {
  presence_queue_.push_back(QueuedChange{std::move(change), std::move(caller)});
  schedule_presence_flush();
}

void Room::schedule_presence_flush() {
  if (presence_in_flight_ || flush_armed_ || presence_queue_.empty() || retired_) return;
  flush_armed_ = true;
  // A full batch goes at once; otherwise wait out the interval since the
  // last one started (no wait after a quiet while). Even a zero wait goes
  // through the timer, so that the joins already queued on the strand make
  // this batch too.
  const auto now = std::chrono::steady_clock::now();
  const auto due = presence_queue_.size() >= kMaxPresenceBatch ? now : last_flush_ + limits_.presence_batch;
  flush_timer_.expires_at(std::max(now, due));
  flush_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (error) return;
    self->flush_armed_ = false;
    self->flush_presence();
  });
}

void Room::flush_presence() {
  if (presence_in_flight_ || presence_queue_.empty() || retired_) return;
  const std::size_t count = std::min(presence_queue_.size(), kMaxPresenceBatch);
  v1::LogEntry entry = new_entry(Membership{});
  entry.clear_actor();
  std::vector<Caller> callers;
  for (std::size_t i = 0; i < count; ++i) {
    *entry.mutable_presence()->add_changes() = std::move(presence_queue_[i].change);
    if (presence_queue_[i].caller) callers.push_back(std::move(*presence_queue_[i].caller));
  }
  presence_queue_.erase(presence_queue_.begin(), presence_queue_.begin() + static_cast<std::ptrdiff_t>(count));
  // A crowd's worth of room (a Caller each) would stay with the room for
  // good: most rooms are quiet most of the time.
  if (presence_queue_.empty()) presence_queue_.shrink_to_fit();
  presence_in_flight_ = true;
  last_flush_ = std::chrono::steady_clock::now();
  ++appends_in_flight_;
  engine_.append(id_, state_.epoch(), state_.seq(), std::move(entry),
                 [self = shared_from_this(), callers = std::move(callers)](std::error_code error,
                                                                           std::uint64_t seq) mutable {
    asio::post(self->strand_, [self, callers = std::move(callers), error, seq] {
      --self->appends_in_flight_;
      self->presence_in_flight_ = false;
      self->on_presence_appended(callers, error, seq);
      self->schedule_presence_flush();
      self->maybe_retire();
    });
  });
}

void Room::on_presence_appended(const std::vector<Caller>& callers, std::error_code error, std::uint64_t seq) {
  if (!error) {
    // Joiners hear from finish_join; leavers once the batch is applied.
    for (const auto& caller : callers) {
      if (caller.joining || !caller.wants_reply) continue;
      const auto left = [this, caller](std::uint64_t, const Outcome&) {
        v1::Ok ok;
        ok.mutable_left();
        reply_ok(caller, std::move(ok));
      };
      // A room reset meanwhile applies nothing more: the leaver is out of it
      // either way.
      if (retired_) left(seq, Outcome{});
      else when_applied(seq, left);
    }
    return;
  }
  // A leave that failed leaves its connection present in the log: the
  // sweep writes it later. Nobody waits for that.
  const Failure failure = append_failure(error);
  for (const auto& caller : callers) {
    // A joiner that left meanwhile has had its answer from leave().
    if (caller.joining && pending_joins_.erase(log_id(*caller.connection)) == 0) continue;
    if (caller.wants_reply) reply_error(caller, failure);
  }
  reset_if_lost(error, failure);
}

void Room::schedule_presence_push() {
  if (push_armed_ || retired_) return;
  push_armed_ = true;
  const auto now = std::chrono::steady_clock::now();
  const auto interval = std::max<std::chrono::steady_clock::duration>(
      limits_.presence_push, kPresencePushPerPerson * state_.present());
  push_timer_.expires_at(std::max(now, last_push_ + interval));
  push_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (error) return;
    self->push_armed_ = false;
    self->push_presence();
  });
}

v1::ServerMessage Room::presence_message(bool staff) const {
  v1::ServerMessage message;
  *message.mutable_presence() = state_.presence_for(staff);
  return message;
}

void Room::push_presence() {
  if (retired_) return;
  last_push_ = std::chrono::steady_clock::now();
  // Built and framed at most once per variant and encoding; a variant that
  // says just what the last push said is not sent again (a mute changes
  // nothing that participants see, and must not tell them that it happened).
  v1::ServerMessage messages[2] = {presence_message(false), presence_message(true)};
  bool due[2];
  for (int staff = 0; staff < 2; ++staff) {
    std::string said = messages[staff].SerializeAsString();
    due[staff] = said != last_presence_[staff];
    last_presence_[staff] = std::move(said);
  }
  // Who joined since the last push gets this one whatever it says: their
  // snapshot was taken when they joined, and who is here may have changed
  // back to what the last push said since (one came, another went).
  auto fresh = std::move(fresh_);
  fresh_.clear();
  SharedFrame frames[2][2];
  FanOut fan;
  const auto deliver = [&](const LocalMember& member) {
    const int staff = is_staff(member.membership.role) ? 1 : 0;
    const Encoding encoding = member.connection->push_encoding();
    SharedFrame& frame = frames[staff][static_cast<int>(encoding)];
    if (!frame) frame = encode_frame(messages[staff], encoding);
    fan.send(member.connection, frame);
  };
  if (!due[0] && !due[1]) {
    for (const Connection* connection : fresh) {
      if (const auto it = members_.find(connection); it != members_.end()) deliver(it->second);
    }
    return;
  }
  for (const auto& [key, member] : members_) {
    if (due[is_staff(member.membership.role) ? 1 : 0] || fresh.contains(key)) deliver(member);
  }
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

void Room::schedule_sweep() {
  if (retired_) return;
  sweep_timer_.expires_after(engine_.presence_interval());
  sweep_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (!error) self->sweep();
  });
}

void Room::sweep() {
  if (retired_) return;
  schedule_sweep();
  const auto present = state_.present_connections();
  std::set<std::string> in_log;
  for (const auto& connection : present) in_log.insert(connection.connection_id);
  // Ours, here, but not present in the log: another node took this node for
  // dead (Redis was out of reach longer than the heartbeat lasts) and wrote
  // its Left. Join it again, rather than leave a member who hears the room
  // but may not speak.
  for (const auto& [key, member] : members_) {
    if (in_log.contains(member.log_id) || state_.is_banned(member.membership.user_id) || state_.closed()) {
      continue;
    }
    queue_presence(joined_change(member.membership, member.log_id, engine_.node_id()), std::nullopt);
  }
  std::set<std::string> local;
  for (const auto& [key, member] : members_) local.insert(member.log_id);
  for (const auto& [connection_id, caller] : pending_joins_) local.insert(connection_id);
  std::set<std::string> other_nodes;
  for (const auto& connection : present) {
    if (connection.node_id != engine_.node_id()) {
      other_nodes.insert(connection.node_id);
    } else if (!local.contains(connection.connection_id)) {
      // Ours, but gone without its Left (it failed during an outage, or the
      // node shut down before it was written).
      append_left(connection);
    }
  }
  if (other_nodes.empty()) return;
  engine_.dead_nodes({other_nodes.begin(), other_nodes.end()},
                     [self = shared_from_this()](std::error_code error, std::vector<std::string> dead) {
                       if (error || dead.empty()) return;  // the next sweep tries again
                       asio::post(self->strand_, [self, dead = std::move(dead)] {
                         const std::set<std::string> gone(dead.begin(), dead.end());
                         for (const auto& connection : self->state_.present_connections()) {
                           if (gone.contains(connection.node_id)) self->append_left(connection);
                         }
                       });
                     });
}

void Room::append_left(const RoomState::PresentConnection& connection) {
  // Several nodes may notice at once: the fold applies the first Left only.
  // Nobody waits for a repair: if it fails, the next sweep makes it again.
  queue_presence(left_change(connection.member, connection.connection_id, v1::MemberLeft::REASON_DISCONNECTED),
                 std::nullopt);
}

void Room::when_applied(std::uint64_t seq, OnApplied fn) {
  if (state_.seq() >= seq) fn(seq, take_outcome(seq));
  else after_applied_.emplace(seq, std::move(fn));
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
