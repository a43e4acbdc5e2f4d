// Room: presence, batched into the log and pushed to members coalesced;
// and the sweep that writes off the members of nodes that died.

#include <algorithm>
#include <boost/asio/post.hpp>
#include <set>

#include "base/log.hpp"
#include "base/metrics.hpp"
#include "room/room.hpp"
#include "room/room_parts.hpp"

namespace hearth {

namespace {

namespace asio = boost::asio;

// A push costs a frame per member: a big room is pushed at most once per
// this much per person present (Limits::presence_push).
constexpr std::chrono::microseconds kPresencePushPerPerson{100};
// Changes in one PresenceEntry; more wait for the next (which then goes as
// soon as this one is appended).
constexpr std::size_t kMaxPresenceBatch = 1000;

}  // namespace

using room_parts::FanOut;
using room_parts::joined_change;
using room_parts::left_change;

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
  presence_queue_.erase(presence_queue_.begin(),
                        presence_queue_.begin() + static_cast<std::ptrdiff_t>(count));
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

void Room::on_presence_appended(const std::vector<Caller>& callers, std::error_code error,
                                std::uint64_t seq) {
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
      if (retired_)
        left(seq, Outcome{});
      else
        when_applied(seq, left);
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
  queue_presence(
      left_change(connection.member, connection.connection_id, v1::MemberLeft::REASON_DISCONNECTED),
      std::nullopt);
}

}  // namespace hearth
