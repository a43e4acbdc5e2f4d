#include "engine/redis/redis_connection.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/post.hpp>
#include <regex>

#include "base/log.hpp"
#include "base/metrics.hpp"
#include "engine/engine.hpp"

namespace hearth {

namespace asio = boost::asio;

namespace {
constexpr auto kMinBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = kRedisMaxBackoff;
constexpr auto kConnectTimeout = kRedisConnectTimeout;
// A command unanswered this long means the connection is dead (half-open,
// or Redis hung): drop it and reconnect.
constexpr auto kReplyTimeout = std::chrono::seconds(5);
}  // namespace

// ---------------------------------------------------------------------------
// Replies and addresses
// ---------------------------------------------------------------------------

RedisReply RedisReply::from(const redisReply& reply) {
  RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_STRING: out.type = Type::string; break;
    case REDIS_REPLY_STATUS: out.type = Type::status; break;
    case REDIS_REPLY_ERROR: out.type = Type::error; break;
    case REDIS_REPLY_INTEGER: out.type = Type::integer; break;
    case REDIS_REPLY_ARRAY: out.type = Type::array; break;
    default: out.type = Type::nil; break;
  }
  if (reply.str != nullptr) out.str.assign(reply.str, reply.len);
  out.integer = reply.integer;
  for (std::size_t i = 0; i < reply.elements; ++i) out.elements.push_back(from(*reply.element[i]));
  return out;
}

std::optional<RedisAddress> RedisAddress::parse(const std::string& url) {
  RedisAddress address;
  if (url.starts_with("unix://")) {
    address.unix_path = url.substr(7);
    if (address.unix_path.empty()) return std::nullopt;
    return address;
  }
  static const std::regex pattern(R"(redis://(?:([^:@/]*):([^@/]*)@)?([^:/@]+)(?::([0-9]{1,5}))?/?)");
  std::smatch match;
  if (!std::regex_match(url, match, pattern)) return std::nullopt;
  address.password = match[2];
  address.host = match[3];
  if (match[4].matched) address.port = std::stoi(match[4]);
  if (address.port <= 0 || address.port > 65535) return std::nullopt;
  return address;
}

std::string RedisAddress::describe() const {
  if (!unix_path.empty()) return "unix://" + unix_path;
  return "redis://" + host + ":" + std::to_string(port);
}

// ---------------------------------------------------------------------------
// Connecting
// ---------------------------------------------------------------------------

struct RedisConnection::Pending {
  ReplyHandler handler;
  std::chrono::steady_clock::time_point sent = std::chrono::steady_clock::now();
};

RedisConnection::RedisConnection(asio::any_io_executor strand, RedisAddress address, std::string name)
    : strand_(std::move(strand)),
      address_(std::move(address)),
      name_(std::move(name)),
      resolver_(strand_),
      reconnect_timer_(strand_),
      connect_timer_(strand_),
      watchdog_(strand_) {}

RedisConnection::~RedisConnection() {
  stopped_ = true;
  if (context_ != nullptr) {
    context_->data = nullptr;
    redisAsyncFree(context_);
  }
}

void RedisConnection::start(StateHandler on_state) {
  on_state_ = std::move(on_state);
  connect();
}

void RedisConnection::stop() {
  stopped_ = true;
  resolver_.cancel();
  reconnect_timer_.cancel();
  connect_timer_.cancel();
  watchdog_.cancel();
  if (context_ != nullptr) {
    redisAsyncContext* context = context_;
    context_ = nullptr;
    redisAsyncFree(context);  // fails what is in flight; calls ev_cleanup
  }
  up_ = false;
}

void RedisConnection::connect() {
  if (stopped_) return;
  boost::system::error_code not_numeric;
  asio::ip::make_address(address_.host, not_numeric);
  if (!address_.unix_path.empty() || !not_numeric) return connect_to(address_.host);
  // hiredis would call getaddrinfo() itself, blocking this shard's loop for
  // as long as DNS takes, on every reconnect. Asio's resolver runs it on a
  // thread of its own; the connect timeout bounds it.
  const std::uint64_t attempt = ++generation_;
  connect_timer_.expires_after(kConnectTimeout);
  connect_timer_.async_wait([self = shared_from_this(), attempt](boost::system::error_code error) {
    if (!error && self->generation_ == attempt && self->context_ == nullptr) self->resolver_.cancel();
  });
  resolver_.async_resolve(address_.host, std::to_string(address_.port),
                          [self = shared_from_this(), attempt](boost::system::error_code error,
                                                               asio::ip::tcp::resolver::results_type results) {
                            if (self->stopped_ || self->generation_ != attempt) return;
                            self->connect_timer_.cancel();
                            if (error || results.empty()) {
                              log::warn("redis ", self->name_, ": cannot resolve ", self->address_.describe(), ": ",
                                        error ? error.message() : "no address");
                              return self->schedule_reconnect();
                            }
                            // IPv4 first, as hiredis itself would try it.
                            auto chosen = results.begin()->endpoint().address();
                            for (const auto& result : results) {
                              if (result.endpoint().address().is_v4()) {
                                chosen = result.endpoint().address();
                                break;
                              }
                            }
                            self->connect_to(chosen.to_string());
                          });
}

void RedisConnection::connect_to(const std::string& ip) {
  if (stopped_) return;
  redisAsyncContext* context = address_.unix_path.empty() ? redisAsyncConnect(ip.c_str(), address_.port)
                                                          : redisAsyncConnectUnix(address_.unix_path.c_str());
  if (context == nullptr || context->err) {
    log::warn("redis ", name_, ": cannot connect to ", address_.describe(), ": ",
              context ? context->errstr : "out of memory");
    if (context) redisAsyncFree(context);
    return schedule_reconnect();
  }
  context_ = context;
  ++generation_;
  context->data = this;
  sent_.clear();
  // TCP keepalive, so that an idle connection whose peer vanished dies too
  // (a unix socket has no such thing, and hiredis would fail the context).
  if (address_.unix_path.empty()) redisEnableKeepAlive(&context->c);
  // The hooks must be in place before the connect callback is set: setting it
  // asks for the first write readiness, which is how hiredis sees the connect.
  descriptor_.emplace(strand_, context->c.fd);
  context->ev.data = this;
  context->ev.addRead = &ev_add_read;
  context->ev.delRead = &ev_del_read;
  context->ev.addWrite = &ev_add_write;
  context->ev.delWrite = &ev_del_write;
  context->ev.cleanup = &ev_cleanup;
  redisAsyncSetDisconnectCallback(context, &on_disconnect);
  redisAsyncSetConnectCallback(context, &on_connect);

  // Until Redis answers PING (after AUTH), not just until TCP connects.
  connect_timer_.expires_after(kConnectTimeout);
  connect_timer_.async_wait([self = shared_from_this(), context, generation = generation_](boost::system::error_code error) {
    if (error || self->generation_ != generation || self->up_ || self->context_ != context) return;
    log::warn("redis ", self->name_, ": connect to ", self->address_.describe(), " timed out");
    self->context_ = nullptr;
    redisAsyncFree(context);
    self->went_down("connect timed out");
  });
}

void RedisConnection::on_connect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr) return;
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback.
    log::warn("redis ", self->name_, ": cannot connect to ", self->address_.describe(), ": ", context->errstr);
    self->context_ = nullptr;
    self->went_down("connect failed");
    return;
  }
  // Up only once Redis answers a PING (after AUTH, when a password is set):
  // a server that refuses us (NOAUTH, a wrong password) is not "up".
  // (Not command(): that one refuses until the connection is up.) A send
  // that fails means the context is going away: the disconnect reconnects.
  auto send = [self](std::vector<std::string> args, ReplyHandler handler) { self->send(args, handler); };
  auto refused = [self](const std::string& what, const RedisReply& reply) {
    log::error("redis ", self->name_, ": ", what, " refused: ", reply.str);
    if (self->context_) redisAsyncDisconnect(self->context_);
  };
  auto ping = [self, send, refused] {
    send({"PING"}, [self, refused](std::error_code error, RedisReply reply) {
      if (error) return;  // the disconnect handles it
      if (reply.is_error() || reply.str != "PONG") return refused("PING", reply);
      self->connect_timer_.cancel();
      self->up_ = true;
      self->watch();
      self->backoff_ = kMinBackoff;
      log::info("redis ", self->name_, ": connected to ", self->address_.describe());
      if (self->on_state_) self->on_state_(true);
    });
  };
  if (self->address_.password.empty()) return ping();
  send({"AUTH", self->address_.password}, [ping, refused](std::error_code error, RedisReply reply) {
    if (error) return;
    if (reply.is_error()) return refused("AUTH", reply);
    ping();
  });
}

void RedisConnection::on_disconnect(const redisAsyncContext* context, int) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr) return;
  // hiredis frees the context after this callback.
  self->context_ = nullptr;
  self->went_down(context->err ? context->errstr : "disconnected");
}

void RedisConnection::went_down(const char* why) {
  const bool was_up = up_;
  up_ = false;
  if (was_up) {
    log::warn("redis ", name_, ": connection lost (", why, ")");
    if (on_state_) on_state_(false);
  }
  schedule_reconnect();
}

void RedisConnection::schedule_reconnect() {
  if (stopped_ || reconnect_scheduled_) return;
  reconnect_scheduled_ = true;
  // Full jitter: a random wait up to the current backoff, so that many nodes
  // do not all come back at the same instant.
  std::uniform_int_distribution<long> spread(kMinBackoff.count() / 2, backoff_.count());
  reconnect_timer_.expires_after(std::chrono::milliseconds(spread(jitter_)));
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  reconnect_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    self->reconnect_scheduled_ = false;
    if (!error && !self->stopped_ && self->context_ == nullptr) self->connect();
  });
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

void RedisConnection::command(std::vector<std::string> args, ReplyHandler handler) {
  if (!up_ || context_ == nullptr || !send(args, handler)) {
    metrics().redis_errors.fetch_add(1, std::memory_order_relaxed);
    asio::post(strand_, [handler = std::move(handler)] { handler(EngineError::unavailable, {}); });
  }
}

int RedisConnection::write(const std::vector<std::string>& args, void (*callback)(redisAsyncContext*, void*, void*),
                           void* privdata) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  return redisAsyncCommandArgv(context_, callback, privdata, static_cast<int>(argv.size()), argv.data(),
                               lengths.data());
}

bool RedisConnection::send(const std::vector<std::string>& args, ReplyHandler& handler) {
  auto pending = std::make_unique<Pending>(Pending{std::move(handler)});
  if (write(args, &on_reply, pending.get()) != REDIS_OK) {
    handler = std::move(pending->handler);  // back to the caller, unused
    return false;
  }
  pending.release();  // hiredis hands it to on_reply, which frees it
  sent_.push_back(std::chrono::steady_clock::now());
  return true;
}

void RedisConnection::watch() {
  watchdog_.expires_after(std::chrono::seconds(1));
  watchdog_.async_wait([self = shared_from_this(), generation = generation_](boost::system::error_code error) {
    if (error || self->generation_ != generation || !self->up_) return;
    // Replies come in order: the oldest command still unanswered tells.
    if (!self->sent_.empty() && std::chrono::steady_clock::now() - self->sent_.front() > kReplyTimeout) {
      log::warn("redis ", self->name_, ": no reply for ", kReplyTimeout.count(), " s; reconnecting");
      return self->drop();
    }
    self->watch();
  });
}

void RedisConnection::drop() {
  if (context_ == nullptr) return;
  redisAsyncContext* context = context_;
  context_ = nullptr;
  redisAsyncFree(context);  // fails what is in flight; runs on_disconnect if it was connected
  went_down("dropped");
}

void RedisConnection::on_reply(redisAsyncContext* context, void* reply, void* privdata) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(privdata));
  if (auto* self = static_cast<RedisConnection*>(context->data); self != nullptr && !self->sent_.empty()) {
    self->sent_.pop_front();
  }
  // A null reply: the connection went away with the command sent, so Redis
  // may or may not have run it.
  if (reply == nullptr) {
    metrics().redis_errors.fetch_add(1, std::memory_order_relaxed);
    return pending->handler(EngineError::outcome_unknown, {});
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - pending->sent;
  metrics().redis_seconds.observe(took.count());
  auto copied = RedisReply::from(*static_cast<redisReply*>(reply));
  if (copied.is_error()) metrics().redis_errors.fetch_add(1, std::memory_order_relaxed);
  pending->handler({}, std::move(copied));
}

void RedisConnection::subscribe(const std::string& channel) {
  if (!up_ || context_ == nullptr) return;  // the owner resubscribes on up
  write({"SUBSCRIBE", channel}, &on_subscription_reply, nullptr);
}

void RedisConnection::unsubscribe(const std::string& channel) {
  if (!up_ || context_ == nullptr) return;
  write({"UNSUBSCRIBE", channel}, &on_subscription_reply, nullptr);
}

void RedisConnection::on_subscription_reply(redisAsyncContext* context, void* reply, void*) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr || reply == nullptr) return;
  const auto* r = static_cast<redisReply*>(reply);
  // ["message", channel, payload], or a confirmation ["subscribe", channel, n].
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING) return;
  const std::string_view kind(r->element[0]->str, r->element[0]->len);
  if (kind == "subscribe" && self->on_subscribed_) {
    self->on_subscribed_(std::string(r->element[1]->str, r->element[1]->len));
    return;
  }
  if (kind != "message") return;
  if (self->on_message_) {
    self->on_message_(std::string(r->element[1]->str, r->element[1]->len),
                      std::string(r->element[2]->str, r->element[2]->len));
  }
}

// ---------------------------------------------------------------------------
// The event-loop hooks: hiredis says what it wants, Asio tells it when
// ---------------------------------------------------------------------------

void RedisConnection::arm(Interest& interest, asio::posix::stream_descriptor::wait_type type,
                          void (*handle)(redisAsyncContext*)) {
  if (interest.armed || !descriptor_) return;
  interest.armed = true;
  descriptor_->async_wait(type, [self = shared_from_this(), &interest, type, handle, context = context_,
                                 generation = generation_](boost::system::error_code error) {
    if (self->generation_ != generation) return;  // a previous connection's wait
    interest.armed = false;
    if (error || !interest.wanted) return;
    handle(context);  // may free the context
    if (self->generation_ == generation && interest.wanted) self->arm(interest, type, handle);
  });
}

void RedisConnection::release_descriptor() {
  ++generation_;  // waits of this connection, still queued, must not act
  read_ = write_ = Interest{};
  if (descriptor_) {
    // hiredis owns the fd and closes it; waits still pending end as aborted.
    descriptor_->release();
    descriptor_.reset();
  }
}

void RedisConnection::ev_add_read(void* privdata) {
  auto* self = static_cast<RedisConnection*>(privdata);
  self->read_.wanted = true;
  self->arm(self->read_, asio::posix::stream_descriptor::wait_read, &redisAsyncHandleRead);
}

void RedisConnection::ev_del_read(void* privdata) { static_cast<RedisConnection*>(privdata)->read_.wanted = false; }

void RedisConnection::ev_add_write(void* privdata) {
  auto* self = static_cast<RedisConnection*>(privdata);
  self->write_.wanted = true;
  self->arm(self->write_, asio::posix::stream_descriptor::wait_write, &redisAsyncHandleWrite);
}

void RedisConnection::ev_del_write(void* privdata) { static_cast<RedisConnection*>(privdata)->write_.wanted = false; }

void RedisConnection::ev_cleanup(void* privdata) { static_cast<RedisConnection*>(privdata)->release_descriptor(); }

}  // namespace hearth
