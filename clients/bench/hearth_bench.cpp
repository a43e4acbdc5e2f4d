// hearth-bench: a load generator for Hearth and the servers it is measured
// against (docs/performance.md).
//
// N subscriber connections over R rooms and K server URLs, P publishers at a
// paced (open-loop) rate or closed-loop; every message carries its
// publisher, sequence and send time, and subscribers count loss, duplicates
// and order and record publish-to-deliver latency. After a warm-up it
// measures for D seconds, then prints a summary and one JSON line.
//
// The WebSocket client is written by hand rather than with Beast's stream:
// the generator shares two cores with the server it measures, so it must
// cost far less per delivered frame. Each connection reads whole socket
// buffers into one reused buffer and finds frames in place: no allocation
// and no decoding per delivered frame (the payload's fields are at fixed
// offsets after a marker).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "hearth/v1/protocol.pb.h"

namespace asio = boost::asio;
namespace po = boost::program_options;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

// ---------------------------------------------------------------------------
// Payload: "HBM1 PPPPPP SSSSSSSSSS TTTTTTTTTTTTTTTTTTTT " then padding, ASCII
// so that it is valid text in every protocol (JSON, protobuf strings).
// ---------------------------------------------------------------------------

constexpr std::string_view kMarker = "HBM1 ";
constexpr std::size_t kFieldsSize = 5 + 7 + 11 + 21;  // marker, publisher, seq, time

std::string make_payload(std::uint32_t publisher, std::uint64_t seq, std::uint64_t sent_ns, std::size_t size) {
  char head[kFieldsSize + 1];
  std::snprintf(head, sizeof head, "HBM1 %06u %010llu %020llu ", publisher, static_cast<unsigned long long>(seq),
                static_cast<unsigned long long>(sent_ns));
  std::string out(head, kFieldsSize);
  if (out.size() < size) out.append(size - out.size(), 'x');
  return out;
}

std::uint64_t parse_digits(const char* at, std::size_t count) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < count; ++i) value = value * 10 + static_cast<std::uint64_t>(at[i] - '0');
  return value;
}

struct Stamp {
  std::uint32_t publisher;
  std::uint64_t seq;
  std::uint64_t sent_ns;
};

std::optional<Stamp> find_stamp(std::string_view frame) {
  const auto at = frame.find(kMarker);
  if (at == std::string_view::npos || frame.size() - at < kFieldsSize) return std::nullopt;
  const char* p = frame.data() + at + kMarker.size();
  return Stamp{static_cast<std::uint32_t>(parse_digits(p, 6)), parse_digits(p + 7, 10), parse_digits(p + 18, 20)};
}

// ---------------------------------------------------------------------------
// Latency histogram: log-linear buckets (HdrHistogram's idea), 32 per power
// of two, over nanoseconds: about 3 % resolution, fixed memory.
// ---------------------------------------------------------------------------

class Histogram {
 public:
  void record(std::uint64_t ns) {
    ++counts_[index(ns)];
    max_ = std::max(max_, ns);
    ++total_;
  }
  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    max_ = std::max(max_, other.max_);
    total_ += other.total_;
  }
  // The upper edge of the bucket holding the q-quantile, in ns.
  std::uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(upper(i), max_);
    }
    return max_;
  }
  std::uint64_t max() const { return max_; }
  std::uint64_t total() const { return total_; }

 private:
  static constexpr int kSubBits = 5;
  static std::size_t index(std::uint64_t ns) {
    if (ns < (1u << kSubBits)) return ns;
    const int msb = 63 - __builtin_clzll(ns);
    const int shift = msb - kSubBits;
    const std::uint64_t sub = (ns >> shift) & ((1u << kSubBits) - 1);
    return static_cast<std::size_t>((shift + 1) << kSubBits) + sub;
  }
  static std::uint64_t upper(std::size_t i) {
    if (i < (1u << kSubBits)) return i;
    const std::size_t shift = (i >> kSubBits) - 1;
    const std::uint64_t sub = i & ((1u << kSubBits) - 1);
    return (((1ull << kSubBits) + sub + 1) << shift) - 1;
  }
  std::array<std::uint64_t, 64 << kSubBits> counts_{};
  std::uint64_t max_ = 0;
  std::uint64_t total_ = 0;
};

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

struct Options {
  std::string protocol = "hearth";  // hearth, raw, socketio, nchan
  std::vector<std::string> urls;    // subscribers spread over them
  std::string publish_url;          // default: the first of urls
  std::string label;
  std::string token;  // hearth: a host token to create the rooms
  std::uint32_t rooms = 1;
  std::uint32_t subscribers = 100;
  std::uint32_t publishers = 1;
  double rate = 100;       // messages a second over all publishers; 0: closed loop
  std::uint32_t window = 8;  // closed loop: messages in flight per publisher
  double duration = 10;
  double warmup = 2;
  double drain = 3;
  double hold = 0;  // no publishers: how long to hold the connections
  std::size_t size = 150;
  unsigned threads = 1;
  unsigned connect_concurrency = 256;
  std::string room_kind = "support";  // hearth: the kind of the rooms created
  // Loopback source addresses (127.0.0.1, .2, ...) to connect from: one
  // address reaches one server port from about 28,000 ports only.
  unsigned sources = 1;
  std::vector<int> pids;
};

struct Url {
  std::string host;
  std::string port;
  std::string path;
};

Url parse_url(const std::string& text) {
  static const std::regex pattern(R"(wss?://([^:/]+)(?::([0-9]+))?(/.*)?)");
  std::smatch match;
  if (!std::regex_match(text, match, pattern)) throw std::runtime_error("not a ws:// URL: " + text);
  return Url{match[1], match[2].matched ? std::string(match[2]) : "80", match[3].matched ? std::string(match[3]) : "/"};
}

// ---------------------------------------------------------------------------
// Process accounting from /proc
// ---------------------------------------------------------------------------

// User plus system CPU seconds of `pid`, or of this process for 0.
double cpu_seconds(int pid) {
  if (pid == 0) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  }
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) in parentheses.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::uint64_t rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6));
  }
  return 0;
}

// ---------------------------------------------------------------------------
// The run's shared state
// ---------------------------------------------------------------------------

// One generator thread's connections and counts. `received` is read by the
// main thread while the run drains; only this shard's thread writes it.
struct alignas(64) Shard {
  asio::io_context io{1};
  Histogram latency;
  Histogram join_latency;  // subscribers: from connecting to being in the room
  std::atomic<std::uint64_t> received{0};  // stamped frames inside the window
  std::uint64_t duplicates = 0;
  std::uint64_t reordered = 0;
  std::uint64_t frames = 0;  // every frame subscribers read
};

struct Run {
  Options options;
  std::vector<std::unique_ptr<Shard>> shards;
  std::atomic<std::uint32_t> open{0};    // connections ready (joined)
  std::atomic<std::uint32_t> failed{0};  // connections that failed
  std::atomic<std::uint32_t> connecting{0};
  std::atomic<std::uint64_t> window_start{UINT64_MAX};  // ns; stamps at or after it count
  std::atomic<std::uint64_t> window_end{UINT64_MAX};
  std::atomic<bool> publishing{false};
  std::vector<std::uint32_t> room_subscribers;  // per room
  // Per publisher: its room and how many it sent inside the window.
  std::vector<std::uint32_t> publisher_room;
  std::unique_ptr<std::atomic<std::uint64_t>[]> sent_in_window;
  // Per publisher: the stamp of its latest message. Once every one is past
  // the window's end, sent_in_window is final (a late open-loop publisher
  // still sends messages due inside the window after it has closed).
  std::unique_ptr<std::atomic<std::uint64_t>[]> last_stamp;
  std::string last_error;
  std::mutex error_mutex;

  bool in_window(std::uint64_t ns) const {
    return ns >= window_start.load(std::memory_order_relaxed) && ns < window_end.load(std::memory_order_relaxed);
  }
  void fail(const std::string& why) {
    failed.fetch_add(1);
    std::lock_guard lock(error_mutex);
    last_error = why;
  }
};

std::string room_name(std::uint32_t index) { return "bench-" + std::to_string(index); }

// ---------------------------------------------------------------------------
// One WebSocket client connection
// ---------------------------------------------------------------------------

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Role { admin, subscriber, publisher };

  Connection(Run& run, Shard& shard, Url url, Role role, std::uint32_t room, std::uint32_t publisher)
      : run_(run), shard_(shard), socket_(shard.io), url_(std::move(url)), role_(role), room_(room),
        publisher_(publisher), timer_(shard.io) {
    if (role_ == Role::subscriber || role_ == Role::publisher) last_seq_.assign(run.options.publishers, 0);
  }

  void start() {
    started_ns_ = now_ns();
    auto resolver = std::make_shared<asio::ip::tcp::resolver>(shard_.io);
    resolver->async_resolve(url_.host, url_.port, [self = shared_from_this(), resolver](auto error, auto endpoints) {
      if (error) return self->run_.fail("resolve: " + error.message());
      const auto connected = [self](auto connect_error) {
        if (connect_error) return self->run_.fail("connect: " + connect_error.message());
        self->socket_.set_option(asio::ip::tcp::no_delay(true));
        self->upgrade();
      };
      if (self->run_.options.sources <= 1) {
        return asio::async_connect(self->socket_, endpoints, [connected](auto e, auto) { connected(e); });
      }
      const auto endpoint = endpoints.begin()->endpoint();
      self->socket_.open(endpoint.protocol());
      const auto from = asio::ip::make_address_v4(0x7f000001u + self->source % self->run_.options.sources);
      boost::system::error_code bind_error;
      self->socket_.bind({from, 0}, bind_error);
      if (bind_error) return self->run_.fail("bind: " + bind_error.message());
      self->socket_.async_connect(endpoint, connected);
    });
  }

  // Publishing (publisher role), on this connection's thread.
  void start_publishing() {
    asio::post(shard_.io, [self = shared_from_this()] {
      const auto& options = self->run_.options;
      if (options.rate > 0) {
        // Publishers start spread over one interval, not all at once.
        const auto interval = static_cast<std::uint64_t>(1e9 * options.publishers / options.rate);
        self->next_send_ = now_ns() + interval * self->publisher_ / options.publishers;
        self->pace();
      } else {
        for (std::uint32_t i = 0; i < self->run_.options.window; ++i) self->publish(now_ns());
      }
    });
  }

 private:
  // --- handshake -----------------------------------------------------------
  // Where this connection's upgrade goes: Socket.IO's Engine.IO endpoint,
  // Nchan's per-channel locations, or the URL as given.
  std::string target() const {
    const auto& protocol = run_.options.protocol;
    if (protocol == "socketio") return url_.path + "?EIO=4&transport=websocket";
    if (protocol == "nchan" && role_ == Role::publisher) return url_.path + "pubsub/" + room_name(room_);
    if (protocol == "nchan") return url_.path + "sub/" + room_name(room_);
    return url_.path;
  }

  void upgrade() {
    auto request = std::make_shared<std::string>();
    *request = "GET " + target() + " HTTP/1.1\r\nHost: " + url_.host + ":" + url_.port +
               "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: aGVhcnRoLWJlbmNoLWtleQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n";
    asio::async_write(socket_, asio::buffer(*request), [self = shared_from_this(), request](auto error, auto) {
      if (error) return self->run_.fail("upgrade write: " + error.message());
      auto head = std::make_shared<asio::streambuf>();
      asio::async_read_until(self->socket_, *head, "\r\n\r\n", [self, head](auto read_error, std::size_t bytes) {
        if (read_error) return self->run_.fail("upgrade read: " + read_error.message());
        const std::string text(asio::buffers_begin(head->data()), asio::buffers_begin(head->data()) + bytes);
        if (!text.starts_with("HTTP/1.1 101")) return self->run_.fail("upgrade refused: " + text.substr(0, 40));
        head->consume(bytes);
        // Bytes after the response head are frames already.
        self->buffer_.resize(std::max<std::size_t>(4096, head->size() * 2));
        asio::buffer_copy(asio::buffer(self->buffer_), head->data());
        self->end_ = head->size();
        self->opened();
        self->parse();
        self->read();
      });
    });
  }

  // --- frames --------------------------------------------------------------
  void read() {
    if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
    socket_.async_read_some(asio::buffer(buffer_.data() + end_, buffer_.size() - end_),
                            [self = shared_from_this()](auto error, std::size_t bytes) {
                              if (error) {
                                if (!self->closing_) self->run_.fail("read: " + error.message());
                                return;
                              }
                              self->end_ += bytes;
                              self->parse();
                              self->read();
                            });
  }

  // Handles every whole frame in the buffer, then moves the rest to its start.
  void parse() {
    std::size_t at = 0;
    for (;;) {
      const std::size_t left = end_ - at;
      if (left < 2) break;
      const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + at);
      const bool fin = (p[0] & 0x80) != 0;
      const int opcode = p[0] & 0x0F;
      std::uint64_t length = p[1] & 0x7F;
      std::size_t header = 2;
      if (length == 126) {
        if (left < 4) break;
        length = (std::uint64_t{p[2]} << 8) | p[3];
        header = 4;
      } else if (length == 127) {
        if (left < 10) break;
        length = 0;
        for (int i = 0; i < 8; ++i) length = (length << 8) | p[2 + i];
        header = 10;
      }
      if (left < header + length) {
        if (header + length > buffer_.size()) buffer_.resize(header + length);
        break;
      }
      const std::string_view payload(buffer_.data() + at + header, length);
      if (fin && opcode != 0) {
        on_frame(opcode, payload);  // the usual case: a whole message in one frame
      } else {
        // A fragmented message (a large snapshot): put it together first.
        if (opcode != 0) fragmented_opcode_ = opcode;
        fragments_.append(payload);
        if (fin) {
          on_frame(fragmented_opcode_, fragments_);
          fragments_.clear();
        }
      }
      at += header + length;
    }
    if (at > 0) {
      std::memmove(buffer_.data(), buffer_.data() + at, end_ - at);
      end_ -= at;
    }
  }

  void on_frame(int opcode, std::string_view payload) {
    if (opcode == 0x9) return send_frame(0xA, std::string(payload));  // ping: pong
    if (opcode == 0x8) {
      closing_ = true;
      return;
    }
    if (const auto stamp = find_stamp(payload)) return on_stamp(*stamp);
    on_control(payload, opcode == 0x2);
  }

  void on_stamp(const Stamp& stamp) {
    const std::uint64_t arrived = now_ns();
    if (role_ == Role::publisher) {
      // Closed loop: our own message came back; send the next.
      if (stamp.publisher == publisher_ && run_.options.rate == 0 && run_.publishing.load(std::memory_order_relaxed)) {
        publish(arrived);
      }
      return;
    }
    ++shard_.frames;
    if (stamp.publisher >= last_seq_.size()) return;
    std::uint64_t& last = last_seq_[stamp.publisher];
    const bool counted = run_.in_window(stamp.sent_ns);
    if (stamp.seq <= last) {
      if (counted) ++(stamp.seq == last ? shard_.duplicates : shard_.reordered);
      return;
    }
    last = stamp.seq;
    if (!counted) return;
    shard_.received.store(shard_.received.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    shard_.latency.record(arrived - stamp.sent_ns);
  }

  void send_frame(int opcode, std::string payload) {
    // Client frames are masked (RFC 6455 5.3); a fixed key does.
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    std::string frame;
    frame.reserve(payload.size() + 14);
    frame.push_back(static_cast<char>(0x80 | opcode));
    if (payload.size() < 126) {
      frame.push_back(static_cast<char>(0x80 | payload.size()));
    } else if (payload.size() < 65536) {
      frame.push_back(static_cast<char>(0x80 | 126));
      frame.push_back(static_cast<char>(payload.size() >> 8));
      frame.push_back(static_cast<char>(payload.size() & 0xFF));
    } else {
      frame.push_back(static_cast<char>(0x80 | 127));
      for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xFF));
    }
    frame.append(reinterpret_cast<const char*>(mask), 4);
    for (std::size_t i = 0; i < payload.size(); ++i) frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    outbox_.push_back(std::move(frame));
    if (!writing_) write_next();
  }

  void write_next() {
    if (outbox_.empty()) return;
    writing_ = true;
    asio::async_write(socket_, asio::buffer(outbox_.front()), [self = shared_from_this()](auto error, auto) {
      self->writing_ = false;
      if (error) return self->run_.fail("write: " + error.message());
      self->outbox_.pop_front();
      self->write_next();
    });
  }

  // --- protocols -----------------------------------------------------------
  void opened() {
    const auto& protocol = run_.options.protocol;
    if (protocol == "hearth") {
      hearth::v1::ClientMessage message;
      if (role_ == Role::admin) {
        message.set_request_id(1);
        message.mutable_hello()->set_token(run_.options.token);
        send_frame(0x2, message.SerializeAsString());
        // Then each room is created and left, one after the other: the
        // creator is no member of the run's rooms, and never holds more
        // rooms than a connection may.
        return create_next();
      }
      message.set_request_id(1);
      message.set_room_id(room_name(room_));
      message.mutable_join_room();
      send_frame(0x2, message.SerializeAsString());
    } else if (protocol == "raw") {
      send_frame(0x1, room_name(room_));
      ready();
    } else if (protocol == "nchan") {
      ready();  // the location names the channel
    }
    // Socket.IO: the server speaks first (Engine.IO open packet).
  }

  void on_control(std::string_view payload, bool binary) {
    if (run_.options.protocol == "socketio") return on_socketio(payload);
    if (run_.options.protocol != "hearth" || !binary) return;
    hearth::v1::ServerMessage message;
    if (!message.ParseFromArray(payload.data(), static_cast<int>(payload.size())) || !message.has_reply()) return;
    const auto& reply = message.reply();
    if (role_ == Role::admin) {
      // A room left over from an earlier run is as good; so is leaving a
      // room the create did not join (it existed).
      const bool fine = !reply.has_error() || reply.error().code() == hearth::v1::ROOM_EXISTS ||
                        reply.error().code() == hearth::v1::NOT_IN_ROOM;
      if (!fine) return run_.fail("create: " + reply.error().message());
      if (reply.request_id() < 2) return;  // hello
      if (reply.request_id() % 2 == 0) {
        // Created (or there already): now leave it.
        hearth::v1::ClientMessage leave;
        leave.set_request_id(reply.request_id() + 1);
        leave.set_room_id(room_name(created_));
        leave.mutable_leave_room();
        return send_frame(0x2, leave.SerializeAsString());
      }
      if (++created_ == run_.options.rooms) {
        closing_ = true;
        return ready();
      }
      return create_next();
    }
    if (reply.request_id() == 1) {
      if (reply.has_error()) return run_.fail("join: " + reply.error().message());
      ready();
    } else if (reply.has_error() && !reported_) {
      reported_ = true;
      run_.fail("publish: " + reply.error().message());
    }
  }

  // Engine.IO v4 packets as text frames: "0{...}" open, "2" ping; Socket.IO
  // packets inside "4": "40" connect, "42[...]" event, "43ID[...]" ack.
  void on_socketio(std::string_view packet) {
    if (packet == "2") return send_frame(0x1, "3");
    if (packet.starts_with("0{")) return send_frame(0x1, "40");
    if (packet.starts_with("40")) return send_frame(0x1, "421[\"join\",\"" + room_name(room_) + "\"]");
    if (packet.starts_with("431")) return ready();
    if (packet.starts_with("44")) run_.fail("socket.io: " + std::string(packet));
  }

  void ready() {
    if (role_ == Role::subscriber) shard_.join_latency.record(now_ns() - started_ns_);
    run_.open.fetch_add(1);
  }

  // Hearth's admin: creates room created_; its reply sends the leave.
  void create_next() {
    hearth::v1::ClientMessage create;
    create.set_request_id(2 + 2 * created_);
    create.set_room_id(room_name(created_));
    create.mutable_create_room()->set_kind(run_.options.room_kind == "ama" ? hearth::v1::ROOM_KIND_AMA
                                                                           : hearth::v1::ROOM_KIND_SUPPORT);
    send_frame(0x2, create.SerializeAsString());
  }

  // --- publishing ----------------------------------------------------------
  void pace() {
    if (!run_.publishing.load(std::memory_order_relaxed)) return;
    const auto interval = static_cast<std::uint64_t>(1e9 * run_.options.publishers / run_.options.rate);
    // Open loop: every message due by now goes, stamped with when it was due,
    // so a late generator shows as latency rather than hiding it.
    const std::uint64_t now = now_ns();
    while (next_send_ <= now) {
      publish(next_send_);
      next_send_ += interval;
    }
    timer_.expires_at(Clock::time_point(std::chrono::nanoseconds(next_send_)));
    timer_.async_wait([self = shared_from_this()](auto error) {
      if (!error) self->pace();
    });
  }

  void publish(std::uint64_t stamp_ns) {
    const std::uint64_t seq = ++sent_;
    if (run_.in_window(stamp_ns)) run_.sent_in_window[publisher_].fetch_add(1, std::memory_order_relaxed);
    run_.last_stamp[publisher_].store(stamp_ns, std::memory_order_release);
    std::string payload = make_payload(publisher_, seq, stamp_ns, run_.options.size);
    if (run_.options.protocol == "socketio") {
      send_frame(0x1, "42[\"pub\",\"" + room_name(room_) + "\",\"" + payload + "\"]");
    } else if (run_.options.protocol == "hearth") {
      hearth::v1::ClientMessage message;
      message.set_request_id(static_cast<std::uint32_t>(1 + seq));
      message.set_room_id(room_name(room_));
      message.mutable_send_message()->set_text(std::move(payload));
      send_frame(0x2, message.SerializeAsString());
    } else {
      send_frame(0x1, std::move(payload));
    }
  }

  Run& run_;
  Shard& shard_;
  asio::ip::tcp::socket socket_;
  Url url_;
  Role role_;
  std::uint32_t room_;
  std::uint32_t publisher_;
  std::uint64_t started_ns_ = 0;  // when start() began connecting

 public:
  std::uint32_t source = 0;  // which loopback source address (--sources)

 private:
  asio::steady_timer timer_;
  std::vector<char> buffer_;
  std::size_t end_ = 0;
  std::string fragments_;  // a fragmented message so far
  int fragmented_opcode_ = 0;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool closing_ = false;
  bool reported_ = false;
  std::uint32_t created_ = 0;
  std::vector<std::uint64_t> last_seq_;  // per publisher
  std::uint64_t sent_ = 0;
  std::uint64_t next_send_ = 0;
};

// Waits (bounded) until `done` holds; false on timeout.
template <typename Done>
bool wait_until(Done done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::optional<Options> parse_options(int argc, char* argv[]) {
  Options o;
  std::string pids;
  po::options_description desc(
      "hearth-bench [options]\n\nSubscribers over rooms and server URLs, publishers at a paced or closed-loop "
      "rate; prints a summary and one JSON line (docs/performance.md).\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help", "print this help and exit")
    ("protocol", po::value(&o.protocol)->default_value(o.protocol),
     "hearth; raw (bench/raw_broadcast); socketio (bench/socketio); nchan (bench/nchan, URL ws://HOST:PORT/)")
    ("url", po::value(&o.urls)->multitoken(), "server WebSocket URL; give several to spread subscribers")
    ("publish-url", po::value(&o.publish_url), "where publishers connect (default: the first --url)")
    ("label", po::value(&o.label), "a name for this run in the JSON line")
    ("token", po::value(&o.token), "hearth: a host token (room *) to create the rooms with")
    ("rooms", po::value(&o.rooms)->default_value(o.rooms), "rooms")
    ("subscribers", po::value(&o.subscribers)->default_value(o.subscribers), "subscriber connections, over all rooms")
    ("publishers", po::value(&o.publishers)->default_value(o.publishers), "publishers, spread over the rooms")
    ("rate", po::value(&o.rate)->default_value(o.rate), "messages a second over all publishers; 0: closed loop")
    ("window", po::value(&o.window)->default_value(o.window), "closed loop: messages in flight per publisher")
    ("duration", po::value(&o.duration)->default_value(o.duration), "seconds measured")
    ("warmup", po::value(&o.warmup)->default_value(o.warmup), "seconds of publishing before measuring")
    ("drain", po::value(&o.drain)->default_value(o.drain), "seconds to wait for the last deliveries")
    ("hold", po::value(&o.hold)->default_value(o.hold), "with no publishers: seconds to hold the connections")
    ("size", po::value(&o.size)->default_value(o.size), "message bytes")
    ("sources", po::value(&o.sources)->default_value(o.sources),
     "loopback source addresses to connect from (127.0.0.1 up), for more connections than one has ports")
    ("room-kind", po::value(&o.room_kind)->default_value(o.room_kind), "hearth: the rooms' kind, support or ama")
    ("threads", po::value(&o.threads)->default_value(o.threads), "generator threads")
    ("connect-concurrency", po::value(&o.connect_concurrency)->default_value(o.connect_concurrency),
     "connections being opened at once")
    ("pids", po::value(&pids), "comma-separated server PIDs whose CPU and memory to report");
  // clang-format on
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, desc), vm);
  if (vm.count("help")) {
    std::cout << desc;
    return std::nullopt;
  }
  po::notify(vm);
  if (o.urls.empty()) throw std::runtime_error("give at least one --url");
  if (o.publish_url.empty()) o.publish_url = o.urls.front();
  if (o.rooms == 0 || o.threads == 0 || o.size < kFieldsSize) throw std::runtime_error("bad --rooms/--threads/--size");
  std::stringstream list(pids);
  for (std::string item; std::getline(list, item, ',');) {
    if (!item.empty()) o.pids.push_back(std::stoi(item));
  }
  return o;
}

}  // namespace

int main(int argc, char* argv[]) {
  std::optional<Options> parsed;
  try {
    parsed = parse_options(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "hearth-bench: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (!parsed) return 0;
  // Thousands of sockets: as many descriptors as we may have.
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  Run run;
  run.options = *parsed;
  const Options& o = run.options;
  for (unsigned i = 0; i < o.threads; ++i) run.shards.push_back(std::make_unique<Shard>());
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  for (auto& shard : run.shards) {
    work.emplace_back(shard->io.get_executor());
    threads.emplace_back([&io = shard->io] { io.run(); });
  }
  auto stop = [&] {
    work.clear();
    for (auto& shard : run.shards) shard->io.stop();
    for (auto& thread : threads) thread.join();
  };
  auto fail = [&](const std::string& what) {
    std::cerr << "hearth-bench: " << what << (run.last_error.empty() ? "" : ": " + run.last_error) << "\n";
    stop();
    return 1;
  };

  std::vector<std::shared_ptr<Connection>> connections;
  if (o.protocol == "hearth" && !o.token.empty()) {
    auto admin = std::make_shared<Connection>(run, *run.shards[0], parse_url(o.publish_url),
                                              Connection::Role::admin, 0, 0);
    admin->start();
    // One room after another, each created, joined and left: a leave right
    // after a join waits for the room's next presence batch (20 ms).
    const auto creating = std::chrono::seconds(20 + o.rooms / 20);
    if (!wait_until([&] { return run.open.load() == 1 || run.failed.load(); }, creating) ||
        run.failed.load()) {
      return fail("could not create the rooms");
    }
    run.open = 0;
  }

  // The servers' CPU seconds and resident kB, summed over their PIDs.
  const auto servers_cpu = [&o] {
    double total = 0;
    for (const int pid : o.pids) total += cpu_seconds(pid);
    return total;
  };
  const auto servers_rss = [&o] {
    std::uint64_t total = 0;
    for (const int pid : o.pids) total += rss_kb(pid);
    return total;
  };
  const std::uint64_t server_rss_before = servers_rss();
  run.room_subscribers.assign(o.rooms, 0);
  run.publisher_room.resize(o.publishers);
  run.sent_in_window = std::make_unique<std::atomic<std::uint64_t>[]>(std::max<std::uint32_t>(1, o.publishers));
  run.last_stamp = std::make_unique<std::atomic<std::uint64_t>[]>(std::max<std::uint32_t>(1, o.publishers));

  // Subscribers, round robin over rooms, URLs and threads, a bounded number
  // of handshakes at a time.
  const auto connect_start = Clock::now();
  const double connect_cpu_before = servers_cpu();
  std::vector<Url> urls;
  for (const auto& url : o.urls) urls.push_back(parse_url(url));
  for (std::uint32_t i = 0; i < o.subscribers; ++i) {
    const std::uint32_t room = i % o.rooms;
    ++run.room_subscribers[room];
    auto connection = std::make_shared<Connection>(run, *run.shards[i % o.threads], urls[i % urls.size()],
                                                   Connection::Role::subscriber, room, 0);
    connection->source = i;
    if (!wait_until([&] { return i - run.open.load() - run.failed.load() < o.connect_concurrency; },
                    std::chrono::seconds(30))) {
      return fail("connections stalled");
    }
    if (run.failed.load()) return fail("a connection failed");
    asio::post(run.shards[i % o.threads]->io, [connection] { connection->start(); });
    connections.push_back(std::move(connection));
  }
  if (!wait_until([&] { return run.open.load() + run.failed.load() >= o.subscribers; }, std::chrono::seconds(120)) ||
      run.failed.load()) {
    return fail("subscribers did not all connect");
  }
  const double connect_seconds = std::chrono::duration<double>(Clock::now() - connect_start).count();
  // What the joins cost the servers: their CPU from the first connect until
  // the last subscriber is in, and then until they are nearly idle again
  // (news of the joins may still be going out), below.
  double connect_cpu = servers_cpu() - connect_cpu_before;

  std::vector<std::shared_ptr<Connection>> publishers;
  const Url publish_url = parse_url(o.publish_url);
  for (std::uint32_t p = 0; p < o.publishers; ++p) {
    const std::uint32_t room = p % o.rooms;
    run.publisher_room[p] = room;
    auto connection = std::make_shared<Connection>(run, *run.shards[p % o.threads], publish_url,
                                                   Connection::Role::publisher, room, p);
    asio::post(run.shards[p % o.threads]->io, [connection] { connection->start(); });
    publishers.push_back(std::move(connection));
  }
  if (!wait_until([&] { return run.open.load() + run.failed.load() >= o.subscribers + o.publishers; },
                  std::chrono::seconds(60)) ||
      run.failed.load()) {
    return fail("publishers did not all connect");
  }

  // Settle: joins can keep a server busy for a while (Hearth tells every
  // member of each join): publishing starts once the servers' CPU has been
  // nearly idle for half a second, or after a minute.
  if (!o.pids.empty()) {
    const auto settle_deadline = Clock::now() + std::chrono::seconds(60);
    const double settle_start = servers_cpu();
    double last = settle_start;
    while (Clock::now() < settle_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      const double now = servers_cpu();
      const bool idle = now - last < 0.05;
      last = now;
      if (idle) break;
    }
    connect_cpu += last - settle_start;
  }

  // Publish: warm up, measure, stop, drain.
  double cpu_before = 0, cpu_after = 0, bench_before = 0, bench_after = 0;
  const auto sample = [&](double& servers, double& self) {
    servers = servers_cpu();
    self = cpu_seconds(0);
  };
  std::uint64_t expected = 0;
  std::uint64_t sent = 0;
  double measured_seconds = o.hold;
  if (o.publishers > 0) {
    run.publishing = true;
    for (const auto& publisher : publishers) publisher->start_publishing();
    std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
    run.window_start = now_ns();
    sample(cpu_before, bench_before);
    const auto measure_start = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(o.duration));
    run.window_end = now_ns();
    sample(cpu_after, bench_after);
    measured_seconds = std::chrono::duration<double>(Clock::now() - measure_start).count();
    wait_until(
        [&] {
          for (std::uint32_t p = 0; p < o.publishers; ++p) {
            if (run.last_stamp[p].load(std::memory_order_acquire) < run.window_end.load()) return false;
          }
          return true;
        },
        std::chrono::seconds(2));
    run.publishing = false;
    for (std::uint32_t p = 0; p < o.publishers; ++p) {
      const auto count = run.sent_in_window[p].load();
      sent += count;
      expected += count * run.room_subscribers[run.publisher_room[p]];
    }
    // Deliveries still on their way; the shards' counters are read from
    // this thread without locks, so only as a hint until the threads stop.
    wait_until(
        [&] {
          std::uint64_t received = 0;
          for (const auto& shard : run.shards) received += shard->received.load(std::memory_order_relaxed);
          return received >= expected;
        },
        std::chrono::milliseconds(static_cast<long>(o.drain * 1000)));
  } else {
    sample(cpu_before, bench_before);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.hold));
    sample(cpu_after, bench_after);
  }
  const std::uint64_t server_rss = servers_rss();
  stop();

  Histogram latency, join_latency;
  std::uint64_t received = 0, duplicates = 0, reordered = 0;
  for (const auto& shard : run.shards) {
    latency.merge(shard->latency);
    join_latency.merge(shard->join_latency);
    received += shard->received;
    duplicates += shard->duplicates;
    reordered += shard->reordered;
  }
  const double server_cpu = cpu_after - cpu_before;
  const std::uint64_t lost = expected > received ? expected - received : 0;
  const double per_delivery = received ? 1e6 / static_cast<double>(received) : 0;
  const double us = 1e-3;
  json::object out{
      {"label", o.label},
      {"protocol", o.protocol},
      {"urls", o.urls.size()},
      {"rooms", o.rooms},
      {"subscribers", o.subscribers},
      {"publishers", o.publishers},
      {"rate", o.rate},
      {"size", o.size},
      {"seconds", measured_seconds},
      {"connect_seconds", connect_seconds},
      {"join_latency_us",
       json::object{{"p50", static_cast<double>(join_latency.quantile(0.5)) * 1e-3},
                    {"p99", static_cast<double>(join_latency.quantile(0.99)) * 1e-3},
                    {"max", static_cast<double>(join_latency.max()) * 1e-3}}},
      {"connect_server_cpu_seconds", connect_cpu},
      {"server_cpu_us_per_join", o.subscribers ? connect_cpu * 1e6 / static_cast<double>(o.subscribers) : 0.0},
      {"sent", sent},
      {"expected", expected},
      {"delivered", received},
      {"lost", lost},
      {"duplicates", duplicates},
      {"reordered", reordered},
      {"deliveries_per_second", static_cast<double>(received) / std::max(measured_seconds, 1e-9)},
      {"latency_us",
       json::object{{"p50", static_cast<double>(latency.quantile(0.5)) * us},
                    {"p90", static_cast<double>(latency.quantile(0.9)) * us},
                    {"p99", static_cast<double>(latency.quantile(0.99)) * us},
                    {"p999", static_cast<double>(latency.quantile(0.999)) * us},
                    {"max", static_cast<double>(latency.max()) * us}}},
      {"server_cpu_seconds", server_cpu},
      {"server_cpu_us_per_delivery", server_cpu * per_delivery},
      {"bench_cpu_us_per_delivery", (bench_after - bench_before) * per_delivery},
      {"server_rss_kb", server_rss},
      {"server_rss_kb_before", server_rss_before},
      {"server_rss_bytes_per_connection",
       o.subscribers ? static_cast<double>(server_rss - std::min(server_rss, server_rss_before)) * 1024.0 /
                           static_cast<double>(o.subscribers + o.publishers)
                     : 0.0},
  };
  std::cerr << o.label << " " << o.protocol << ": " << o.subscribers << " subscribers in " << o.rooms << " rooms, "
            << o.publishers << " publishers at " << (o.rate > 0 ? std::to_string(o.rate) + "/s" : "closed loop")
            << "\n  delivered " << received << " of " << expected << " (lost " << lost << ", duplicates "
            << duplicates << ", reordered " << reordered << "), "
            << static_cast<std::uint64_t>(out["deliveries_per_second"].as_double()) << "/s\n  latency p50 "
            << latency.quantile(0.5) / 1000 << " us, p99 " << latency.quantile(0.99) / 1000 << " us, max "
            << latency.max() / 1000 << " us\n  server CPU " << server_cpu << " s ("
            << out["server_cpu_us_per_delivery"].as_double() << " us per delivery), generator "
            << out["bench_cpu_us_per_delivery"].as_double() << " us per delivery; server RSS " << server_rss
            << " kB; connecting took " << connect_seconds << " s\n";
  std::cout << json::serialize(out) << std::endl;
  return lost || duplicates || reordered ? 3 : 0;
}
