// Room: who is in it on this node: creating, joining (with its passcode,
// address and identity checks), leaving, forgetting, and listing members.

#include <openssl/evp.h>

#include <array>
#include <boost/asio/post.hpp>
#include <span>

#include "base/fault.hpp"
#include "base/identity.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"
#include "room/passcode.hpp"
#include "room/room.hpp"
#include "room/room_parts.hpp"
#include "room/room_registry.hpp"

namespace hearth {

namespace {

namespace asio = boost::asio;

}  // namespace

using room_parts::joined_change;
using room_parts::left_change;

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
    if (state_.created_seq() != seq)
      return reply_error(caller, {v1::ROOM_EXISTS, "a room with this id exists already"});
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
  registry_.passcodes().check(id_, caller.address, caller.membership.user_id, caller.passcode,
                              state_.passcode_hash(),
                              [self = shared_from_this(), connection_id](
                                  PasscodeChecker::Verdict verdict, std::chrono::milliseconds retry_after) {
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
  engine_.forget_identity(
      id_, caller.membership.user_id, ttl, [self = shared_from_this(), caller](std::error_code error) {
        asio::post(self->strand_, [self, caller, error] {
          if (error) {
            self->reply_error(caller, {v1::UNAVAILABLE,
                                       "storage is unavailable; you are still here, and you "
                                       "may not be forgotten: try again soon"});
            return self->maybe_retire();
          }
          // The connection may have left meanwhile, or even joined again
          // as someone else: then there is nothing to leave.
          const auto it = self->members_.find(caller.connection.get());
          if (it == self->members_.end() || it->second.membership.user_id != caller.membership.user_id) {
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
    case Verdict::wrong:
      return reply_error(caller, {v1::PASSCODE_WRONG, "that is not the room's passcode"});
    case Verdict::limited:
    case Verdict::busy: {
      Failure failure{v1::RATE_LIMITED, verdict == Verdict::busy
                                            ? "the server is busy checking passcodes: try again soon"
                                            : "too many passcode attempts: wait a little"};
      failure.retry_after_ms = static_cast<std::uint32_t>(std::max<std::int64_t>(1, retry_after.count()));
      return reply_error(caller, failure);
    }
    case Verdict::unavailable:
      return reply_error(caller, {v1::UNAVAILABLE, "storage is unavailable; try again soon"});
    case Verdict::failed:
      return reply_error(caller, fault::internal_failure());
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
  if (state_.is_banned(caller.membership.user_id))
    return reply_error(caller, {v1::BANNED, "you are banned from this room"});
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
      caller.connection->send(
          encode_frame(presence_message(is_staff(caller.membership.role)), caller.encoding));
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
  if (const v1::Person* person = state_.known_person(known.user_id))
    known.display_name = person->display_name();
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
    return reply_error(caller, {v1::INVALID_ARGUMENT, "limit is at most " + std::to_string(kMaxMemberPage)});
  }
  const std::size_t limit = command.limit() == 0 ? kDefaultMemberPage : command.limit();
  v1::Ok ok;
  *ok.mutable_members() = state_.member_page(command.query(), command.after(), limit);
  if (!is_staff(caller.membership.role)) {
    for (auto& member : *ok.mutable_members()->mutable_members()) member.clear_muted();
  }
  reply_ok(caller, std::move(ok));
}

}  // namespace hearth
