// One WebSocket connection on the wire: the socket (or TLS stream), the
// read loop, the send queue with its gather-write, the idle timeout and the
// close handshake. What the messages mean is its handler's business
// (WsHandler; the client session, session/client_session.hpp).
//
// Threading (docs/architecture.md, "Threads"): everything here runs on the
// connection's home shard, the shard whose thread made it; the methods
// marked "any thread" post there, or call straight through when called on
// it. Debug builds assert it.
//
// Beast does the upgrade; after it the connection keeps the bare socket (or
// the TLS stream) and frames by itself (ws_frames.hpp), because an idle
// connection must cost little (docs/performance.md, W3):
// - reading is a callback, not a coroutine: on plain TCP the connection
//   waits for the socket to be readable and reads into its shard's buffer,
//   so an idle connection holds one pending wait and no buffer. A turn
//   handles at most kMessagesPerTurn messages, and none while the send
//   queue is half full or the handler has asked to wait: the rest waits in
//   pending_ for the next turn;
// - frames to send arrive already framed (SharedFrame) and wait in a queue;
//   once per turn of the shard's loop the connection writes all it has in
//   one non-blocking gather-write, and waits for the socket only when it is
//   full. A queue that reaches Settings::send_queue_frames before that turn
//   is written at once; a client whose queue passes it while its socket is
//   full is closed with 4001 rather than let memory grow. (On TLS a write
//   in flight cannot be joined: frames past the limit behind it count
//   against the client, even if its socket has room.) Pongs, pings and
//   the close frame take the same queue;
// - the idle timeout is checked by the shard's tick, every half of it: a
//   ping to a connection that sent nothing since the last tick, and a drop
//   for one that has still sent nothing at the next.
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/container/devector.hpp>
#include <cassert>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/connection_tracker.hpp"
#include "net/wire.hpp"
#include "protocol/codec.hpp"
#include "protocol/error.hpp"
#include "protocol/transport.hpp"
#include "protocol/ws_frames.hpp"
#include "room/shards.hpp"

namespace hearth {

class WsConnection final : public Wire,
                           public Flushable,
                           public Ticked,
                           public std::enable_shared_from_this<WsConnection> {
 public:
  struct Settings {
    std::size_t max_frame_bytes = 0;   // a larger message is skipped (on_too_large)
    std::size_t hard_frame_bytes = 0;  // a larger one closes the connection (1009)
    std::size_t send_queue_frames = 0;
    std::chrono::milliseconds handshake_timeout{0};
    std::chrono::milliseconds idle_timeout{0};  // 0: none
    bool v1_subprotocol = false;                // answer the upgrade with "hearth.v1"
  };

  // `log_id` names the connection in logs. Construct on the home shard.
  WsConnection(Transport stream, Settings settings, ConnectionTracker& tracker, std::string log_id);
  ~WsConnection() override;

  // Accepts the upgrade `request` and serves the connection until it ends,
  // telling `handler`, which it holds until then.
  void start(boost::beast::http::request<boost::beast::http::string_body> request,
             std::shared_ptr<WsHandler> handler);

  // Wire: see there.
  void send(SharedFrame frame) override;
  void post_home(std::function<void()> fn) override { run_home(std::move(fn)); }
  Shard* home() const noexcept override { return home_; }
  bool on_home_shard() const noexcept override { return home_ != nullptr && Shard::current() == home_; }
  bool takes_messages() const override;
  void fail(CloseCode code) override;
  bool send_last(SharedFrame frame) override;
  void resume_reading() override;

  // Sends a close frame with `code` after the frame being written; queued
  // frames are dropped. Any thread.
  void close(CloseCode code);
  // Lets go of the handler, which holds this connection, without a word to
  // it: for a forced stop, once no shard runs.
  void abandon() { handler_.reset(); }

  // Writes what is queued: see the top of this file. On the home shard.
  void flush() override;
  // The idle timeout (see the top of this file). On the home shard.
  void tick() override;

 private:
  struct Upgrade;
  // A TLS connection's reads are asynchronous, so it has a read buffer of
  // its own; and its writes need their buffers kept.
  struct TlsBuffers {
    std::array<char, 4096> read;
    std::vector<boost::asio::const_buffer> write;
  };
  using Stream = std::variant<boost::asio::ip::tcp::socket, Transport::Tls>;

  void assert_home() const noexcept { assert(home_ == nullptr || on_home_shard()); }
  // post_home() without a std::function around `fn`.
  template <typename Fn>
  void run_home(Fn&& fn) {
    if (home_ != nullptr) return boost::asio::post(home_->io(), std::forward<Fn>(fn));
    boost::asio::post(socket().get_executor(), std::forward<Fn>(fn));
  }
  void on_upgraded(boost::beast::error_code error);
  boost::asio::ip::tcp::socket& socket() noexcept;
  void read_more();
  void on_read(boost::beast::error_code error, std::span<char> bytes);
  // Hands `bytes` to the reader and acts on what it finds; false once no
  // more is to be read (TLS, after the peer's close frame or a failure).
  bool on_bytes(std::span<char> bytes);
  bool handle_bytes(std::span<char> bytes);  // on_bytes() without its guard
  // After a pause: what was kept, then the socket again; unless paused still.
  void read_pending();
  // From a flush: resumes a paused read once the queue is under half full.
  void resume_if_room();
  void on_peer_close(std::uint16_t code);
  void enqueue(SharedFrame frame);
  // flush()'s write, at once: also from enqueue() when the queue is full.
  void write_queued();
  // flush() once this turn of the shard's loop is over.
  void ask_flush();
  void write_tls(Transport::Tls& tls);
  // Up to `out.size()` queued frames, the first from where the last write
  // stopped; the count.
  std::size_t gather(std::span<boost::asio::const_buffer> out) const;
  // `written` bytes of the queue's head went out.
  void consume(std::size_t written);
  // Drops every queued frame but those a write has started on.
  void drop_unsent();
  void write_failed();
  // Decides the close: `code` from now on, the deadline armed, the unsent
  // frames dropped.
  void begin_close(CloseCode code);
  void start_close();
  void arm_close_deadline();  // kCloseTimeout from now, then finish(); once
  // Both close frames are done: end TCP (then read to its end) or TLS.
  void teardown();
  void finish();

  Stream stream_;                     // an unopened socket until the upgrade is done
  std::unique_ptr<Upgrade> upgrade_;  // Beast's handshake, until it is done
  const Settings settings_;
  ConnectionTracker& tracker_;
  const std::string log_id_;
  std::shared_ptr<WsHandler> handler_;  // from start() until the end
  WsReader reader_;
  std::unique_ptr<TlsBuffers> tls_;                         // TLS only
  std::unique_ptr<boost::asio::steady_timer> close_timer_;  // once the close is decided

  Shard* const home_ = Shard::current();  // the shard whose thread this connection runs on
  // A devector, unlike std::deque, allocates nothing while empty: most
  // connections are idle most of the time.
  boost::container::devector<SharedFrame> queue_;
  std::size_t head_written_ = 0;  // bytes of queue_.front() already written
  std::size_t in_flight_ = 0;     // frames an asynchronous TLS write holds
  bool writing_ = false;          // a write waits for the socket, or TLS writes
  bool flush_asked_ = false;
  bool upgraded_ = false;
  std::optional<CloseCode> closing_;
  bool close_started_ = false;  // our close frame is queued
  bool close_sent_ = false;     // and written
  bool peer_closed_ = false;    // the peer's close frame came
  bool failed_ = false;         // we closed for a broken rule: no close frame is awaited
  bool teardown_started_ = false;
  std::uint16_t peer_code_ = 0;  // what the peer's close frame said, to echo
  std::size_t discarded_ = 0;    // bytes read and dropped after a close frame
  std::string pending_;          // bytes read but not yet handled, while reading is paused
  bool read_paused_ = false;     // for room in the send queue
  bool handler_waits_ = false;   // on_message() said to wait
  bool read_since_tick_ = false;
  bool pinged_ = false;
  bool finished_ = false;
};

}  // namespace hearth
