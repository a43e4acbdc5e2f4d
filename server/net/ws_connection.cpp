#include "net/ws_connection.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "base/fault.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"

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
// Frames' worth of room an empty send queue may keep.
constexpr std::size_t kQueueRoomKept = 64;

}  // namespace

// ---------------------------------------------------------------------------
// The upgrade
// ---------------------------------------------------------------------------

// Beast's stream over the HTTP session's transport, for the handshake only.
struct WsConnection::Upgrade {
  explicit Upgrade(Transport stream) : transport(std::move(stream)), ws(transport) {}
  Transport transport;
  websocket::stream<Transport&> ws;
  http::request<http::string_body> request;
};

WsConnection::WsConnection(Transport stream, Settings settings, ConnectionTracker& tracker,
                           std::string log_id)
    : stream_(std::in_place_index<0>, stream.get_executor()),
      upgrade_(std::make_unique<Upgrade>(std::move(stream))),
      settings_(settings),
      tracker_(tracker),
      log_id_(std::move(log_id)),
      reader_(settings.max_frame_bytes, settings.hard_frame_bytes) {}

WsConnection::~WsConnection() = default;

void WsConnection::start(http::request<http::string_body> request, std::shared_ptr<WsHandler> handler) {
  assert_home();
  handler_ = std::move(handler);
  // Shutdown may have begun while the upgrade request was being checked.
  if (auto code = tracker_.add(shared_from_this())) closing_ = *code;
  auto& upgrade = *upgrade_;
  // The HTTP session's timer must not fire on the WebSocket: Beast's
  // handshake timeout, then the shard's idle tick, take over.
  upgrade.transport.tcp().expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = settings_.handshake_timeout;
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  upgrade.ws.set_option(timeouts);
  upgrade.ws.set_option(
      websocket::stream_base::decorator([v1 = settings_.v1_subprotocol](websocket::response_type& response) {
        response.set(http::field::server, "hearth");
        if (v1) response.set(http::field::sec_websocket_protocol, "hearth.v1");
      }));
  upgrade.request = std::move(request);
  upgrade.ws.async_accept(upgrade.request,
                          [self = shared_from_this()](beast::error_code error) { self->on_upgraded(error); });
}

void WsConnection::on_upgraded(beast::error_code error) {
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
  if (home_ != nullptr && settings_.idle_timeout.count() > 0) home_->watch(*this, settings_.idle_timeout / 2);
  flush();
  // A close asked for while upgrading (shutdown) starts now.
  if (closing_) {
    arm_close_deadline();
    if (!writing_) start_close();
  }
  read_more();
}

asio::ip::tcp::socket& WsConnection::socket() noexcept {
  if (auto* tls = std::get_if<Transport::Tls>(&stream_)) return tls->next_layer().socket();
  return std::get<0>(stream_);
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

void WsConnection::read_more() {
  if (auto* tls = std::get_if<Transport::Tls>(&stream_)) {
    tls->async_read_some(asio::buffer(tls_->read),
                         [self = shared_from_this()](beast::error_code error, std::size_t bytes) {
                           self->on_read(error, std::span(self->tls_->read.data(), bytes));
                         });
    return;
  }
  // Plain TCP: wait until there is something, then read it into the
  // shard's buffer (see the top of this file).
  std::get<0>(stream_).async_wait(
      asio::ip::tcp::socket::wait_read, [self = shared_from_this()](beast::error_code error) {
        if (error) return self->on_read(error, {});
        thread_local std::vector<char> buffer(kReadBytes);
        const std::size_t bytes = std::get<0>(self->stream_).read_some(asio::buffer(buffer), error);
        if (error == asio::error::would_block || error == asio::error::try_again) return self->read_more();
        self->on_read(error, std::span(buffer.data(), bytes));
      });
}

void WsConnection::on_read(beast::error_code error, std::span<char> bytes) {
  assert_home();
  if (finished_) return;
  if (error) {
    if (error != asio::error::eof && error != asio::error::operation_aborted) {
      log::debug("session ", log_id_, " read ended: ", error.message());
    }
    return finish();
  }
  read_since_tick_ = true;
  if (on_bytes(bytes) && !finished_) read_more();
}

bool WsConnection::on_bytes(std::span<char> bytes) {
  // A failure in our code outside any one command ends this connection,
  // with 1011, and nothing else (server/base/fault.hpp).
  bool more = false;
  fault::contain(
      fault::Where::session, [&] { more = handle_bytes(bytes); },
      [&] {
        if (finished_ || failed_) return;
        fail(CloseCode::internal_error);
        more = !std::holds_alternative<Transport::Tls>(stream_);  // read on and drop, as after any failure
      });
  return more;
}

bool WsConnection::handle_bytes(std::span<char> bytes) {
  const bool tls = std::holds_alternative<Transport::Tls>(stream_);
  // After a close frame either way, what comes is read (on TCP, to see
  // the peer's end, and so that our close frame is not lost to a reset) and
  // dropped: up to a hard frame's worth, then the connection is dropped.
  if (peer_closed_ || failed_) {
    discarded_ += bytes.size();
    if (discarded_ > settings_.hard_frame_bytes) {
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
    if (!bytes.empty() && (handled == kMessagesPerTurn || queue_.size() >= settings_.send_queue_frames / 2)) {
      pending_.assign(bytes.data(), bytes.size());
      read_paused_ = true;
      ask_flush();
      return false;
    }
    const auto event = reader_.next(bytes);
    const Encoding encoding = event.text ? Encoding::json : Encoding::binary;
    switch (event.kind) {
      case Kind::need_more:
        return true;
      case Kind::message:
        ++handled;
        if (!handler_->on_message(event.payload, encoding) && !finished_) {
          // The rest waits for the handler (resume_reading()).
          handler_waits_ = true;
          pending_.assign(bytes.data(), bytes.size());
          ask_flush();
          return false;
        }
        break;
      case Kind::too_large:
        ++handled;
        handler_->on_too_large(encoding);
        break;
      case Kind::ping:
        // Answered in turn, after what is queued; nothing after a close.
        if (!closing_) enqueue(make_ws_frame(WsOpcode::pong, event.payload));
        break;
      case Kind::pong:
        break;  // read_since_tick_ is what counts
      case Kind::close:
        on_peer_close(event.code);
        return !tls;
      case Kind::failed:
        fail(event.close_code);
        return !tls;
    }
    if (finished_) return false;
  }
}

void WsConnection::resume_reading() {
  assert_home();
  // Only after on_message() said to wait: a second read at once would be
  // undefined behaviour (TLS).
  assert(handler_waits_);
  if (!handler_waits_) return;
  handler_waits_ = false;
  if (!read_paused_) read_pending();
}

void WsConnection::read_pending() {
  if (finished_ || handler_waits_) return;
  // Handled from a copy: on_bytes() may keep a new remainder in pending_.
  std::string pending = std::exchange(pending_, {});
  if (on_bytes(std::span(pending.data(), pending.size())) && !finished_) read_more();
}

void WsConnection::resume_if_room() {
  if (!read_paused_ || queue_.size() >= settings_.send_queue_frames / 2) return;
  read_paused_ = false;
  run_home([self = shared_from_this()] { self->read_pending(); });
}

void WsConnection::on_peer_close(std::uint16_t code) {
  peer_closed_ = true;
  // The peer's last word: nothing more comes from it, and it may take as
  // long as the close deadline to end TCP. The handler learns now.
  handler_->on_peer_gone();
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

void WsConnection::fail(CloseCode code) {
  assert_home();
  log::debug("session ", log_id_, " failed: closing with ", static_cast<int>(code));
  failed_ = true;
  closing_ = code;
  arm_close_deadline();
  // A broken frame may leave nothing after it worth sending; too many
  // undecodable ones still get the replies already queued.
  if (code != CloseCode::policy_violation) drop_unsent();
  if (!writing_) start_close();
}

bool WsConnection::takes_messages() const {
  return !closing_ || (closing_ == CloseCode::going_away && !close_started_);
}

// ---------------------------------------------------------------------------
// Writing and closing
// ---------------------------------------------------------------------------

void WsConnection::send(SharedFrame frame) {
  if (on_home_shard()) return enqueue(std::move(frame));
  run_home(
      [self = shared_from_this(), frame = std::move(frame)]() mutable { self->enqueue(std::move(frame)); });
}

bool WsConnection::send_last(SharedFrame frame) {
  assert_home();
  // Close now if close() has not reached this connection yet (it would drop
  // a frame queued before it), then queue the frame ahead of the close
  // frame: enqueue() takes nothing more once closing.
  if (!closing_) begin_close(CloseCode::going_away);
  // Bounded like every queue: a client that keeps sending and never reads
  // gets no more answers once its queue is full; the close follows anyway.
  if (finished_ || close_started_ || queue_.size() >= settings_.send_queue_frames) return false;
  queue_.push_back(std::move(frame));
  if (!writing_) flush();  // then start_close(), once the queue is written
  return true;
}

void WsConnection::enqueue(SharedFrame frame) {
  if (closing_ || finished_) return;
  const std::size_t limit = settings_.send_queue_frames;
  // Frames owed only because this shard has not reached its flush (it was
  // stalled, or handled a burst in one turn) are not the peer's fault: write
  // what the socket takes now. What counts against the peer is what waits
  // while a write is parked on its full socket (or, on TLS, in flight).
  if (queue_.size() >= limit && !writing_) write_queued();
  if (closing_ || finished_) return;  // the write failed
  if (queue_.size() - in_flight_ >= limit) {
    log::info("session ", log_id_, " closed: send queue full (", queue_.size(), " frames)");
    metrics().slow_consumers.fetch_add(1, std::memory_order_relaxed);
    begin_close(CloseCode::slow_consumer);
    if (!writing_) start_close();
    return;
  }
  queue_.push_back(std::move(frame));
  ask_flush();
}

void WsConnection::ask_flush() {
  if (flush_asked_) return;
  flush_asked_ = true;
  if (on_home_shard()) {
    home_->flush_later(shared_from_this());
  } else {
    asio::post(socket().get_executor(), [self = shared_from_this()] { self->flush(); });
  }
}

std::size_t WsConnection::gather(std::span<asio::const_buffer> out) const {
  std::size_t count = 0;
  for (auto it = queue_.begin(); it != queue_.end() && count < out.size(); ++it, ++count) {
    const std::size_t skip = count == 0 ? head_written_ : 0;
    out[count] = asio::buffer((*it)->data() + skip, (*it)->size() - skip);
  }
  return count;
}

void WsConnection::consume(std::size_t written) {
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

void WsConnection::drop_unsent() {
  const std::size_t keep = std::max<std::size_t>(in_flight_, head_written_ > 0 ? 1 : 0);
  if (queue_.size() > keep) queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(keep), queue_.end());
}

void WsConnection::write_failed() {
  queue_.clear();
  head_written_ = 0;
  finish();
}

void WsConnection::flush() {
  assert_home();
  flush_asked_ = false;
  write_queued();
}

void WsConnection::write_queued() {
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
        socket.async_wait(asio::ip::tcp::socket::wait_write,
                          [self = shared_from_this()](boost::system::error_code e) {
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

void WsConnection::write_tls(Transport::Tls& tls) {
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

void WsConnection::close(CloseCode code) {
  run_home([self = shared_from_this(), code] {
    if (self->closing_ || self->finished_) return;
    // start_close() does nothing until the upgrade is done; on_upgraded()
    // arms the deadline and calls it then. A frame begun is finished first.
    if (!self->upgraded_) {
      self->closing_ = code;
      return;
    }
    self->begin_close(code);
    if (!self->writing_) self->start_close();
  });
}

void WsConnection::begin_close(CloseCode code) {
  closing_ = code;
  arm_close_deadline();
  drop_unsent();
}

void WsConnection::arm_close_deadline() {
  // From the moment the close is decided, not from when its frame can be
  // written: a peer that never reads would keep the write ahead of it (and
  // so the close frame, the connection and its descriptor) waiting forever,
  // and one that never answers the close would keep the connection. A slow
  // peer that does read gets its close frame within the deadline.
  if (close_timer_ || finished_) return;
  close_timer_ = std::make_unique<asio::steady_timer>(socket().get_executor(), kCloseTimeout);
  close_timer_->async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (!error) self->finish();
  });
}

void WsConnection::start_close() {
  if (close_started_ || finished_ || !upgraded_) return;
  close_started_ = true;
  arm_close_deadline();
  // Our code, or the peer's echoed (none if it gave none).
  SharedFrame frame = !peer_closed_ || *closing_ != CloseCode::normal
                          ? make_close_frame(static_cast<std::uint16_t>(*closing_))
                      : peer_code_ != 0 ? make_close_frame(peer_code_)
                                        : make_ws_frame(WsOpcode::close, {});
  queue_.push_back(std::move(frame));
  flush();
}

void WsConnection::teardown() {
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

void WsConnection::tick() {
  assert_home();
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
  log::debug("session ", log_id_, " idle past its timeout: dropped");
  finish();
}

void WsConnection::finish() {
  if (finished_) return;
  finished_ = true;
  if (home_ != nullptr) home_->unwatch(*this);
  drop_unsent();  // a TLS write in flight still reads its frames
  if (close_timer_) close_timer_->cancel();
  // A write may still be parked on a peer that stopped reading: closing the
  // socket ends it (and everything else pending) now.
  boost::system::error_code ignored;
  if (upgrade_)
    upgrade_->transport.tcp().socket().close(ignored);
  else
    socket().close(ignored);
  // The handler may hold this connection: it is let go of on a later turn,
  // when none of its code is on the stack.
  if (auto handler = std::move(handler_)) {
    handler->on_finished();
    run_home([handler = std::move(handler)] {});
  }
  tracker_.remove(this);
}

}  // namespace hearth
