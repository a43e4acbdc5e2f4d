// One client's WebSocket connection: reads frames, decodes and dispatches
// commands, and writes replies and events through a bounded queue.
//
// Everything here runs on the session's strand (the stream's executor), on its
// shard's thread; Connection methods, called by rooms from their own strands,
// post to it, or call straight through when the room is on the same shard.
// Frames arrive already framed (SharedFrame) and wait in a queue; once per
// turn of the shard's loop the session writes all it has in one non-blocking
// gather-write, and waits for the socket only when it is full. A client whose
// queue passes Limits::send_queue_frames is closed with 4001 rather than let
// memory grow.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/container/devector.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "connection.hpp"
#include "rate_limit.hpp"
#include "room.hpp"
#include "server_context.hpp"
#include "shards.hpp"
#include "token.hpp"
#include "transport.hpp"

namespace hearth {

class WsSession final : public Connection, public Flushable, public std::enable_shared_from_this<WsSession> {
 public:
  // `stream` must have a strand as its executor.
  // What the upgrade request settled: the subprotocol to answer with, and
  // the identity of a token given in Sec-WebSocket-Protocol (then the
  // connection is identified as if by a hello with it).
  struct Handshake {
    std::string subprotocol;
    std::optional<Claims> claims;
  };

  // `address` has been counted in context.connections_per_address; the
  // session uncounts it when it ends. Construct on the connection's strand.
  WsSession(Transport stream, ServerContext& context, std::string address, Handshake handshake);

  // Accepts the upgrade `request` and serves the connection until it ends.
  void start(boost::beast::http::request<boost::beast::http::string_body> request);

  // Sends a close frame with `code` after the frame being written; queued
  // frames are dropped. Any thread.
  void close(CloseCode code);

  void send(SharedFrame frame) override;
  void joined(const std::string& room_id, std::shared_ptr<Room> room, Membership membership) override;
  void join_failed(const std::string& room_id) override;
  void removed(const std::string& room_id) override;
  Encoding push_encoding() const override { return push_encoding_.load(std::memory_order_relaxed); }
  const std::string& connection_id() const override { return connection_id_; }

  // Writes what is queued: see the top of this file. On the strand.
  void flush() override;

 private:
  // A room this connection is in; `room` is null while the join is on its way.
  struct RoomSlot {
    std::shared_ptr<Room> room;
    Membership membership;
  };

  boost::asio::awaitable<void> run(boost::beast::http::request<boost::beast::http::string_body> request);
  boost::asio::awaitable<void> read_loop();
  void on_frame(std::string_view frame, Encoding encoding);
  void dispatch(const v1::ClientMessage& message, Encoding encoding);
  void on_hello(const v1::ClientMessage& message, Encoding encoding);
  void on_create_or_join(const v1::ClientMessage& message, Encoding encoding);
  void on_leave(const v1::ClientMessage& message, Encoding encoding);
  void on_create_invite(const v1::ClientMessage& message, Encoding encoding);
  void on_list_members(const v1::ClientMessage& message, Encoding encoding);
  void on_room_command(const v1::ClientMessage& message, Encoding encoding);
  // The room `message` is for, if this connection is in it; else replies
  // NOT_IN_ROOM and returns rooms_.end().
  std::unordered_map<std::string, RoomSlot>::iterator joined_room(const v1::ClientMessage& message, Encoding encoding);
  // Who sends `message` to the room of `slot`, for the room's reply.
  Caller caller_in(const RoomSlot& slot, const v1::ClientMessage& message, Encoding encoding);
  // The membership for joining `room_id`, or the failure to reply with.
  std::optional<Failure> membership_for(const std::string& room_id, const std::string& token,
                                        const std::string& display_name, Membership& out);
  void ensure_identity();

  void reply(std::uint32_t request_id, Encoding encoding, v1::Ok ok);
  void reply(std::uint32_t request_id, Encoding encoding, const Failure& failure);
  // SHUTTING_DOWN to a frame read during shutdown before the close frame.
  void reply_shutting_down(std::uint32_t request_id, Encoding encoding);
  // On this session's own shard's thread: nothing of the session runs
  // meanwhile (one thread per shard), so it may be called without a post.
  Shard* home() const override { return home_; }
  // Runs `fn` on the home shard, after what rooms handed this session before.
  template <typename Fn>
  void post_home(Fn&& fn);
  bool on_home_shard() const noexcept { return home_ != nullptr && Shard::current() == home_; }
  void enqueue(SharedFrame frame);
  void write_tls(Transport::Tls& tls);
  // Up to `out.size()` queued frames, the first from where the last write
  // stopped; the count.
  std::size_t gather(std::span<boost::asio::const_buffer> out) const;
  // `written` bytes of the queue's head went out.
  void consume(std::size_t written);
  // Drops every queued frame but those a write has started on.
  void drop_unsent();
  void write_failed();
  void start_close();
  void finish();

  boost::beast::websocket::stream<Transport> ws_;
  boost::asio::steady_timer close_timer_;
  ServerContext& context_;
  const std::string connection_id_;
  const std::string address_;
  const std::string subprotocol_;
  TokenBucket bucket_;           // this connection's message budget
  TokenBucket passcode_bucket_;  // its passcode guesses
  std::atomic<Encoding> push_encoding_{Encoding::json};

  // Identity: set by Hello, or made anonymous on the first join.
  bool identified_ = false;
  bool hello_seen_ = false;
  std::string user_id_;
  std::string display_name_;
  std::optional<Claims> claims_;

  std::unordered_map<std::string, RoomSlot> rooms_;
  int command_ = 0;  // the command being handled, for /metrics

  Shard* const home_ = Shard::current();  // the shard whose thread this session runs on
  // A devector, unlike std::deque, allocates nothing while empty: most
  // connections are idle most of the time.
  boost::container::devector<SharedFrame> queue_;
  std::size_t head_written_ = 0;   // bytes of queue_.front() already written
  std::size_t in_flight_ = 0;      // frames an asynchronous TLS write holds
  bool writing_ = false;           // a write waits for the socket, or TLS writes
  bool flush_asked_ = false;
  bool upgraded_ = false;
  std::vector<boost::asio::const_buffer> tls_buffers_;  // what a TLS write is given
  std::optional<CloseCode> closing_;
  bool close_started_ = false;
  bool finished_ = false;
};

}  // namespace hearth
