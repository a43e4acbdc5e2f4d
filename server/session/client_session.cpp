#include "session/client_session.hpp"

#include <google/protobuf/util/time_util.h>

#include <stdexcept>

#include "base/fault.hpp"
#include "base/identity.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"
#include "domain/command.hpp"
#include "net/ws_connection.hpp"

namespace hearth {
namespace {

constexpr auto kDefaultInviteLifetime = std::chrono::seconds(7 * 24 * 3600);
constexpr auto kMaxInviteLifetime = std::chrono::seconds(30 * 24 * 3600);

// RATE_LIMITED, saying how long to wait.
Failure too_many_messages(std::chrono::milliseconds wait) {
  Failure failure{v1::RATE_LIMITED, "too many messages: slow down"};
  failure.retry_after_ms = static_cast<std::uint32_t>(std::max<std::int64_t>(1, wait.count()));
  return failure;
}

}  // namespace

void ClientSession::serve(Transport stream, SessionContext& context, std::string address, Handshake handshake,
                          boost::beast::http::request<boost::beast::http::string_body> request) {
  const auto& limits = context.settings.limits;
  WsConnection::Settings settings;
  settings.max_frame_bytes = limits.max_frame_bytes;
  settings.hard_frame_bytes = limits.max_frame_bytes * limits.hard_frame_factor;
  settings.send_queue_frames = limits.send_queue_frames;
  settings.handshake_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(context.settings.handshake_timeout);
  settings.idle_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(context.settings.idle_timeout);
  settings.v1_subprotocol = handshake.v1_subprotocol;
  auto session = std::make_shared<ClientSession>(context, std::move(address), std::move(handshake.claims));
  auto wire = std::make_shared<WsConnection>(std::move(stream), settings, context.connections,
                                             session->connection_id_);
  session->attach(wire);
  wire->start(std::move(request), session);
}

ClientSession::ClientSession(SessionContext& context, std::string address, std::optional<Claims> claims)
    : context_(context),
      connection_id_(new_connection_id()),
      address_(std::move(address)),
      identity_(context.settings.token_secret, context.settings.limits.max_name_chars, std::move(claims)),
      bucket_(context.settings.limits.message_rate, context.settings.limits.message_burst) {}

// ---------------------------------------------------------------------------
// Messages from the client
// ---------------------------------------------------------------------------

bool ClientSession::take_command(Encoding encoding) {
  assert_home();
  push_encoding_.store(encoding, std::memory_order_relaxed);
  if (!wire_->takes_messages()) return false;
  metrics().commands_in.fetch_add(1, std::memory_order_relaxed);
  command_ = 0;
  return true;
}

bool ClientSession::spend_malformed() {
  if (!malformed_) malformed_ = std::make_unique<TokenBucket>(kMalformedRate, kMalformedBurst);
  if (!malformed_->take(Clock::now())) return true;
  log::debug("session ", connection_id_,
             " sent too many frames that could not be decoded: closing with 1008");
  wire_->fail(CloseCode::policy_violation);
  return false;
}

void ClientSession::on_too_large(Encoding encoding) {
  if (!take_command(encoding)) return;
  if (!spend_malformed()) return;
  const std::size_t soft_limit = context_.settings.limits.max_frame_bytes;
  reply(0, encoding,
        Failure{v1::MESSAGE_TOO_LARGE, "message is larger than " + std::to_string(soft_limit) + " bytes"});
}

bool ClientSession::on_message(std::string_view frame, Encoding encoding) {
  if (!take_command(encoding)) return true;
  fault::maybe_throw(fault::Where::session, frame);
  v1::ClientMessage message;
  if (auto failure = decode_client_message(frame, encoding, message)) {
    // Each gets its error reply, up to a budget: then the connection goes.
    if (spend_malformed()) reply(0, encoding, *failure);
    return true;
  }
  command_ = message.command_case();
  if (context_.shutting_down.load()) {
    reply_shutting_down(message.request_id(), encoding);
    return true;
  }
  // Budgets: this connection's, then its identity's over every node.
  // Leaving a room the connection is in is always allowed; any other frame
  // spends, leaves of rooms it is not in included.
  if (!message.has_leave_room() || !rooms_.contains(message.room_id())) {
    if (const auto wait = bucket_.take(Clock::now())) {
      reply(message.request_id(), encoding, too_many_messages(*wait));
      return true;
    }
    if (identity_.identified()) {
      const auto answer = context_.identity_budgets.take(
          identity_.user_id(), [self = shared_from_this()](LeasedBudgets::Wait wait) {
            self->wire_->post_home([self, wait] { self->budget_answered(wait); });
          });
      switch (answer.kind) {
        case LeasedBudgets::Answer::Kind::taken:
          break;
        case LeasedBudgets::Answer::Kind::refused:
          reply(message.request_id(), encoding, too_many_messages(answer.wait));
          return true;
        case LeasedBudgets::Answer::Kind::later:
          // Nothing leased here yet: one round trip to the shared budget,
          // and the messages after this one wait for it.
          parked_ = Parked{std::move(message), encoding};
          return false;
      }
    }
  }
  run_command(message, encoding);
  return true;
}

void ClientSession::run_command(const v1::ClientMessage& message, Encoding encoding) {
  // A failure in our code fails this command only (server/base/fault.hpp).
  fault::contain(
      fault::Where::command, [&] { dispatch(message, encoding); },
      [&] { reply(message.request_id(), encoding, fault::internal_failure()); });
}

void ClientSession::budget_answered(LeasedBudgets::Wait wait) {
  if (finished_ || !parked_) return;
  const Parked parked = std::move(*std::exchange(parked_, std::nullopt));
  command_ = parked.message.command_case();
  // Closed meanwhile: nothing more is handled or said.
  if (wire_->takes_messages()) {
    if (wait)
      reply(parked.message.request_id(), parked.encoding, too_many_messages(*wait));
    else if (context_.shutting_down.load())
      reply_shutting_down(parked.message.request_id(), parked.encoding);
    else
      run_command(parked.message, parked.encoding);
  }
  command_ = 0;
  wire_->resume_reading();
}

void ClientSession::dispatch(const v1::ClientMessage& message, Encoding encoding) {
  using M = v1::ClientMessage;
  switch (message.command_case()) {
    case M::kHello:
      return on_hello(message, encoding);
    case M::kPing: {
      v1::Ok ok;
      ok.mutable_pong();
      return reply(message.request_id(), encoding, std::move(ok));
    }
    case M::kCreateRoom:
    case M::kJoinRoom:
      return on_create_or_join(message, encoding);
    case M::kLeaveRoom:
      return on_leave(message, encoding);
    case M::kForgetMe:
      return on_forget_me(message, encoding);
    case M::kCreateInvite:
      return on_create_invite(message, encoding);
    case M::kListMembers:
      return on_list_members(message, encoding);
    case M::COMMAND_NOT_SET:
      return reply(message.request_id(), encoding,
                   Failure{v1::UNKNOWN_COMMAND, "no command, or an unknown one"});
    default:
      return on_room_command(message, encoding);
  }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

void ClientSession::on_hello(const v1::ClientMessage& message, Encoding encoding) {
  auto answer = identity_.hello(message.hello());
  if (auto* failure = std::get_if<Failure>(&answer)) return reply(message.request_id(), encoding, *failure);
  v1::Ok ok;
  *ok.mutable_welcome() = std::move(std::get<v1::Welcome>(answer));
  reply(message.request_id(), encoding, std::move(ok));
}

void ClientSession::on_create_or_join(const v1::ClientMessage& message, Encoding encoding) {
  const bool create = message.has_create_room();
  std::string room_id = message.room_id();
  if (create && room_id.empty()) room_id = new_room_id();
  if (!valid_room_id(room_id)) {
    return reply(message.request_id(), encoding,
                 Failure{v1::INVALID_ARGUMENT, "room_id must be 1-64 characters of A-Z, a-z, 0-9, - and _"});
  }
  if (rooms_.contains(room_id)) {
    return reply(message.request_id(), encoding,
                 Failure{v1::ALREADY_IN_ROOM, "you are in this room already"});
  }
  if (rooms_.size() >= context_.settings.limits.max_rooms_per_connection) {
    return reply(message.request_id(), encoding,
                 Failure{v1::TOO_MANY_ROOMS, "this connection is in as many rooms as it may be"});
  }
  if (!context_.engine.ready()) {
    // The room's log cannot be read: say so now rather than leave the join
    // waiting for storage to come back.
    return reply(message.request_id(), encoding,
                 Failure{v1::UNAVAILABLE, "storage is unavailable; try again soon"});
  }
  Membership membership;
  const std::string& token = create ? std::string() : message.join_room().token();
  const std::string& name = create ? std::string() : message.join_room().display_name();
  const auto is_in = [this](const std::string& id) { return rooms_.contains(id); };
  if (auto failure = identity_.membership_for(room_id, token, name, membership, is_in)) {
    return reply(message.request_id(), encoding, *failure);
  }
  if (create) membership.admitted = true;
  if (!create && !message.join_room().invite().empty()) {
    auto invited = verify_invite(message.join_room().invite(), context_.settings.token_secret,
                                 std::chrono::system_clock::now());
    if (!invited) return reply(message.request_id(), encoding, token_failure(invited.error()));
    if (*invited != room_id)
      return reply(message.request_id(), encoding, token_failure(TokenError::wrong_room));
    membership.admitted = true;
  }
  rooms_[room_id] = RoomSlot{membership};
  Caller caller{shared_from_this(), membership, message.request_id(), encoding};
  caller.command = message.command_case();
  // A guess, if the room turns out to want one: the room spends it from the
  // budgets every node shares (PasscodeChecker).
  if (!create && !membership.admitted) caller.passcode = message.join_room().passcode();
  // For the passcode budget, and for bans by address (AddressBans), which
  // no invite or token overrides.
  caller.address = address_;
  if (!create && message.join_room().has_resume()) caller.resume = message.join_room().resume();
  caller.resume_token = identity_.resume_token_for(room_id, membership);
  // Refused with UNAVAILABLE if the room cannot be loaded (Room::run).
  if (create) {
    in_room(room_id,
            Room::guarded(caller, [caller, command = message.create_room()](
                                      Room& room) { room.create(caller, command); }),
            Room::refusal(caller));
  } else {
    in_room(room_id, Room::guarded(caller, [caller](Room& room) { room.join(caller); }),
            Room::refusal(caller));
  }
}

void ClientSession::on_create_invite(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = joined_room(message, encoding);
  if (it == rooms_.end()) return;
  if (!is_staff(it->second.membership.role)) {
    return reply(message.request_id(), encoding,
                 Failure{v1::PERMISSION_DENIED, "only hosts and moderators may invite"});
  }
  const std::uint32_t asked = message.create_invite().ttl_seconds();
  if (asked > kMaxInviteLifetime.count()) {
    return reply(message.request_id(), encoding,
                 Failure{v1::INVALID_ARGUMENT, "an invite lasts 30 days at most"});
  }
  const auto lifetime = asked == 0 ? kDefaultInviteLifetime : std::chrono::seconds(asked);
  const auto exp = seconds_since_epoch(std::chrono::system_clock::now() + lifetime);
  v1::Ok ok;
  ok.mutable_invite()->set_token(mint_invite(message.room_id(), exp, context_.settings.token_secret));
  *ok.mutable_invite()->mutable_expires_at() = google::protobuf::util::TimeUtil::SecondsToTimestamp(exp);
  reply(message.request_id(), encoding, std::move(ok));
}

void ClientSession::on_list_members(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = joined_room(message, encoding);
  if (it == rooms_.end()) return;
  const Caller caller = caller_in(it->second, message, encoding);
  in_room(it->first, Room::guarded(caller, [caller, command = message.list_members()](Room& room) {
            room.list_members(caller, command);
          }));
}

ClientSession::Rooms::iterator ClientSession::joined_room(const v1::ClientMessage& message,
                                                          Encoding encoding) {
  const auto it = rooms_.find(message.room_id());
  if (it != rooms_.end() && it->second.joined) return it;
  reply(message.request_id(), encoding, Failure{v1::NOT_IN_ROOM, "you are not in this room"});
  return rooms_.end();
}

Caller ClientSession::caller_in(const RoomSlot& slot, const v1::ClientMessage& message, Encoding encoding) {
  Caller caller{shared_from_this(), slot.membership, message.request_id(), encoding};
  caller.command = message.command_case();
  caller.address = address_;  // for the report budget per address (ReportMeter)
  return caller;
}

void ClientSession::in_room(const std::string& room_id, Room::Op op, Room::Refusal refusal) {
  context_.rooms.with_room(room_id, std::move(op), std::move(refusal));
}

void ClientSession::on_leave(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = joined_room(message, encoding);
  if (it == rooms_.end()) return;
  const Caller caller = caller_in(it->second, message, encoding);
  const std::string room_id = it->first;
  rooms_.erase(it);
  in_room(room_id,
          Room::guarded(caller, [caller](Room& r) { r.leave(caller, v1::MemberLeft::REASON_LEFT); }));
}

void ClientSession::on_forget_me(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = joined_room(message, encoding);
  if (it == rooms_.end()) return;
  const Membership& membership = it->second.membership;
  if (!is_anonymous_id(membership.user_id)) {
    return reply(
        message.request_id(), encoding,
        Failure{v1::INVALID_ARGUMENT, "only an anonymous identity can be forgotten; you are signed in"});
  }
  const auto ttl = ClientIdentity::forget_for(membership, std::chrono::system_clock::now());
  // A rejoin on this connection is someone new (even if storage fails:
  // then the reply says so).
  identity_.forget(message.room_id());
  const Caller caller = caller_in(it->second, message, encoding);
  in_room(it->first, Room::guarded(caller, [caller, ttl](Room& room) { room.forget(caller, ttl); }));
}

void ClientSession::on_room_command(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = joined_room(message, encoding);
  if (it == rooms_.end()) return;
  v1::LogEntry entry = new_entry(it->second.membership);
  if (auto failure = entry_for_command(message, entry))
    return reply(message.request_id(), encoding, *failure);
  fault::maybe_throw(fault::Where::command, entry.say().text());
  if (fault::injects(fault::Where::loop, entry.say().text())) {
    wire_->post_home([] { throw std::runtime_error("injected fault: loop"); });
  }
  Caller caller = caller_in(it->second, message, encoding);
  // Words that suggest someone may be in danger: the entry carries the flag
  // (the room's policy and its staff act on it), and the writer gets words
  // of support with the reply.
  const std::shared_ptr<const CrisisLane> crisis = context_.crisis.load();
  const CrisisOutcome outcome = flag_crisis(entry, crisis->rules);
  caller.support = crisis->shown(outcome);
  caller.support_for_helping = outcome == CrisisOutcome::about && !caller.support.empty();
  if (outcome == CrisisOutcome::crisis) note_support_shown(entry, caller.support);
  in_room(it->first, Room::guarded(caller, [caller, entry = std::move(entry)](Room& room) mutable {
            if (entry.has_erase())
              room.erase(caller, std::move(entry));
            else
              room.submit(caller, std::move(entry));
          }));
}

void ClientSession::reply(std::uint32_t request_id, Encoding encoding, v1::Ok ok) {
  wire_->send(encode_frame(ok_reply(request_id, std::move(ok)), encoding));
}

void ClientSession::reply(std::uint32_t request_id, Encoding encoding, const Failure& failure) {
  metrics().command_error(command_, failure.code);
  wire_->send(encode_frame(error_reply(request_id, failure), encoding));
}

void ClientSession::reply_shutting_down(std::uint32_t request_id, Encoding encoding) {
  // Counted only if it goes out (the queue may be full).
  if (wire_->send_last(encode_frame(
          error_reply(request_id, Failure{v1::SHUTTING_DOWN, "the server is shutting down"}), encoding))) {
    metrics().command_error(command_, v1::SHUTTING_DOWN);
  }
}

// ---------------------------------------------------------------------------
// Calls from rooms (any thread): each goes through the home shard's queue,
// as the frames rooms send do, so that it arrives in the order sent.
// ---------------------------------------------------------------------------

void ClientSession::joined(const std::string& room_id, Membership membership) {
  wire_->post_home([self = shared_from_this(), room_id, membership] {
    if (self->left_rooms_) {
      // Gone while the join was on its way: leave at once.
      Caller caller{self, membership, 0, Encoding::json};
      caller.wants_reply = false;
      self->in_room(room_id, [caller](Room& r) { r.leave(caller, v1::MemberLeft::REASON_DISCONNECTED); });
      return;
    }
    self->identity_.joined(room_id, membership);
    self->rooms_[room_id] = RoomSlot{membership, true};
  });
}

void ClientSession::join_failed(const std::string& room_id) {
  wire_->post_home([self = shared_from_this(), room_id] {
    const auto it = self->rooms_.find(room_id);
    if (it != self->rooms_.end() && !it->second.joined) self->rooms_.erase(it);
  });
}

void ClientSession::removed(const std::string& room_id) {
  wire_->post_home([self = shared_from_this(), room_id] { self->rooms_.erase(room_id); });
}

// ---------------------------------------------------------------------------
// The end
// ---------------------------------------------------------------------------

void ClientSession::on_finished() {
  finished_ = true;
  context_.connections_per_address.remove(address_);
  leave_rooms();
}

void ClientSession::leave_rooms() {
  if (left_rooms_) return;
  left_rooms_ = true;
  for (auto& [room_id, slot] : rooms_) {
    if (!slot.joined) continue;  // joined() sees left_rooms_ and leaves
    Caller caller{shared_from_this(), slot.membership, 0, Encoding::json};
    caller.wants_reply = false;
    in_room(room_id, [caller](Room& room) { room.leave(caller, v1::MemberLeft::REASON_DISCONNECTED); });
  }
  rooms_.clear();
}

}  // namespace hearth
