// A WebSocket test client on Beast: speaks either encoding, every wait has a
// timeout, and events that arrive while waiting for a reply are kept.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hearth/v1/protocol.pb.h"
#include "protocol/codec.hpp"
#include "protocol/transport.hpp"

namespace hearth::testing {

using namespace std::chrono_literals;

class WsClient {
 public:
  // Connects to ws://127.0.0.1:port/ws, or with `tls` to wss:// (checking
  // the certificate is one for "localhost"); throws on failure.
  explicit WsClient(std::uint16_t port, Encoding encoding = Encoding::json, const std::string& subprotocols = "",
                    boost::asio::ssl::context* tls = nullptr);
  // The subprotocol the server chose in its 101 response.
  const std::string& subprotocol() const { return subprotocol_; }

  Encoding encoding() const { return encoding_; }

  // Sends `message` (a request id is assigned if it has none) and returns
  // the reply to it. Events that arrive first are appended to events(),
  // replies to other requests are kept for reply_to(), and pushes (replies
  // with request id 0) for pushes(): nothing the server says is dropped.
  // Throws on timeout or if the connection closes.
  v1::Reply request(v1::ClientMessage message, std::chrono::milliseconds timeout = 5s);
  // The same, expecting success: fails the calling test otherwise.
  v1::Ok request_ok(v1::ClientMessage message, std::chrono::milliseconds timeout = 5s);
  v1::Error request_error(v1::ClientMessage message, std::chrono::milliseconds timeout = 5s);

  // Sends `message` without waiting; returns its request id (assigned if it
  // had none), for reply_to().
  std::uint32_t send(v1::ClientMessage message);
  void send_raw(const std::string& bytes, bool binary, std::chrono::milliseconds timeout = 5s);
  // The reply to request `request_id`, kept or still to come; throws on
  // timeout or close.
  v1::Reply reply_to(std::uint32_t request_id, std::chrono::milliseconds timeout = 5s);

  // The next server message (from the wire), or nullopt on timeout/close.
  std::optional<v1::ServerMessage> next(std::chrono::milliseconds timeout = 5s);
  // The next event, kept ones first; throws on timeout.
  v1::Event next_event(std::chrono::milliseconds timeout = 5s);
  // Skips events until one matches; throws on timeout. Replies and pushes
  // read meanwhile are kept, as request() keeps them.
  v1::Event next_event_where(const std::function<bool(const v1::Event&)>& match,
                             std::chrono::milliseconds timeout = 5s);
  std::deque<v1::Event>& events() { return events_; }
  // Replies with request id 0: what the server says unasked (ROOM_RESET).
  std::deque<v1::Reply>& pushes() { return pushes_; }
  // Presence pushes read so far (kept while waiting for anything else).
  std::deque<v1::Presence>& presences() { return presences_; }
  // Skips presence pushes until one matches, kept ones first; throws on
  // timeout. Everything else read meanwhile is kept.
  v1::Presence next_presence_where(const std::function<bool(const v1::Presence&)>& match,
                                   std::chrono::milliseconds timeout = 5s);
  // Waits for the next push (kept ones first); throws on timeout.
  v1::Reply next_push(std::chrono::milliseconds timeout = 5s);

  // Reads (and drops) frames until the server closes; returns the close
  // code, or nullopt if nothing closed within `timeout`.
  std::optional<std::uint16_t> wait_for_close(std::chrono::milliseconds timeout = 10s, std::size_t* frames = nullptr);
  // How a connection ended: with a close frame (its code), or dropped
  // without one (close_code 0).
  struct Ending {
    std::uint16_t close_code = 0;
  };
  // Reads (and drops) frames until the connection ends, by a close frame or
  // by the server dropping it; nullopt if it is still open after `timeout`.
  std::optional<Ending> wait_for_end(std::chrono::milliseconds timeout = 10s);

  bool last_frame_was_binary() const { return last_binary_; }
  // Sends later messages in fragments (frames) of at most `bytes`.
  void fragment_messages(std::size_t bytes) {
    ws_.auto_fragment(true);
    ws_.write_buffer_bytes(bytes);
  }
  void close();
  // Sends a WebSocket ping frame; pongs() counts the pongs read so far.
  void send_ping_frame();
  std::size_t pongs() const { return pongs_; }

 private:
  // Runs the io_context until `done` or the deadline.
  bool run_until(const bool& done, std::chrono::milliseconds timeout);
  std::optional<std::string> read_frame(std::chrono::milliseconds timeout, boost::beast::error_code& error);

  boost::asio::io_context io_;
  boost::beast::websocket::stream<Transport> ws_;
  Encoding encoding_;
  std::uint32_t next_request_id_ = 1;
  std::deque<v1::Event> events_;
  std::deque<v1::Reply> pushes_;
  std::deque<v1::Presence> presences_;
  std::map<std::uint32_t, v1::Reply> replies_;  // to requests not yet asked for
  // Keeps what `message` holds that nobody waits for yet; returns whether it
  // was the reply to `request_id`.
  bool keep(v1::ServerMessage& message);
  // Skips `kept` items until one matches, then reads: the first message of
  // the kind `has` tells that matches is returned; any other is kept.
  template <typename T>
  T next_where(std::deque<T>& kept, bool (v1::ServerMessage::*has)() const, const T& (v1::ServerMessage::*get)() const,
               const std::function<bool(const T&)>& match, std::chrono::milliseconds timeout, const char* what);
  bool last_binary_ = false;
  // Why the last read returned nothing (a timeout, a close and its code, a
  // failure), for the messages of what throws.
  std::string stopped_ = "the deadline had passed";
  std::string subprotocol_;
  std::size_t pongs_ = 0;
};

// One plain HTTP request to 127.0.0.1:port (5 s timeout), with an optional
// Authorization header and any other headers.
boost::beast::http::response<boost::beast::http::string_body> http_request(
    std::uint16_t port, boost::beast::http::verb verb, const std::string& target,
    const std::string& authorization = "", const std::vector<std::pair<std::string, std::string>>& headers = {});

// Presence news for staff (membersChanged): whether `event` says that
// `user_id` joined, or left (the MemberLeft, or null).
bool says_joined(const v1::Event& event, const std::string& user_id);
const v1::MemberLeft* says_left(const v1::Event& event, const std::string& user_id);
// Any membersChanged event with someone joining / leaving.
bool says_someone_joined(const v1::Event& event);
bool says_someone_left(const v1::Event& event);

// Builders for the commands tests send most.
v1::ClientMessage hello(const std::string& token, const std::string& name = "");
v1::ClientMessage create_room(const std::string& room_id, v1::RoomKind kind, bool approval = false,
                              bool side_chat = false);
v1::ClientMessage join(const std::string& room_id, const std::string& name = "", const std::string& token = "");
v1::ClientMessage ask(const std::string& room_id, const std::string& text, bool anonymous = false);
v1::ClientMessage vote(const std::string& room_id, std::uint64_t question_id, bool up = true);
v1::ClientMessage say(const std::string& room_id, const std::string& text, std::uint64_t reply_to = 0);
v1::ClientMessage ping();
v1::ClientMessage leave_room(const std::string& room_id);
v1::ClientMessage list_members(const std::string& room_id, const std::string& query = "",
                               const std::string& after = "", std::uint32_t limit = 0);
// A join that resumes after a lost connection (docs/protocol.md 1.10).
v1::ClientMessage join_resuming(const std::string& room_id, const std::string& epoch, std::uint64_t seq,
                                const std::string& token = "");
// An updateRoom that sets the settings `fields` names (RoomSettings field
// names; every setting when empty) to their values in `settings`.
v1::ClientMessage update_settings(const std::string& room_id, const v1::RoomSettings& settings,
                                  const std::vector<std::string>& fields = {}, bool allow_loosening = false);
// Any other room command: `fill` sets its field.
v1::ClientMessage room_command(const std::string& room_id, const std::function<void(v1::ClientMessage&)>& fill);

// `host` says `messages` texts of 60,000 characters in `room_id` while
// `reader` reads nothing, so that the server's writes to it stop part-way
// through frames and wait for room (the server needs --max-message-chars
// 60000 and a --send-queue-frames above `messages`). Then `reader` sends a
// ping, which must be answered between two frames, never inside one, and
// must get every message whole and in order, and exactly one pong.
void expect_every_frame_after_falling_behind(WsClient& host, WsClient& reader, const std::string& room_id,
                                             int messages);

}  // namespace hearth::testing
