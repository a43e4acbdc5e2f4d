// One client's WebSocket connection: reads frames, decodes and dispatches
// commands, and writes replies and events through a bounded queue.
//
// Everything here runs on its shard's thread (the stream's executor is the
// shard's io_context, which one thread runs); Connection methods, called by
// rooms from their own shards, post to it, or call straight through when the
// room is on the same shard.
//
// Beast does the upgrade; after it the session keeps the bare socket (or the
// TLS stream) and frames by itself (ws_frames.hpp), because an idle
// connection must cost little (docs/performance.md, W3):
// - reading is a callback, not a coroutine: on plain TCP the session waits
//   for the socket to be readable and reads into its shard's buffer, so an
//   idle connection holds one pending wait and no buffer. A turn handles
//   at most kMessagesPerTurn messages, and none while the send queue is
//   half full: the rest waits in pending_ for the next turn;
// - frames to send arrive already framed (SharedFrame) and wait in a queue;
//   once per turn of the shard's loop the session writes all it has in one
//   non-blocking gather-write, and waits for the socket only when it is
//   full. A queue that reaches Limits::send_queue_frames before that turn
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
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/container/devector.hpp>
#include <boost/container/flat_map.hpp>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "connection.hpp"
#include "rate_limit.hpp"
#include "room.hpp"
#include "server_context.hpp"
#include "shards.hpp"
#include "token.hpp"
#include "transport.hpp"
#include "ws_frames.hpp"

namespace hearth {

class WsSession final : public Connection,
                        public Flushable,
                        public Ticked,
                        public std::enable_shared_from_this<WsSession> {
 public:
  // What the upgrade request settled: the subprotocol to answer with, and
  // the identity of a token given in Sec-WebSocket-Protocol (then the
  // connection is identified as if by a hello with it).
  struct Handshake {
    std::string subprotocol;
    std::optional<Claims> claims;
  };

  // `address` has been counted in context.connections_per_address; the
  // session uncounts it when it ends. Construct on the connection's shard.
  WsSession(Transport stream, ServerContext& context, std::string address, Handshake handshake);
  ~WsSession() override;

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

  // Writes what is queued: see the top of this file. On the home shard.
  void flush() override;
  // The idle timeout (see the top of this file). On the home shard.
  void tick() override;

 private:
  // A room this connection is in; `room` is null while the join is on its way.
  struct RoomSlot {
    std::shared_ptr<Room> room;
    Membership membership;
  };

  struct Upgrade;
  // A TLS connection's reads are asynchronous, so it has a read buffer of
  // its own; and its writes need their buffers kept.
  struct TlsBuffers {
    std::array<char, 4096> read;
    std::vector<boost::asio::const_buffer> write;
  };
  // Few per connection (Limits::max_rooms_per_connection): a sorted vector
  // costs one allocation, where a hash map costs a node each and a bucket
  // array.
  using Rooms = boost::container::flat_map<std::string, RoomSlot>;
  using Stream = std::variant<boost::asio::ip::tcp::socket, Transport::Tls>;

  void on_upgraded(boost::beast::error_code error);
  boost::asio::ip::tcp::socket& socket() noexcept;
  void read_more();
  void on_read(boost::beast::error_code error, std::span<char> bytes);
  // Hands `bytes` to the reader and acts on what it finds; false once no
  // more is to be read (TLS, after the peer's close frame or a failure).
  bool on_bytes(std::span<char> bytes);
  bool handle_bytes(std::span<char> bytes);  // on_bytes() without its guard
  // After a pause (see on_bytes): what was kept, then the socket again.
  void resume_reading();
  // From a flush: resumes a paused read once the queue is under half full.
  void resume_if_room();
  // Counts a message from the client as a command, unless the session
  // takes no more (see the definition); false then.
  bool take_command(Encoding encoding);
  bool takes_commands() const;  // take_command()'s test, also for a parked command
  void on_frame(std::string_view frame, Encoding encoding);
  // A decoded command within budget: handled, with failures in our code
  // kept to it (server/fault.hpp).
  void run_command(const v1::ClientMessage& message, Encoding encoding);
  // The identity budget's answer for the parked command (LeasedBudgets).
  void budget_answered(LeasedBudgets::Wait wait);
  void on_too_large(Encoding encoding);
  // Spends one of the connection's undecodable frames; false (and closing
  // with 1008) when none is left.
  bool spend_malformed();
  void on_peer_close(std::uint16_t code);
  // A broken framing rule: close with `code` at once.
  void fail(CloseCode code);
  void dispatch(const v1::ClientMessage& message, Encoding encoding);
  void on_hello(const v1::ClientMessage& message, Encoding encoding);
  void on_create_or_join(const v1::ClientMessage& message, Encoding encoding);
  void on_leave(const v1::ClientMessage& message, Encoding encoding);
  void on_forget_me(const v1::ClientMessage& message, Encoding encoding);
  void on_create_invite(const v1::ClientMessage& message, Encoding encoding);
  void on_list_members(const v1::ClientMessage& message, Encoding encoding);
  void on_room_command(const v1::ClientMessage& message, Encoding encoding);
  // The room `message` is for, if this connection is in it; else replies
  // NOT_IN_ROOM and returns rooms_.end().
  Rooms::iterator joined_room(const v1::ClientMessage& message, Encoding encoding);
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
  void start_close();
  void arm_close_deadline();  // kCloseTimeout from now, then finish(); once
  // Both close frames are done: end TCP (then read to its end) or TLS.
  void teardown();
  // Leaves every room this connection is in; once.
  void leave_rooms();
  void finish();

  Stream stream_;                     // an unopened socket until the upgrade is done
  std::unique_ptr<Upgrade> upgrade_;  // Beast's handshake, until it is done
  WsReader reader_;
  std::unique_ptr<TlsBuffers> tls_;  // TLS only
  std::unique_ptr<boost::asio::steady_timer> close_timer_;  // once the close is decided
  ServerContext& context_;
  const std::string connection_id_;
  const std::string address_;
  const bool v1_subprotocol_;  // the client asked for "hearth.v1"
  TokenBucket bucket_;  // this connection's message budget
  std::unique_ptr<TokenBucket> malformed_;  // its budget of undecodable frames, from the first
  std::atomic<Encoding> push_encoding_{Encoding::json};

  // Identity: set by Hello, or made anonymous on the first join.
  bool identified_ = false;
  bool hello_seen_ = false;
  std::string user_id_;
  // Anonymous: the name the person chose, or empty (a pseudonym per room).
  std::string display_name_;
  std::unique_ptr<Claims> claims_;  // a Hello token's, unless anonymous
  // Anonymous: this connection's identity in the rooms it has joined, so
  // that a rejoin is the same member: derived from user_id_ (room_member_id),
  // or taken from a resume token.
  struct RoomIdentity {
    std::string user_id;
    std::int64_t since = 0;
    bool resumed = false;
  };
  std::map<std::string, RoomIdentity> room_identities_;
  std::map<std::string, int> forgets_;  // ForgetMe calls by room: never forgotten (each was a join)
  std::string resume_token_for(const std::string& room_id, const Membership& membership) const;
  // The name a member shows in a room: the join's `chosen` one, the
  // connection's, or (anonymous, without one) the pseudonym of `user_id`.
  std::string name_in_room(const std::string& chosen, const std::string& user_id) const;

  Rooms rooms_;
  // A command waiting for its identity's budget (a lease from the shared
  // budget): reading stops meanwhile, so commands keep their order.
  struct Parked {
    v1::ClientMessage message;
    Encoding encoding;
  };
  std::optional<Parked> parked_;
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
  std::optional<CloseCode> closing_;
  bool close_started_ = false;  // our close frame is queued
  bool close_sent_ = false;     // and written
  bool peer_closed_ = false;    // the peer's close frame came
  bool failed_ = false;         // we closed for a broken rule: no close frame is awaited
  bool teardown_started_ = false;
  bool left_rooms_ = false;  // leave_rooms() ran: a join that lands now leaves at once
  std::uint16_t peer_code_ = 0;  // what the peer's close frame said, to echo
  std::size_t discarded_ = 0;    // bytes read and dropped after a close frame
  std::string pending_;          // bytes read but not yet handled, while reading is paused
  bool read_paused_ = false;
  bool read_since_tick_ = false;
  bool pinged_ = false;
  bool finished_ = false;
};

}  // namespace hearth
