#include "ws_session.hpp"

#include <google/protobuf/util/time_util.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <stdexcept>

#include "command.hpp"
#include "fault.hpp"
#include "identity.hpp"
#include "log.hpp"
#include "metrics.hpp"

namespace hearth {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
// The shard's read buffer, shared by its connections.
constexpr std::size_t kReadBytes = 64 * 1024;
// Messages handled from one connection between two flushes.
constexpr std::size_t kMessagesPerTurn = 32;
// How long a close handshake may take once the server has started it.
constexpr auto kCloseTimeout = std::chrono::seconds(10);
// How long an anonymous member's resume token lasts: from its join, and in
// all at most kAnonymousIdentityMaxLifetime from the identity's first join
// (docs/protocol.md 1.5), however often it is renewed.
constexpr auto kAnonymousIdentityLifetime = std::chrono::hours(24);
constexpr auto kAnonymousIdentityMaxLifetime = std::chrono::days(7);
// Rooms whose anonymous identities a connection keeps for rejoins.
constexpr std::size_t kRoomIdentitiesKept = 64;
constexpr auto kDefaultInviteLifetime = std::chrono::seconds(7 * 24 * 3600);
constexpr auto kMaxInviteLifetime = std::chrono::seconds(30 * 24 * 3600);
// Frames' worth of room an empty send queue may keep.
constexpr std::size_t kQueueRoomKept = 64;

Failure token_failure(std::error_code error) {
  switch (static_cast<TokenError>(error.value())) {
    case TokenError::expired: return {v1::TOKEN_EXPIRED, "the token has expired"};
    case TokenError::wrong_room: return {v1::TOKEN_WRONG_ROOM, "the token is for another room"};
    default: return {v1::TOKEN_INVALID, "the token is not valid"};
  }
}

// RATE_LIMITED, saying how long to wait.
Failure too_many_messages(std::chrono::milliseconds wait) {
  Failure failure{v1::RATE_LIMITED, "too many messages: slow down"};
  failure.retry_after_ms = static_cast<std::uint32_t>(std::max<std::int64_t>(1, wait.count()));
  return failure;
}

}  // namespace

// The upgrade: Beast's stream over the HTTP session's transport, for the
// handshake only.
struct WsSession::Upgrade {
  explicit Upgrade(Transport stream) : transport(std::move(stream)), ws(transport) {}
  Transport transport;
  websocket::stream<Transport&> ws;
  http::request<http::string_body> request;
};

WsSession::WsSession(Transport stream, ServerContext& context, std::string address, Handshake handshake)
    : stream_(std::in_place_index<0>, stream.get_executor()),
      upgrade_(std::make_unique<Upgrade>(std::move(stream))),
      reader_(context.config.limits.max_frame_bytes,
              context.config.limits.max_frame_bytes * context.config.limits.hard_frame_factor),
      context_(context),
      connection_id_(new_connection_id()),
      address_(std::move(address)),
      v1_subprotocol_(handshake.subprotocol == "hearth.v1"),
      bucket_(context.config.limits.message_rate, context.config.limits.message_burst) {
  if (handshake.claims) {
    // As a hello with this token: the identity is fixed; a hello now would
    // be a second one.
    user_id_ = handshake.claims->sub;
    display_name_ = !handshake.claims->name.empty() ? handshake.claims->name : new_pseudonym();
    claims_ = std::make_unique<Claims>(std::move(*handshake.claims));
    hello_seen_ = identified_ = true;
  }
}

WsSession::~WsSession() = default;

void WsSession::start(http::request<http::string_body> request) {
  context_.sessions.add(shared_from_this());
  auto& upgrade = *upgrade_;
  // The HTTP session's timer must not fire on the WebSocket: Beast's
  // handshake timeout, then the shard's idle tick, take over.
  upgrade.transport.tcp().expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = context_.config.handshake_timeout;
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  upgrade.ws.set_option(timeouts);
  upgrade.ws.set_option(websocket::stream_base::decorator([v1 = v1_subprotocol_](websocket::response_type& response) {
    response.set(http::field::server, "hearth");
    if (v1) response.set(http::field::sec_websocket_protocol, "hearth.v1");
  }));
  upgrade.request = std::move(request);
  upgrade.ws.async_accept(upgrade.request,
                          [self = shared_from_this()](beast::error_code error) { self->on_upgraded(error); });
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

void WsSession::on_upgraded(beast::error_code error) {
  if (error || finished_) return finish();
  auto& transport = upgrade_->transport;
  if (auto* tls = transport.tls()) {
    stream_.emplace<Transport::Tls>(std::move(*tls));
    tls_ = std::make_unique<TlsBuffers>();
  } else {
    stream_.emplace<0>(transport.tcp().release_socket());
    // flush() writes and on_read() reads without blocking.
    socket().non_blocking(true, error);
  }
  upgrade_.reset();  // the handshake's state and the request's headers
  if (error) return finish();
  upgraded_ = true;
  if (home_ != nullptr && context_.config.idle_timeout.count() > 0) {
    home_->watch(*this, std::chrono::duration_cast<std::chrono::milliseconds>(context_.config.idle_timeout) / 2);
  }
  flush();
  // Shutdown may have reached this session while it was still upgrading.
  if (context_.shutting_down.load() && !closing_) closing_ = CloseCode::going_away;
  if (closing_ && !writing_) start_close();
  read_more();
}

asio::ip::tcp::socket& WsSession::socket() noexcept {
  if (auto* tls = std::get_if<Transport::Tls>(&stream_)) return tls->next_layer().socket();
  return std::get<0>(stream_);
}

void WsSession::read_more() {
  if (auto* tls = std::get_if<Transport::Tls>(&stream_)) {
    tls->async_read_some(asio::buffer(tls_->read),
                         [self = shared_from_this()](beast::error_code error, std::size_t bytes) {
                           self->on_read(error, std::span(self->tls_->read.data(), bytes));
                         });
    return;
  }
  // Plain TCP: wait until there is something, then read it into the
  // shard's buffer (see the top of this file).
  std::get<0>(stream_).async_wait(asio::ip::tcp::socket::wait_read, [self = shared_from_this()](beast::error_code error) {
    if (error) return self->on_read(error, {});
    thread_local std::vector<char> buffer(kReadBytes);
    const std::size_t bytes = std::get<0>(self->stream_).read_some(asio::buffer(buffer), error);
    if (error == asio::error::would_block || error == asio::error::try_again) return self->read_more();
    self->on_read(error, std::span(buffer.data(), bytes));
  });
}

void WsSession::on_read(beast::error_code error, std::span<char> bytes) {
  if (finished_) return;
  if (error) {
    if (error != asio::error::eof && error != asio::error::operation_aborted) {
      log::debug("session ", connection_id_, " read ended: ", error.message());
    }
    return finish();
  }
  read_since_tick_ = true;
  if (on_bytes(bytes) && !finished_) read_more();
}

bool WsSession::on_bytes(std::span<char> bytes) {
  // A failure in our code outside any one command ends this connection,
  // with 1011, and nothing else (server/fault.hpp).
  bool more = false;
  fault::contain(fault::Where::session, [&] { more = handle_bytes(bytes); }, [&] {
    if (finished_ || failed_) return;
    fail(CloseCode::internal_error);
    more = !std::holds_alternative<Transport::Tls>(stream_);  // read on and drop, as after any failure
  });
  return more;
}

bool WsSession::handle_bytes(std::span<char> bytes) {
  const bool tls = std::holds_alternative<Transport::Tls>(stream_);
  // After a close frame either way, what comes is read (on TCP, to see
  // the peer's end, and so that our close frame is not lost to a reset) and
  // dropped: up to a hard frame's worth, then the connection is dropped.
  if (peer_closed_ || failed_) {
    discarded_ += bytes.size();
    if (discarded_ > context_.config.limits.max_frame_bytes * context_.config.limits.hard_frame_factor) {
      finish();
      return false;
    }
    return !tls;
  }
  using Kind = WsReader::Event::Kind;
  std::size_t handled = 0;
  for (;;) {
    // A client that sends many commands at once gets them handled a turn's
    // worth at a time, with a flush between (replies and events go out,
    // and the client's own replies cannot fill its queue); one whose queue
    // is half full is read no further until it has been written. The rest
    // waits here, and TCP holds back the client meanwhile.
    if (!bytes.empty() && (handled == kMessagesPerTurn || queue_.size() >= context_.config.limits.send_queue_frames / 2)) {
      pending_.assign(bytes.data(), bytes.size());
      read_paused_ = true;
      ask_flush();
      return false;
    }
    const auto event = reader_.next(bytes);
    const Encoding encoding = event.text ? Encoding::json : Encoding::binary;
    switch (event.kind) {
      case Kind::need_more: return true;
      case Kind::message:
        ++handled;
        on_frame(event.payload, encoding);
        if (parked_) {
          // Waiting for a budget: the rest waits too (budget_answered()).
          pending_.assign(bytes.data(), bytes.size());
          ask_flush();
          return false;
        }
        break;
      case Kind::too_large:
        ++handled;
        on_too_large(encoding);
        break;
      case Kind::ping:
        // Answered in turn, after what is queued; nothing after a close.
        if (!closing_) enqueue(make_ws_frame(WsOpcode::pong, event.payload));
        break;
      case Kind::pong: break;  // read_since_tick_ is what counts
      case Kind::close: on_peer_close(event.code); return !tls;
      case Kind::failed: fail(event.close_code); return !tls;
    }
    if (finished_) return false;
  }
}

void WsSession::resume_reading() {
  if (finished_ || parked_) return;
  // Handled from a copy: on_bytes() may keep a new remainder in pending_.
  std::string pending = std::exchange(pending_, {});
  if (on_bytes(std::span(pending.data(), pending.size())) && !finished_) read_more();
}

bool WsSession::spend_malformed() {
  if (!malformed_) malformed_ = std::make_unique<TokenBucket>(kMalformedRate, kMalformedBurst);
  if (!malformed_->take(Clock::now())) return true;
  log::debug("session ", connection_id_, " sent too many frames that could not be decoded: closing with 1008");
  fail(CloseCode::policy_violation);
  return false;
}

void WsSession::on_too_large(Encoding encoding) {
  if (!take_command(encoding)) return;
  if (!spend_malformed()) return;
  const std::size_t soft_limit = context_.config.limits.max_frame_bytes;
  reply(0, encoding, Failure{v1::MESSAGE_TOO_LARGE, "message is larger than " + std::to_string(soft_limit) + " bytes"});
}

void WsSession::on_peer_close(std::uint16_t code) {
  peer_closed_ = true;
  // The peer's last word: nothing more comes from it, and it may take as
  // long as the close deadline to end TCP. Its rooms learn now.
  leave_rooms();
  if (close_started_) {
    if (close_sent_) teardown();
    return;
  }
  // Answered with the same code (RFC 6455 §5.5.1), after the frame being
  // written, if any; nothing else queued goes out.
  if (!closing_) {
    closing_ = CloseCode::normal;
    peer_code_ = code;
  }
  arm_close_deadline();
  drop_unsent();
  if (!writing_) start_close();
}

void WsSession::fail(CloseCode code) {
  log::debug("session ", connection_id_, " failed: closing with ", static_cast<int>(code));
  failed_ = true;
  closing_ = code;
  arm_close_deadline();
  // A broken frame may leave nothing after it worth sending; too many
  // undecodable ones still get the replies already queued.
  if (code != CloseCode::policy_violation) drop_unsent();
  if (!writing_) start_close();
}

bool WsSession::takes_commands() const {
  // Given up on (a slow consumer), or past our close frame (RFC 6455 allows
  // no data frame after it): no more commands from it. While shutting down,
  // a frame that comes before our close frame went out is still answered.
  return !closing_ || (closing_ == CloseCode::going_away && !close_started_);
}

bool WsSession::take_command(Encoding encoding) {
  push_encoding_.store(encoding, std::memory_order_relaxed);
  if (!takes_commands()) return false;
  metrics().commands_in.fetch_add(1, std::memory_order_relaxed);
  command_ = 0;
  return true;
}

void WsSession::on_frame(std::string_view frame, Encoding encoding) {
  if (!take_command(encoding)) return;
  fault::maybe_throw(fault::Where::session, frame);
  v1::ClientMessage message;
  if (auto failure = decode_client_message(frame, encoding, message)) {
    // Each gets its error reply, up to a budget: then the connection goes.
    if (spend_malformed()) reply(0, encoding, *failure);
    return;
  }
  command_ = message.command_case();
  if (context_.shutting_down.load()) return reply_shutting_down(message.request_id(), encoding);
  // Budgets: this connection's, then its identity's over every node.
  // Leaving a room the connection is in is always allowed; any other frame
  // spends, leaves of rooms it is not in included.
  if (!message.has_leave_room() || !rooms_.contains(message.room_id())) {
    if (const auto wait = bucket_.take(Clock::now())) return reply(message.request_id(), encoding, too_many_messages(*wait));
    if (identified_) {
      const auto answer = context_.identity_budgets.take(user_id_, [self = shared_from_this()](LeasedBudgets::Wait wait) {
        self->post_home([self, wait] { self->budget_answered(wait); });
      });
      switch (answer.kind) {
        case LeasedBudgets::Answer::Kind::taken: break;
        case LeasedBudgets::Answer::Kind::refused:
          return reply(message.request_id(), encoding, too_many_messages(answer.wait));
        case LeasedBudgets::Answer::Kind::later:
          // Nothing leased here yet: one round trip to the shared budget.
          parked_ = Parked{std::move(message), encoding};
          return;
      }
    }
  }
  run_command(message, encoding);
}

void WsSession::run_command(const v1::ClientMessage& message, Encoding encoding) {
  // A failure in our code fails this command only (server/fault.hpp).
  fault::contain(fault::Where::command, [&] { dispatch(message, encoding); },
                 [&] { reply(message.request_id(), encoding, fault::internal_failure()); });
}

void WsSession::budget_answered(LeasedBudgets::Wait wait) {
  if (finished_ || !parked_) return;
  const Parked parked = std::move(*std::exchange(parked_, std::nullopt));
  command_ = parked.message.command_case();
  // Closed meanwhile: nothing more is handled or said.
  if (!takes_commands()) {
    command_ = 0;
    return resume_reading();
  }
  if (wait) reply(parked.message.request_id(), parked.encoding, too_many_messages(*wait));
  else if (context_.shutting_down.load()) reply_shutting_down(parked.message.request_id(), parked.encoding);
  else run_command(parked.message, parked.encoding);
  command_ = 0;
  resume_reading();
}

void WsSession::dispatch(const v1::ClientMessage& message, Encoding encoding) {
  using M = v1::ClientMessage;
  switch (message.command_case()) {
    case M::kHello: return on_hello(message, encoding);
    case M::kPing: {
      v1::Ok ok;
      ok.mutable_pong();
      return reply(message.request_id(), encoding, std::move(ok));
    }
    case M::kCreateRoom:
    case M::kJoinRoom: return on_create_or_join(message, encoding);
    case M::kLeaveRoom: return on_leave(message, encoding);
    case M::kForgetMe:
      return on_forget_me(message, encoding);
    case M::kCreateInvite: return on_create_invite(message, encoding);
    case M::kListMembers: return on_list_members(message, encoding);
    case M::COMMAND_NOT_SET:
      return reply(message.request_id(), encoding, Failure{v1::UNKNOWN_COMMAND, "no command, or an unknown one"});
    default: return on_room_command(message, encoding);
  }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

void WsSession::on_hello(const v1::ClientMessage& message, Encoding encoding) {
  if (hello_seen_ || identified_) {
    return reply(message.request_id(), encoding,
                 Failure{v1::ALREADY_IDENTIFIED, "hello must come once, before any join"});
  }
  const auto& hello = message.hello();
  std::string name;
  if (auto failure = clean_display_name(hello.display_name(), context_.config.limits.max_name_chars, name)) {
    return reply(message.request_id(), encoding, *failure);
  }
  if (!hello.token().empty()) {
    if (looks_like_resume(hello.token())) {
      return reply(message.request_id(), encoding,
                   Failure{v1::TOKEN_INVALID, "a resume token is for one room: send it as joinRoom.token"});
    }
    auto claims = verify_token(hello.token(), context_.config.token_secret, std::chrono::system_clock::now());
    if (!claims) return reply(message.request_id(), encoding, token_failure(claims.error()));
    user_id_ = claims->sub;
    display_name_ = !name.empty() ? name : !claims->name.empty() ? claims->name : new_pseudonym();
    claims_ = std::make_unique<Claims>(std::move(*claims));
  } else {
    user_id_ = new_anonymous_user_id();
    display_name_ = name;
  }
  hello_seen_ = identified_ = true;
  v1::Ok ok;
  auto* welcome = ok.mutable_welcome();
  // Anonymous: the connection's own id, which names it in no room (each
  // room knows it by another: RoomSnapshot.you).
  welcome->set_user_id(user_id_);
  welcome->set_display_name(!display_name_.empty() ? display_name_ : pseudonym_for(user_id_));
  welcome->set_anonymous(claims_ == nullptr);
  reply(message.request_id(), encoding, std::move(ok));
}

void WsSession::ensure_identity() {
  if (identified_) return;
  user_id_ = new_anonymous_user_id();
  display_name_.clear();
  identified_ = true;
}

std::string WsSession::resume_token_for(const std::string& room_id, const Membership& membership) const {
  if (!is_anonymous_id(membership.user_id)) return {};
  const auto now = std::chrono::system_clock::now();
  const std::int64_t until = seconds_since_epoch(now + kAnonymousIdentityLifetime);
  const std::int64_t bound =
      membership.identity_since +
      std::chrono::duration_cast<std::chrono::seconds>(kAnonymousIdentityMaxLifetime).count();
  if (bound <= seconds_since_epoch(now)) return {};  // this identity can no longer be resumed
  return mint_resume({membership.user_id, room_id, membership.identity_since, std::min(until, bound)},
                     context_.config.token_secret);
}

std::optional<Failure> WsSession::membership_for(const std::string& room_id, const std::string& token,
                                                 const std::string& display_name, Membership& out) {
  std::string name;
  if (auto failure = clean_display_name(display_name, context_.config.limits.max_name_chars, name)) return failure;
  std::optional<Claims> claims;
  if (claims_) claims = *claims_;
  if (!token.empty() && looks_like_resume(token)) {
    // An anonymous member of this room coming back as themselves.
    if (claims_ || (identified_ && !is_anonymous_id(user_id_))) {
      return Failure{v1::TOKEN_INVALID, "a resume token is for anonymous connections; this one signed in"};
    }
    auto resumed = verify_resume(token, context_.config.token_secret, std::chrono::system_clock::now());
    if (!resumed) return token_failure(resumed.error());
    if (resumed->room != room_id) return token_failure(TokenError::wrong_room);
    ensure_identity();
    out.role = v1::ROLE_PARTICIPANT;
    out.user_id = resumed->user_id;
    out.identity_since = resumed->since;
    out.resumed = true;
    out.display_name = name_in_room(name, out.user_id);
    return std::nullopt;  // kept for rejoins once the room has let it in (joined)
  }
  if (!token.empty()) {
    auto verified = verify_token(token, context_.config.token_secret, std::chrono::system_clock::now());
    if (!verified) return token_failure(verified.error());
    // A join token for another identity than the Hello one would make one
    // connection two people.
    if (identified_ && verified->sub != user_id_) {
      return Failure{v1::TOKEN_INVALID, "the token names another user than this connection's"};
    }
    claims = std::move(*verified);
  }
  if (claims) {
    // A Hello token is checked again at every join: it may have expired since.
    if (has_expired(*claims, std::chrono::system_clock::now())) return token_failure(TokenError::expired);
    if (auto error = check_room(*claims, room_id)) return token_failure(error);
    if (!identified_) {
      // The token's subject becomes the connection's identity; its role
      // stays with this room (claims_ is only ever set by Hello).
      user_id_ = claims->sub;
      display_name_ = !claims->name.empty() ? claims->name : new_pseudonym();
      identified_ = true;
    }
    out.role = claims->role;
    // A token that names this room, or says its bearer is staff, admits to
    // a private room; a generic participant token ("*") does not.
    out.admitted = claims->room == room_id || is_staff(claims->role);
    out.user_id = user_id_;
    out.display_name = name_in_room(name, out.user_id);
    return std::nullopt;
  }
  ensure_identity();
  out.role = v1::ROLE_PARTICIPANT;
  if (!is_anonymous_id(user_id_)) {
    // Named by a join token for another room: the same person here.
    out.user_id = user_id_;
    out.display_name = name_in_room(name, out.user_id);
    return std::nullopt;
  }
  // Anonymous: an identity of this room's own, so that no two rooms' hosts
  // can tie their anonymous members to one person.
  auto kept = room_identities_.find(room_id);
  if (kept == room_identities_.end()) {
    if (room_identities_.size() >= kRoomIdentitiesKept) {
      std::erase_if(room_identities_, [this](const auto& entry) { return !rooms_.contains(entry.first); });
    }
    const auto since = seconds_since_epoch(std::chrono::system_clock::now());
    // After a ForgetMe here, the connection is someone new: another input.
    const auto forgets = forgets_.find(room_id);
    const std::string base =
        forgets == forgets_.end() ? user_id_ : user_id_ + "#" + std::to_string(forgets->second);
    kept = room_identities_
               .emplace(room_id,
                        RoomIdentity{room_member_id(base, room_id, context_.config.token_secret), since})
               .first;
  }
  out.user_id = kept->second.user_id;
  out.identity_since = kept->second.since;
  out.resumed = kept->second.resumed;
  out.display_name = name_in_room(name, out.user_id);
  return std::nullopt;
}

std::string WsSession::name_in_room(const std::string& chosen, const std::string& user_id) const {
  // Named people always have a display_name_ (their token's, or a
  // pseudonym); anonymous people without a name get their room id's.
  return !chosen.empty() ? chosen : !display_name_.empty() ? display_name_ : pseudonym_for(user_id);
}

void WsSession::on_create_or_join(const v1::ClientMessage& message, Encoding encoding) {
  const bool create = message.has_create_room();
  std::string room_id = message.room_id();
  if (create && room_id.empty()) room_id = new_room_id();
  if (!valid_room_id(room_id)) {
    return reply(message.request_id(), encoding,
                 Failure{v1::INVALID_ARGUMENT, "room_id must be 1-64 characters of A-Z, a-z, 0-9, - and _"});
  }
  if (rooms_.contains(room_id)) {
    return reply(message.request_id(), encoding, Failure{v1::ALREADY_IN_ROOM, "you are in this room already"});
  }
  if (rooms_.size() >= context_.config.limits.max_rooms_per_connection) {
    return reply(message.request_id(), encoding,
                 Failure{v1::TOO_MANY_ROOMS, "this connection is in as many rooms as it may be"});
  }
  if (!context_.engine.ready()) {
    // The room's log cannot be read: say so now rather than leave the join
    // waiting for storage to come back.
    return reply(message.request_id(), encoding, Failure{v1::UNAVAILABLE, "storage is unavailable; try again soon"});
  }
  Membership membership;
  const std::string& token = create ? std::string() : message.join_room().token();
  const std::string& name = create ? std::string() : message.join_room().display_name();
  if (auto failure = membership_for(room_id, token, name, membership)) {
    return reply(message.request_id(), encoding, *failure);
  }
  if (create) membership.admitted = true;
  if (!create && !message.join_room().invite().empty()) {
    auto invited = verify_invite(message.join_room().invite(), context_.config.token_secret,
                                 std::chrono::system_clock::now());
    if (!invited) return reply(message.request_id(), encoding, token_failure(invited.error()));
    if (*invited != room_id) return reply(message.request_id(), encoding, token_failure(TokenError::wrong_room));
    membership.admitted = true;
  }
  rooms_[room_id] = RoomSlot{nullptr, membership};
  Caller caller{shared_from_this(), membership, message.request_id(), encoding};
  caller.command = message.command_case();
  // A guess, if the room turns out to want one: the room spends it from the
  // budgets every node shares (PasscodeChecker).
  if (!create && !membership.admitted) caller.passcode = message.join_room().passcode();
  // For the passcode budget, and for bans by address (AddressBans), which
  // no invite or token overrides.
  caller.address = address_;
  if (!create && message.join_room().has_resume()) caller.resume = message.join_room().resume();
  caller.resume_token = resume_token_for(room_id, membership);
  // Refused with UNAVAILABLE if the room cannot be loaded (Room::run).
  if (create) {
    context_.rooms.with_room(room_id,
                             Room::guarded(caller, [caller, command = message.create_room()](Room& room) {
                               room.create(caller, command);
                             }),
                             Room::refusal(caller));
  } else {
    context_.rooms.with_room(room_id, Room::guarded(caller, [caller](Room& room) { room.join(caller); }),
                             Room::refusal(caller));
  }
}

void WsSession::on_create_invite(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = rooms_.find(message.room_id());
  if (it == rooms_.end() || !it->second.room) {
    return reply(message.request_id(), encoding, Failure{v1::NOT_IN_ROOM, "you are not in this room"});
  }
  if (!is_staff(it->second.membership.role)) {
    return reply(message.request_id(), encoding,
                 Failure{v1::PERMISSION_DENIED, "only hosts and moderators may invite"});
  }
  const std::uint32_t asked = message.create_invite().ttl_seconds();
  if (asked > kMaxInviteLifetime.count()) {
    return reply(message.request_id(), encoding, Failure{v1::INVALID_ARGUMENT, "an invite lasts 30 days at most"});
  }
  const auto lifetime = asked == 0 ? kDefaultInviteLifetime : std::chrono::seconds(asked);
  const auto exp = seconds_since_epoch(std::chrono::system_clock::now() + lifetime);
  v1::Ok ok;
  ok.mutable_invite()->set_token(mint_invite(message.room_id(), exp, context_.config.token_secret));
  *ok.mutable_invite()->mutable_expires_at() = google::protobuf::util::TimeUtil::SecondsToTimestamp(exp);
  reply(message.request_id(), encoding, std::move(ok));
}

void WsSession::on_list_members(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = joined_room(message, encoding);
  if (it == rooms_.end()) return;
  const Caller caller = caller_in(it->second, message, encoding);
  it->second.room->run(Room::guarded(
      caller, [caller, command = message.list_members()](Room& room) { room.list_members(caller, command); }));
}

WsSession::Rooms::iterator WsSession::joined_room(const v1::ClientMessage& message,
                                                                                     Encoding encoding) {
  const auto it = rooms_.find(message.room_id());
  if (it != rooms_.end() && it->second.room) return it;
  reply(message.request_id(), encoding, Failure{v1::NOT_IN_ROOM, "you are not in this room"});
  return rooms_.end();
}

Caller WsSession::caller_in(const RoomSlot& slot, const v1::ClientMessage& message, Encoding encoding) {
  Caller caller{shared_from_this(), slot.membership, message.request_id(), encoding};
  caller.command = message.command_case();
  caller.address = address_;  // for the report budget per address (ReportMeter)
  return caller;
}

void WsSession::on_leave(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = joined_room(message, encoding);
  if (it == rooms_.end()) return;
  const Caller caller = caller_in(it->second, message, encoding);
  auto room = std::move(it->second.room);
  rooms_.erase(it);
  room->run(Room::guarded(caller, [caller](Room& r) { r.leave(caller, v1::MemberLeft::REASON_LEFT); }));
}

void WsSession::on_forget_me(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = joined_room(message, encoding);
  if (it == rooms_.end()) return;
  const Membership& membership = it->second.membership;
  if (!is_anonymous_id(membership.user_id)) {
    return reply(
        message.request_id(), encoding,
        Failure{v1::INVALID_ARGUMENT, "only an anonymous identity can be forgotten; you are signed in"});
  }
  // As long as the longest-lived of the member's tokens: minted at a join
  // before now, each lasts a day at most, and never past the bound. A
  // minute more for clocks that differ between nodes.
  const auto now = std::chrono::system_clock::now();
  const auto bound = std::chrono::system_clock::time_point(std::chrono::seconds(membership.identity_since)) +
                     kAnonymousIdentityMaxLifetime;
  const std::chrono::system_clock::duration longest = kAnonymousIdentityLifetime + std::chrono::minutes(1);
  const auto ttl = std::chrono::ceil<std::chrono::seconds>(std::min(bound - now, longest));
  // A rejoin on this connection is someone new (even if storage fails:
  // then the reply says so).
  room_identities_.erase(message.room_id());
  ++forgets_[message.room_id()];
  const Caller caller = caller_in(it->second, message, encoding);
  it->second.room->run(Room::guarded(caller, [caller, ttl](Room& room) { room.forget(caller, ttl); }));
}

void WsSession::on_room_command(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = joined_room(message, encoding);
  if (it == rooms_.end()) return;
  v1::LogEntry entry = new_entry(it->second.membership);
  if (auto failure = entry_for_command(message, entry)) return reply(message.request_id(), encoding, *failure);
  fault::maybe_throw(fault::Where::command, entry.say().text());
  if (fault::injects(fault::Where::loop, entry.say().text())) {
    asio::post(socket().get_executor(), [] { throw std::runtime_error("injected fault: loop"); });
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
  it->second.room->run(Room::guarded(caller, [caller, entry = std::move(entry)](Room& room) mutable {
    if (entry.has_erase()) room.erase(caller, std::move(entry));
    else room.submit(caller, std::move(entry));
  }));
}

// ---------------------------------------------------------------------------
// Calls from rooms (any thread)
// ---------------------------------------------------------------------------

// Everything a room hands a session goes through one queue, the home
// shard's (as FanOut's batches do), so that it arrives in the order the room
// sent it. The shard has one thread, the session's.
template <typename Fn>
void WsSession::post_home(Fn&& fn) {
  if (home_ != nullptr) return asio::post(home_->io(), std::forward<Fn>(fn));
  asio::post(socket().get_executor(), std::forward<Fn>(fn));
}

void WsSession::joined(const std::string& room_id, std::shared_ptr<Room> room, Membership membership) {
  post_home([self = shared_from_this(), room_id, room = std::move(room), membership] {
    if (self->left_rooms_) {
      // Gone while the join was on its way: leave at once.
      Caller caller{self, membership, 0, Encoding::json};
      caller.wants_reply = false;
      room->run([caller](Room& r) { r.leave(caller, v1::MemberLeft::REASON_DISCONNECTED); });
      return;
    }
    if (is_anonymous_id(membership.user_id)) {
      // It has a resume token now, which another tab may use to forget
      // it: a rejoin here looks that up, as a resume does.
      self->room_identities_[room_id] = RoomIdentity{membership.user_id, membership.identity_since, true};
    }
    self->rooms_[room_id] = RoomSlot{room, membership};
  });
}

void WsSession::join_failed(const std::string& room_id) {
  post_home([self = shared_from_this(), room_id] {
    const auto it = self->rooms_.find(room_id);
    if (it != self->rooms_.end() && !it->second.room) self->rooms_.erase(it);
  });
}

void WsSession::removed(const std::string& room_id) {
  post_home([self = shared_from_this(), room_id] { self->rooms_.erase(room_id); });
}

void WsSession::send(SharedFrame frame) {
  if (on_home_shard()) return enqueue(std::move(frame));
  post_home([self = shared_from_this(), frame = std::move(frame)]() mutable { self->enqueue(std::move(frame)); });
}

// ---------------------------------------------------------------------------
// Writing and closing (on the home shard)
// ---------------------------------------------------------------------------

void WsSession::reply(std::uint32_t request_id, Encoding encoding, v1::Ok ok) {
  enqueue(encode_frame(ok_reply(request_id, std::move(ok)), encoding));
}

void WsSession::reply(std::uint32_t request_id, Encoding encoding, const Failure& failure) {
  metrics().command_error(command_, failure.code);
  enqueue(encode_frame(error_reply(request_id, failure), encoding));
}

void WsSession::reply_shutting_down(std::uint32_t request_id, Encoding encoding) {
  // Close now if close() has not reached this session yet (it would drop a
  // reply queued before it), then queue the reply ahead of the close frame:
  // enqueue() takes nothing more once closing.
  if (!closing_) {
    closing_ = CloseCode::going_away;
    arm_close_deadline();
    drop_unsent();
  }
  // Bounded like every queue: a client that keeps sending and never reads
  // gets no more answers once its queue is full; the close follows anyway.
  if (queue_.size() >= context_.config.limits.send_queue_frames) return;
  metrics().command_error(command_, v1::SHUTTING_DOWN);
  queue_.push_back(encode_frame(error_reply(request_id, Failure{v1::SHUTTING_DOWN, "the server is shutting down"}),
                                encoding));
  if (!writing_) flush();  // then start_close(), once the queue is written
}

void WsSession::enqueue(SharedFrame frame) {
  if (closing_ || finished_) return;
  const std::size_t limit = context_.config.limits.send_queue_frames;
  // Frames owed only because this shard has not reached its flush (it was
  // stalled, or handled a burst in one turn) are not the peer's fault: write
  // what the socket takes now. What counts against the peer is what waits
  // while a write is parked on its full socket (or, on TLS, in flight).
  if (queue_.size() >= limit && !writing_) write_queued();
  if (closing_ || finished_) return;  // the write failed
  if (queue_.size() - in_flight_ >= limit) {
    log::info("session ", connection_id_, " closed: send queue full (", queue_.size(), " frames)");
    metrics().slow_consumers.fetch_add(1, std::memory_order_relaxed);
    closing_ = CloseCode::slow_consumer;
    arm_close_deadline();
    drop_unsent();
    if (!writing_) start_close();
    return;
  }
  queue_.push_back(std::move(frame));
  ask_flush();
}

void WsSession::ask_flush() {
  if (flush_asked_) return;
  flush_asked_ = true;
  if (on_home_shard()) {
    home_->flush_later(shared_from_this());
  } else {
    asio::post(socket().get_executor(), [self = shared_from_this()] { self->flush(); });
  }
}

std::size_t WsSession::gather(std::span<asio::const_buffer> out) const {
  std::size_t count = 0;
  for (auto it = queue_.begin(); it != queue_.end() && count < out.size(); ++it, ++count) {
    const std::size_t skip = count == 0 ? head_written_ : 0;
    out[count] = asio::buffer((*it)->data() + skip, (*it)->size() - skip);
  }
  return count;
}

void WsSession::consume(std::size_t written) {
  std::uint64_t delivered = 0;
  while (written > 0) {
    const std::size_t left = queue_.front()->size() - head_written_;
    if (written < left) {
      head_written_ += written;
      break;
    }
    written -= left;
    queue_.pop_front();
    head_written_ = 0;
    ++delivered;
  }
  // A queue that once grew long keeps its room otherwise.
  if (queue_.empty() && queue_.capacity() > kQueueRoomKept) queue_.shrink_to_fit();
  metrics().deliveries.fetch_add(delivered, std::memory_order_relaxed);
}

void WsSession::drop_unsent() {
  const std::size_t keep = std::max<std::size_t>(in_flight_, head_written_ > 0 ? 1 : 0);
  if (queue_.size() > keep) queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(keep), queue_.end());
}

void WsSession::write_failed() {
  queue_.clear();
  head_written_ = 0;
  finish();
}

void WsSession::flush() {
  flush_asked_ = false;
  write_queued();
}

void WsSession::write_queued() {
  if (writing_ || !upgraded_ || finished_) return;
  if (auto* tls = std::get_if<Transport::Tls>(&stream_)) {
    if (!queue_.empty()) {
      resume_if_room();  // a TLS queue may never be empty at a flush
      return write_tls(*tls);
    }
  } else {
    // Plain TCP: write straight from the shared frames, without blocking
    // (the socket is non-blocking since the upgrade). Asio writes at most 64
    // buffers at a time.
    auto& socket = std::get<0>(stream_);
    std::array<asio::const_buffer, 64> buffers;
    while (!queue_.empty()) {
      if (head_written_ == 0) metrics().send_queue_depth.observe(static_cast<double>(queue_.size()));
      const std::size_t count = gather(buffers);
      const std::size_t asked = asio::buffer_size(std::span(buffers.data(), count));
      boost::system::error_code error;
      std::size_t written = socket.write_some(std::span(buffers.data(), count), error);
      if (error == asio::error::would_block || error == asio::error::try_again) {
        written = 0;
        error = {};
      }
      if (error) return write_failed();
      consume(written);
      if (written < asked) {
        // The socket's buffer is full: wait for room.
        resume_if_room();
        writing_ = true;
        socket.async_wait(asio::ip::tcp::socket::wait_write, [self = shared_from_this()](boost::system::error_code e) {
          self->writing_ = false;
          // Closed: finish() has run, or will.
          if (e || self->finished_) return;
          self->flush();
        });
        return;
      }
    }
  }
  resume_if_room();
  if (!closing_) return;
  if (!close_started_) return start_close();
  if (!close_sent_) {
    close_sent_ = true;
    if (peer_closed_ || failed_) teardown();
  }
}

void WsSession::resume_if_room() {
  if (!read_paused_ || queue_.size() >= context_.config.limits.send_queue_frames / 2) return;
  read_paused_ = false;
  post_home([self = shared_from_this()] { self->resume_reading(); });
}

void WsSession::write_tls(Transport::Tls& tls) {
  // The TLS stream encrypts as it goes, so the frames stay queued (and
  // alive) until the write completes.
  metrics().send_queue_depth.observe(static_cast<double>(queue_.size()));
  auto& buffers = tls_->write;
  buffers.resize(64);
  in_flight_ = gather(buffers);
  buffers.resize(in_flight_);
  writing_ = true;
  asio::async_write(tls, buffers, [self = shared_from_this()](beast::error_code error, std::size_t written) {
    self->writing_ = false;
    self->in_flight_ = 0;
    if (self->finished_) return;
    if (error) return self->write_failed();
    self->consume(written);
    self->flush();
  });
}

void WsSession::close(CloseCode code) {
  asio::post(socket().get_executor(), [self = shared_from_this(), code] {
    if (self->closing_ || self->finished_) return;
    self->closing_ = code;
    if (self->upgraded_) self->arm_close_deadline();
    // start_close() does nothing until the upgrade is done; on_upgraded()
    // calls it then. A frame begun is finished first.
    self->drop_unsent();
    if (!self->writing_) self->start_close();
  });
}

void WsSession::arm_close_deadline() {
  // From the moment the close is decided, not from when its frame can be
  // written: a peer that never reads would keep the write ahead of it (and
  // so the close frame, the session and its descriptor) waiting forever,
  // and one that never answers the close would keep the connection. A slow
  // peer that does read gets its close frame within the deadline.
  if (close_timer_ || finished_) return;
  close_timer_ = std::make_unique<asio::steady_timer>(socket().get_executor(), kCloseTimeout);
  close_timer_->async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (!error) self->finish();
  });
}

void WsSession::start_close() {
  if (close_started_ || finished_ || !upgraded_) return;
  close_started_ = true;
  arm_close_deadline();
  // Our code, or the peer's echoed (none if it gave none).
  SharedFrame frame = !peer_closed_ || *closing_ != CloseCode::normal ? make_close_frame(static_cast<std::uint16_t>(*closing_))
                      : peer_code_ != 0                                 ? make_close_frame(peer_code_)
                                                                        : make_ws_frame(WsOpcode::close, {});
  queue_.push_back(std::move(frame));
  flush();
}

void WsSession::teardown() {
  if (teardown_started_ || finished_) return;
  teardown_started_ = true;
  if (auto* tls = std::get_if<Transport::Tls>(&stream_)) {
    // TLS's own close (close_notify) both ways; the close deadline holds.
    // No read is pending: reading stopped at the close frame.
    tls->async_shutdown([self = shared_from_this()](beast::error_code) { self->finish(); });
    return;
  }
  // The server ends TCP first (RFC 6455 §7.1.1); the read loop reads on
  // until the peer's end, so that nothing unread turns our end into a reset.
  boost::system::error_code ignored;
  std::get<0>(stream_).shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

void WsSession::tick() {
  if (!upgraded_ || finished_) return;
  if (read_since_tick_) {
    read_since_tick_ = false;
    pinged_ = false;
    return;
  }
  if (!pinged_) {
    pinged_ = true;
    if (!closing_) enqueue(make_ws_frame(WsOpcode::ping, {}));
    return;
  }
  log::debug("session ", connection_id_, " idle past its timeout: dropped");
  finish();
}

void WsSession::finish() {
  if (finished_) return;
  finished_ = true;
  context_.connections_per_address.remove(address_);
  if (home_ != nullptr) home_->unwatch(*this);
  drop_unsent();  // a TLS write in flight still reads its frames
  if (close_timer_) close_timer_->cancel();
  // A write may still be parked on a peer that stopped reading: closing the
  // socket ends it (and everything else pending) now.
  boost::system::error_code ignored;
  if (upgrade_) upgrade_->transport.tcp().socket().close(ignored);
  else socket().close(ignored);
  leave_rooms();
  context_.sessions.remove(this);
}

void WsSession::leave_rooms() {
  if (left_rooms_) return;
  left_rooms_ = true;
  for (auto& [room_id, slot] : rooms_) {
    if (!slot.room) continue;  // joined() sees left_rooms_ and leaves
    Caller caller{shared_from_this(), slot.membership, 0, Encoding::json};
    caller.wants_reply = false;
    slot.room->run([caller](Room& room) { room.leave(caller, v1::MemberLeft::REASON_DISCONNECTED); });
  }
  rooms_.clear();
}

}  // namespace hearth
