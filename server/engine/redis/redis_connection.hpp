// One connection to Redis, driven by the server's own io_context: hiredis'
// async API with its socket wrapped in an asio::posix::stream_descriptor, so
// readiness calls redisAsyncHandleRead/Write. No second event loop, no
// thread of its own.
//
// It keeps itself connected: on any failure it reconnects with jittered
// exponential backoff (100 ms doubling to 5 s), sends AUTH first when a
// password is set, and tells its owner when it comes up or goes down.
// Commands are pipelined: each is written at once, replies come in order.
// While it is down, a command fails at once with EngineError::unavailable;
// commands in flight when it goes down fail the same way: a caller never
// waits on a connection that is gone.
//
// Every method must be called on the connection's strand (the executor it
// was made with); every handler runs there.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "engine/redis/redis_reply.hpp"

struct redisAsyncContext;

namespace hearth {

// A lost connection is retried after a random wait that doubles from 100 ms
// up to this; each try may take up to kRedisConnectTimeout.
inline constexpr std::chrono::milliseconds kRedisMaxBackoff{5000};
inline constexpr std::chrono::milliseconds kRedisConnectTimeout{3000};

// Where Redis is: redis://[:password@]host[:port] or unix:///path/to/socket.
struct RedisAddress {
  std::string host;
  int port = 6379;
  std::string unix_path;
  std::string password;

  // Parses `url`; nullopt if it is not one of the forms above.
  static std::optional<RedisAddress> parse(const std::string& url);
  // For logs: never includes the password.
  std::string describe() const;
};

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  using ReplyHandler = std::function<void(std::error_code, RedisReply)>;
  using MessageHandler = std::function<void(const std::string& channel, const std::string& payload)>;
  using StateHandler = std::function<void(bool up)>;

  RedisConnection(boost::asio::any_io_executor strand, RedisAddress address, std::string name);
  ~RedisConnection();

  // Connects, and keeps reconnecting until stop(). `on_state` hears every
  // change between up and down.
  void start(StateHandler on_state);
  void stop();
  bool up() const { return up_; }
  // Drops the connection now (it reconnects): for an owner that knows it is
  // dead before TCP does.
  void drop();

  // Sends one command (binary-safe arguments).
  void command(std::vector<std::string> args, ReplyHandler handler);

  // Subscription mode: after subscribe() this connection only carries
  // (UN)SUBSCRIBE. Messages of every subscribed channel go to `on_message`.
  // Subscriptions are not replayed by this class: the owner resubscribes when
  // it hears the connection come up.
  void set_message_handler(MessageHandler on_message) { on_message_ = std::move(on_message); }
  // Hears each confirmed SUBSCRIBE, by channel.
  void set_subscribed_handler(std::function<void(const std::string&)> on_subscribed) {
    on_subscribed_ = std::move(on_subscribed);
  }
  void subscribe(const std::string& channel);
  void unsubscribe(const std::string& channel);

 private:
  struct Pending;  // one command's handler, handed to hiredis as privdata

  // Resolves a host name (Asio's resolver: off the loop), then connect_to().
  void connect();
  // Hands hiredis a numeric address (or the unix socket): it never resolves.
  void connect_to(const std::string& ip);
  void watch();
  // Writes one command to hiredis' output buffer; REDIS_OK or REDIS_ERR.
  int write(const std::vector<std::string>& args, void (*callback)(redisAsyncContext*, void*, void*), void* privdata);
  // write() with a reply handler; on failure `handler` is left to the caller.
  bool send(const std::vector<std::string>& args, ReplyHandler& handler);
  void schedule_reconnect();
  void went_down(const char* why);
  // One direction of readiness: whether hiredis wants it, and whether a wait
  // for it is armed.
  struct Interest {
    bool wanted = false;
    bool armed = false;
  };
  void arm(Interest& interest, boost::asio::posix::stream_descriptor::wait_type type,
           void (*handle)(redisAsyncContext*));
  void release_descriptor();

  static void on_connect(const redisAsyncContext* context, int status);
  static void on_disconnect(const redisAsyncContext* context, int status);
  static void on_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void on_subscription_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void ev_add_read(void* privdata);
  static void ev_del_read(void* privdata);
  static void ev_add_write(void* privdata);
  static void ev_del_write(void* privdata);
  static void ev_cleanup(void* privdata);

  boost::asio::any_io_executor strand_;
  RedisAddress address_;
  std::string name_;
  StateHandler on_state_;
  MessageHandler on_message_;
  std::function<void(const std::string&)> on_subscribed_;

  redisAsyncContext* context_ = nullptr;
  std::optional<boost::asio::posix::stream_descriptor> descriptor_;
  Interest read_, write_;
  bool up_ = false;
  bool stopped_ = false;
  bool reconnect_scheduled_ = false;
  std::uint64_t generation_ = 0;  // one per hiredis context (and descriptor)
  std::chrono::milliseconds backoff_{100};
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer reconnect_timer_;
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer watchdog_;
  std::deque<std::chrono::steady_clock::time_point> sent_;  // send times of unanswered commands
  std::mt19937 jitter_{std::random_device{}()};
};

}  // namespace hearth
