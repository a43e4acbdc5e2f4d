#include "ws_session.hpp"

#include <google/protobuf/util/time_util.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/version.hpp>

#include "command.hpp"
#include "identity.hpp"
#include "log.hpp"
#include "metrics.hpp"

namespace hearth {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// How long a close handshake may take once the server has started it.
constexpr auto kCloseTimeout = std::chrono::seconds(10);
// How long an anonymous identity can be resumed after its Welcome.
constexpr auto kAnonymousIdentityLifetime = std::chrono::hours(24);
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

// Spends a token of `own` and, when `key` is given, one of `shared`'s bucket
// for it: RATE_LIMITED, with how long to wait, if either has none left.
std::optional<Failure> spend(TokenBucket& own, KeyedBuckets& shared, const std::string* key, std::string message) {
  const auto now = Clock::now();
  auto wait = own.take(now);
  if (!wait && key != nullptr) wait = shared.take(*key, now);
  if (!wait) return std::nullopt;
  Failure failure{v1::RATE_LIMITED, std::move(message)};
  failure.retry_after_ms = static_cast<std::uint32_t>(std::max<std::int64_t>(1, wait->count()));
  return failure;
}

}  // namespace

WsSession::WsSession(Transport stream, ServerContext& context, std::string address, Handshake handshake)
    : ws_(std::move(stream)),
      close_timer_(ws_.get_executor()),
      context_(context),
      connection_id_(new_connection_id()),
      address_(std::move(address)),
      subprotocol_(std::move(handshake.subprotocol)),
      bucket_(context.config.limits.message_rate, context.config.limits.message_burst),
      passcode_bucket_(kPasscodeRate, kPasscodeBurst) {
  if (handshake.claims) {
    // As a hello with this token: the identity is fixed; a hello now would
    // be a second one.
    user_id_ = handshake.claims->sub;
    display_name_ = !handshake.claims->name.empty() ? handshake.claims->name : new_pseudonym();
    if (!handshake.claims->anonymous) claims_ = std::move(handshake.claims);
    hello_seen_ = identified_ = true;
  }
}

void WsSession::start(http::request<http::string_body> request) {
  context_.sessions.add(shared_from_this());
  ws_.next_layer().on_control_done([weak = weak_from_this()] {
    if (auto self = weak.lock()) self->flush();
  });
  asio::co_spawn(ws_.get_executor(), run(std::move(request)), [self = shared_from_this()](std::exception_ptr error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        log::error("session ", self->connection_id_, " failed: ", e.what());
      }
    }
    self->finish();
  });
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

asio::awaitable<void> WsSession::run(http::request<http::string_body> request) {
  // The HTTP session's timer must not fire on the WebSocket: the stream's own
  // timeouts (handshake, idle with pings) take over.
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = context_.config.handshake_timeout;
  timeouts.idle_timeout = context_.config.idle_timeout;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator([subprotocol = subprotocol_](websocket::response_type& response) {
    response.set(http::field::server, "hearth");
    if (!subprotocol.empty()) response.set(http::field::sec_websocket_protocol, subprotocol);
  }));
  const auto& limits = context_.config.limits;
  // Above the hard limit Beast closes with 1009; between the soft and the
  // hard limit read_loop drains the frame and answers MESSAGE_TOO_LARGE.
  ws_.read_message_max(limits.max_frame_bytes * limits.hard_frame_factor);

  auto [error] = co_await ws_.async_accept(request, use_tuple);
  if (error) co_return;
  request = {};  // its headers would stay for the whole connection
  if (!ws_.next_layer().tls()) {
    // flush() writes without blocking and waits for room only when it must.
    beast::get_lowest_layer(ws_).socket().non_blocking(true, error);
    if (error) co_return;
  }
  upgraded_ = true;
  flush();
  // Shutdown may have reached this session while it was still upgrading.
  if (context_.shutting_down.load() && !closing_) closing_ = CloseCode::going_away;
  if (closing_ && !writing_) start_close();
  co_await read_loop();
}

asio::awaitable<void> WsSession::read_loop() {
  const std::size_t soft_limit = context_.config.limits.max_frame_bytes;
  beast::flat_buffer buffer;
  for (;;) {
    buffer.clear();
    bool too_large = false;
    do {
      auto [error, bytes] = co_await ws_.async_read_some(buffer, soft_limit + 1, use_tuple);
      if (error) {
        if (error != websocket::error::closed) log::debug("session ", connection_id_, " read ended: ", error.message());
        co_return;
      }
      if (buffer.size() > soft_limit) {
        too_large = true;
        buffer.clear();  // drain: keep reading the rest of the message, keep none of it
      }
    } while (!ws_.is_message_done());

    const Encoding encoding = ws_.got_text() ? Encoding::json : Encoding::binary;
    push_encoding_.store(encoding, std::memory_order_relaxed);
    if (too_large) {
      metrics().commands_in.fetch_add(1, std::memory_order_relaxed);
      command_ = 0;
      reply(0, encoding,
            Failure{v1::MESSAGE_TOO_LARGE, "message is larger than " + std::to_string(soft_limit) + " bytes"});
      continue;
    }
    const auto data = buffer.cdata();
    on_frame(std::string_view(static_cast<const char*>(data.data()), data.size()), encoding);
  }
}

void WsSession::on_frame(std::string_view frame, Encoding encoding) {
  // Given up on (a slow consumer), or past our close frame (RFC 6455 allows
  // no data frame after it): no more commands from it. While shutting down,
  // a frame that comes before our close frame went out is still answered.
  if (closing_ && (closing_ != CloseCode::going_away || close_started_)) return;
  metrics().commands_in.fetch_add(1, std::memory_order_relaxed);
  v1::ClientMessage message;
  command_ = 0;
  if (auto failure = decode_client_message(frame, encoding, message)) return reply(0, encoding, *failure);
  command_ = message.command_case();
  if (context_.shutting_down.load()) return reply_shutting_down(message.request_id(), encoding);
  // Budgets: this connection's, then its identity's on this node. Leaving
  // is always allowed.
  if (!message.has_leave_room()) {
    if (auto limited = spend(bucket_, context_.identity_buckets, identified_ ? &user_id_ : nullptr,
                             "too many messages: slow down")) {
      return reply(message.request_id(), encoding, *limited);
    }
  }
  dispatch(message, encoding);
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
    auto claims = verify_token(hello.token(), context_.config.token_secret, std::chrono::system_clock::now());
    if (!claims) return reply(message.request_id(), encoding, token_failure(claims.error()));
    user_id_ = claims->sub;
    display_name_ = !name.empty() ? name : !claims->name.empty() ? claims->name : new_pseudonym();
    // An anonymous identity coming back stays anonymous: no claims to hold.
    if (!claims->anonymous) claims_ = std::move(*claims);
  } else {
    user_id_ = new_anonymous_user_id();
    display_name_ = name.empty() ? new_pseudonym() : name;
  }
  hello_seen_ = identified_ = true;
  v1::Ok ok;
  auto* welcome = ok.mutable_welcome();
  welcome->set_user_id(user_id_);
  welcome->set_display_name(display_name_);
  welcome->set_anonymous(!claims_.has_value());
  if (!claims_) {
    // Lets this person come back as themselves (same votes, same questions)
    // after a lost connection: hello with this token.
    Claims anonymous;
    anonymous.sub = user_id_;
    anonymous.name = display_name_;
    anonymous.room = "*";
    anonymous.anonymous = true;
    anonymous.exp = seconds_since_epoch(std::chrono::system_clock::now() + kAnonymousIdentityLifetime);
    welcome->set_resume_token(mint_token(anonymous, context_.config.token_secret));
  }
  reply(message.request_id(), encoding, std::move(ok));
}

void WsSession::ensure_identity() {
  if (identified_) return;
  user_id_ = new_anonymous_user_id();
  display_name_ = new_pseudonym();
  identified_ = true;
}

std::optional<Failure> WsSession::membership_for(const std::string& room_id, const std::string& token,
                                                 const std::string& display_name, Membership& out) {
  std::string name;
  if (auto failure = clean_display_name(display_name, context_.config.limits.max_name_chars, name)) return failure;
  std::optional<Claims> claims = claims_;
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
  } else {
    ensure_identity();
    out.role = v1::ROLE_PARTICIPANT;
  }
  out.user_id = user_id_;
  out.display_name = name.empty() ? display_name_ : name;
  return std::nullopt;
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
  std::string passcode;
  if (!create && !message.join_room().passcode().empty() && !membership.admitted) {
    // Guessing is slow: a few tries, then one every 12 seconds, per
    // connection and per identity.
    if (auto limited = spend(passcode_bucket_, context_.passcode_buckets, &user_id_,
                             "too many passcode attempts: wait a little")) {
      return reply(message.request_id(), encoding, *limited);
    }
    passcode = message.join_room().passcode();
  }
  rooms_[room_id] = RoomSlot{nullptr, membership};
  Caller caller{shared_from_this(), membership, message.request_id(), encoding};
  caller.command = message.command_case();
  caller.passcode = std::move(passcode);
  if (!create && message.join_room().has_resume()) caller.resume = message.join_room().resume();
  if (create) {
    context_.rooms.with_room(room_id, [caller, command = message.create_room()](Room& room) {
      room.create(caller, command);
    });
  } else {
    context_.rooms.with_room(room_id, [caller](Room& room) { room.join(caller); });
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
  it->second.room->run([caller, command = message.list_members()](Room& room) { room.list_members(caller, command); });
}

std::unordered_map<std::string, WsSession::RoomSlot>::iterator WsSession::joined_room(const v1::ClientMessage& message,
                                                                                     Encoding encoding) {
  const auto it = rooms_.find(message.room_id());
  if (it != rooms_.end() && it->second.room) return it;
  reply(message.request_id(), encoding, Failure{v1::NOT_IN_ROOM, "you are not in this room"});
  return rooms_.end();
}

Caller WsSession::caller_in(const RoomSlot& slot, const v1::ClientMessage& message, Encoding encoding) {
  Caller caller{shared_from_this(), slot.membership, message.request_id(), encoding};
  caller.command = message.command_case();
  return caller;
}

void WsSession::on_leave(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = joined_room(message, encoding);
  if (it == rooms_.end()) return;
  const Caller caller = caller_in(it->second, message, encoding);
  auto room = std::move(it->second.room);
  rooms_.erase(it);
  room->run([caller](Room& r) { r.leave(caller, v1::MemberLeft::REASON_LEFT); });
}

void WsSession::on_room_command(const v1::ClientMessage& message, Encoding encoding) {
  const auto it = joined_room(message, encoding);
  if (it == rooms_.end()) return;
  v1::LogEntry entry = new_entry(it->second.membership);
  if (auto failure = entry_for_command(message, entry)) return reply(message.request_id(), encoding, *failure);
  Caller caller = caller_in(it->second, message, encoding);
  // Words that suggest someone may be in danger: the entry carries the flag
  // (the room's policy and its staff act on it), and the writer gets words
  // of support with the reply.
  if (flag_crisis(entry, context_.crisis)) caller.support = context_.crisis_resources;
  it->second.room->run([caller, entry = std::move(entry)](Room& room) mutable {
    if (entry.has_erase()) room.erase(caller, std::move(entry));
    else room.submit(caller, std::move(entry));
  });
}

// ---------------------------------------------------------------------------
// Calls from rooms (any thread)
// ---------------------------------------------------------------------------

// Everything a room hands a session goes through one queue, the home
// shard's (as FanOut's batches do), so that it arrives in the order the room
// sent it: a post to the session's strand could run after a later plain
// post to the shard. The shard has one thread, so this is the strand's
// thread too.
template <typename Fn>
void WsSession::post_home(Fn&& fn) {
  if (home_ != nullptr) return asio::post(home_->io(), std::forward<Fn>(fn));
  asio::post(ws_.get_executor(), std::forward<Fn>(fn));
}

void WsSession::joined(const std::string& room_id, std::shared_ptr<Room> room, Membership membership) {
  post_home([self = shared_from_this(), room_id, room = std::move(room), membership] {
    if (self->finished_) {
      // Gone while the join was on its way: leave at once.
      Caller caller{self, membership, 0, Encoding::json};
      caller.wants_reply = false;
      room->run([caller](Room& r) { r.leave(caller, v1::MemberLeft::REASON_DISCONNECTED); });
      return;
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
// Writing and closing (on the strand)
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
  if (queue_.size() >= context_.config.limits.send_queue_frames) {
    log::info("session ", connection_id_, " closed: send queue full (", queue_.size(), " frames)");
    metrics().slow_consumers.fetch_add(1, std::memory_order_relaxed);
    closing_ = CloseCode::slow_consumer;
    drop_unsent();
    if (!writing_) start_close();
    return;
  }
  queue_.push_back(std::move(frame));
  if (flush_asked_) return;
  flush_asked_ = true;
  if (on_home_shard()) {
    home_->flush_later(shared_from_this());
  } else {
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->flush(); });
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
  // The read side ends too (and finishes the session).
  boost::system::error_code ignored;
  beast::get_lowest_layer(ws_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

void WsSession::flush() {
  flush_asked_ = false;
  auto& transport = ws_.next_layer();
  if (finished_) {
    // Nothing more will be written: a control write waiting must not wait on.
    if (!writing_) transport.data_writing(false);
    return;
  }
  if (writing_ || !upgraded_) return;
  // Between two frames, Beast's control frame waiting goes first (then
  // on_control_done calls again), and once Beast has seen the peer's close
  // frame no data frame may follow its answer; a frame begun is finished.
  auto may_start_frame = [&] { return !transport.control_busy() && ws_.is_open(); };
  if (auto* tls = transport.tls()) {
    // Whole frames only.
    if (!queue_.empty() && may_start_frame()) write_tls(*tls);
    else if (queue_.empty() && closing_) start_close();
    return;
  }

  // Plain TCP: write straight from the shared frames, without blocking
  // (the socket is non-blocking since the upgrade). Asio writes at most 64
  // buffers at a time.
  auto& socket = beast::get_lowest_layer(ws_).socket();
  std::array<asio::const_buffer, 64> buffers;
  for (;;) {
    if (queue_.empty()) break;
    const bool may_start = may_start_frame();
    if (head_written_ == 0 && !may_start) break;
    if (head_written_ == 0) metrics().send_queue_depth.observe(static_cast<double>(queue_.size()));
    // Finishing a frame begun while a control frame waits: that frame only.
    const std::size_t count = may_start ? gather(buffers) : gather(std::span(buffers.data(), 1));
    const std::size_t asked = asio::buffer_size(std::span(buffers.data(), count));
    boost::system::error_code error;
    std::size_t written = socket.write_some(std::span(buffers.data(), count), error);
    if (error == asio::error::would_block || error == asio::error::try_again) {
      written = 0;
      error = {};
    }
    if (error) {
      transport.data_writing(false);
      return write_failed();
    }
    consume(written);
    if (written < asked) {
      // The socket's buffer is full: wait for room. Until the frame begun
      // here is finished, a control frame waits for it.
      writing_ = true;
      transport.data_writing(head_written_ > 0);
      socket.async_wait(asio::ip::tcp::socket::wait_write, [self = shared_from_this()](boost::system::error_code e) {
        self->writing_ = false;
        // Closed: finish() has run, or will.
        if (e || self->finished_) return self->ws_.next_layer().data_writing(false);
        self->flush();
      });
      return;
    }
  }
  transport.data_writing(false);
  if (queue_.empty() && closing_) start_close();
}

void WsSession::write_tls(Transport::Tls& tls) {
  // The TLS stream encrypts as it goes, so the frames stay queued (and
  // alive) until the write completes.
  metrics().send_queue_depth.observe(static_cast<double>(queue_.size()));
  tls_buffers_.resize(64);
  in_flight_ = gather(tls_buffers_);
  tls_buffers_.resize(in_flight_);
  writing_ = true;
  ws_.next_layer().data_writing(true);
  asio::async_write(tls, tls_buffers_,
                    [self = shared_from_this()](beast::error_code error, std::size_t written) {
                      self->writing_ = false;
                      self->in_flight_ = 0;
                      self->ws_.next_layer().data_writing(false);
                      if (error) return self->write_failed();
                      self->consume(written);
                      self->flush();
                    });
}

void WsSession::close(CloseCode code) {
  asio::post(ws_.get_executor(), [self = shared_from_this(), code] {
    if (self->closing_ || self->finished_) return;
    self->closing_ = code;
    // start_close() does nothing until the upgrade is done; run() calls it
    // again then. A frame begun is finished first.
    self->drop_unsent();
    if (!self->writing_) self->start_close();
  });
}

void WsSession::start_close() {
  if (close_started_ || finished_ || !ws_.is_open()) return;
  close_started_ = true;
  // A peer that never reads would keep the close frame (and the write ahead
  // of it) waiting forever, and its pings keep Beast's idle timer from
  // firing: give the close a deadline, then drop the connection.
  close_timer_.expires_after(kCloseTimeout);
  close_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (error) return;
    boost::system::error_code ignored;
    beast::get_lowest_layer(self->ws_).socket().close(ignored);
  });
  ws_.async_close(websocket::close_reason(static_cast<std::uint16_t>(*closing_)),
                  [self = shared_from_this()](beast::error_code) {
                    // The read loop ends on the close handshake (or the
                    // timeout) and finishes the session.
                  });
}

void WsSession::finish() {
  if (finished_) return;
  finished_ = true;
  context_.connections_per_address.remove(address_);
  drop_unsent();  // a TLS write in flight still reads its frames
  close_timer_.cancel();
  // A write may still be parked on a peer that stopped reading: closing the
  // socket ends it (and everything else pending) now.
  boost::system::error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
  for (auto& [room_id, slot] : rooms_) {
    if (!slot.room) continue;  // joined() sees finished_ and leaves
    Caller caller{shared_from_this(), slot.membership, 0, Encoding::json};
    caller.wants_reply = false;
    slot.room->run([caller](Room& room) { room.leave(caller, v1::MemberLeft::REASON_DISCONNECTED); });
  }
  rooms_.clear();
  context_.sessions.remove(this);
}

}  // namespace hearth
