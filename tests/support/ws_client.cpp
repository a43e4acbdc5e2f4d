#include "ws_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket/error.hpp>
#include <google/protobuf/util/json_util.h>
#include <stdexcept>

namespace hearth::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

WsClient::WsClient(std::uint16_t port, Encoding encoding, const std::string& subprotocols, asio::ssl::context* tls)
    : ws_(tls ? Transport(beast::tcp_stream(io_), *tls) : Transport(beast::tcp_stream(io_))), encoding_(encoding) {
  auto& tcp = beast::get_lowest_layer(ws_);
  tcp.expires_after(5s);
  tcp.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  tcp.socket().set_option(asio::ip::tcp::no_delay(true));
  if (auto* stream = ws_.next_layer().tls()) {
    const char* host = "localhost";
    SSL_set_tlsext_host_name(stream->native_handle(), host);
    stream->set_verify_mode(asio::ssl::verify_peer);
    stream->set_verify_callback(asio::ssl::host_name_verification(host));
    stream->handshake(asio::ssl::stream_base::client);
  }
  ws_.read_message_max(64 * 1024 * 1024);
  if (!subprotocols.empty()) {
    ws_.set_option(beast::websocket::stream_base::decorator([subprotocols](beast::websocket::request_type& request) {
      request.set(beast::http::field::sec_websocket_protocol, subprotocols);
    }));
  }
  beast::websocket::response_type response;
  ws_.handshake(response, "127.0.0.1:" + std::to_string(port), "/ws");
  subprotocol_ = std::string(response[beast::http::field::sec_websocket_protocol]);
  tcp.expires_never();
  ws_.control_callback([this](beast::websocket::frame_type kind, beast::string_view) {
    if (kind == beast::websocket::frame_type::pong) ++pongs_;
  });
}

void WsClient::send_ping_frame() { ws_.ping({}); }

bool WsClient::run_until(const bool& done, std::chrono::milliseconds timeout) {
  io_.restart();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    io_.run_one_until(deadline);
  }
  return done;
}

std::optional<std::string> WsClient::read_frame(std::chrono::milliseconds timeout, beast::error_code& error) {
  beast::flat_buffer buffer;
  bool done = false;
  beast::get_lowest_layer(ws_).expires_after(timeout);
  ws_.async_read(buffer, [&](beast::error_code e, std::size_t) {
    error = e;
    done = true;
  });
  run_until(done, timeout + 1s);
  beast::get_lowest_layer(ws_).expires_never();
  if (!done || error == beast::error::timeout) {
    stopped_ = "nothing came within " + std::to_string(timeout.count()) + " ms";
    return std::nullopt;
  }
  if (error == websocket::error::closed) {
    stopped_ = "the server closed the connection with code " + std::to_string(ws_.reason().code) + " (" +
               std::string(ws_.reason().reason.data(), ws_.reason().reason.size()) + ")";
    return std::nullopt;
  }
  if (error) {
    stopped_ = "the connection failed: " + error.message();
    return std::nullopt;
  }
  last_binary_ = ws_.got_binary();
  return beast::buffers_to_string(buffer.data());
}

std::optional<v1::ServerMessage> WsClient::next(std::chrono::milliseconds timeout) {
  beast::error_code error;
  const auto frame = read_frame(timeout, error);
  if (!frame) return std::nullopt;
  v1::ServerMessage message;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // as a client built before a field was added
  const bool ok = last_binary_ ? message.ParseFromString(*frame)
                               : google::protobuf::util::JsonStringToMessage(*frame, &message, options).ok();
  if (!ok) throw std::runtime_error("undecodable frame from the server");
  return message;
}

void WsClient::send_raw(const std::string& bytes, bool binary, std::chrono::milliseconds timeout) {
  ws_.binary(binary);
  bool done = false;
  beast::error_code error;
  beast::get_lowest_layer(ws_).expires_after(timeout);
  ws_.async_write(asio::buffer(bytes), [&](beast::error_code e, std::size_t) {
    error = e;
    done = true;
  });
  run_until(done, timeout + 1s);
  beast::get_lowest_layer(ws_).expires_never();
  if (!done || error) throw std::runtime_error("write failed: " + error.message());
}

std::uint32_t WsClient::send(v1::ClientMessage message) {
  if (message.request_id() == 0) message.set_request_id(next_request_id_++);
  send_raw(encode(message, encoding_), encoding_ == Encoding::binary);
  return message.request_id();
}

bool WsClient::keep(v1::ServerMessage& message) {
  if (message.has_event()) {
    events_.push_back(std::move(*message.mutable_event()));
  } else if (message.has_presence()) {
    presences_.push_back(std::move(*message.mutable_presence()));
  } else if (message.has_reply() && message.reply().request_id() == 0) {
    pushes_.push_back(std::move(*message.mutable_reply()));
  } else if (message.has_reply()) {
    const auto id = message.reply().request_id();
    if (replies_.contains(id)) ADD_FAILURE() << "two replies to request " << id;
    replies_[id] = std::move(*message.mutable_reply());
    return true;
  }
  return false;
}

v1::Reply WsClient::reply_to(std::uint32_t request_id, std::chrono::milliseconds timeout) {
  stopped_ = "the deadline had passed";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto kept = replies_.find(request_id); kept != replies_.end()) {
      v1::Reply reply = std::move(kept->second);
      replies_.erase(kept);
      return reply;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto message = next(left);
    if (!message) break;
    keep(*message);
  }
  throw std::runtime_error("no reply to request " + std::to_string(request_id) + ": " + stopped_);
}

v1::Reply WsClient::request(v1::ClientMessage message, std::chrono::milliseconds timeout) {
  return reply_to(send(std::move(message)), timeout);
}

v1::Reply WsClient::next_push(std::chrono::milliseconds timeout) {
  stopped_ = "the deadline had passed";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pushes_.empty()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto message = next(left);
    if (!message) break;
    keep(*message);
  }
  if (pushes_.empty()) throw std::runtime_error("no push in time: " + stopped_);
  v1::Reply push = std::move(pushes_.front());
  pushes_.pop_front();
  return push;
}

v1::Ok WsClient::request_ok(v1::ClientMessage message, std::chrono::milliseconds timeout) {
  const auto reply = request(std::move(message), timeout);
  EXPECT_TRUE(reply.has_ok()) << "error " << v1::ErrorCode_Name(reply.error().code()) << ": " << reply.error().message();
  return reply.ok();
}

v1::Error WsClient::request_error(v1::ClientMessage message, std::chrono::milliseconds timeout) {
  const auto reply = request(std::move(message), timeout);
  EXPECT_TRUE(reply.has_error()) << "expected an error reply";
  return reply.error();
}

v1::Event WsClient::next_event(std::chrono::milliseconds timeout) {
  return next_event_where([](const v1::Event&) { return true; }, timeout);
}

template <typename T>
T WsClient::next_where(std::deque<T>& kept, bool (v1::ServerMessage::*has)() const,
                       const T& (v1::ServerMessage::*get)() const, const std::function<bool(const T&)>& match,
                       std::chrono::milliseconds timeout, const char* what) {
  stopped_ = "the deadline had passed";
  while (!kept.empty()) {
    T item = std::move(kept.front());
    kept.pop_front();
    if (match(item)) return item;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto message = next(left);
    if (!message) break;
    if (((*message).*has)() && match(((*message).*get)())) return ((*message).*get)();
    if (!((*message).*has)()) keep(*message);
  }
  throw std::runtime_error(std::string("no matching ") + what + " in time: " + stopped_);
}

v1::Event WsClient::next_event_where(const std::function<bool(const v1::Event&)>& match,
                                     std::chrono::milliseconds timeout) {
  return next_where(events_, &v1::ServerMessage::has_event, &v1::ServerMessage::event, match, timeout, "event");
}

v1::Presence WsClient::next_presence_where(const std::function<bool(const v1::Presence&)>& match,
                                           std::chrono::milliseconds timeout) {
  return next_where(presences_, &v1::ServerMessage::has_presence, &v1::ServerMessage::presence, match, timeout,
                    "presence push");
}

v1::ClientMessage list_members(const std::string& room_id, const std::string& query, const std::string& after,
                               std::uint32_t limit) {
  v1::ClientMessage message;
  message.set_room_id(room_id);
  message.mutable_list_members()->set_query(query);
  message.mutable_list_members()->set_after(after);
  message.mutable_list_members()->set_limit(limit);
  return message;
}

bool says_joined(const v1::Event& event, const std::string& user_id) {
  for (const auto& member : event.members_changed().joined()) {
    if (member.person().user_id() == user_id) return true;
  }
  return false;
}

const v1::MemberLeft* says_left(const v1::Event& event, const std::string& user_id) {
  for (const auto& left : event.members_changed().left()) {
    if (left.person().user_id() == user_id) return &left;
  }
  return nullptr;
}

bool says_someone_joined(const v1::Event& event) { return event.members_changed().joined_size() > 0; }
bool says_someone_left(const v1::Event& event) { return event.members_changed().left_size() > 0; }

std::optional<std::uint16_t> WsClient::wait_for_close(std::chrono::milliseconds timeout, std::size_t* frames) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    beast::error_code error;
    const auto frame = read_frame(left, error);
    if (frame) {
      if (frames) ++*frames;
      continue;
    }
    // A close frame was received, even if answering it then failed because
    // the server had already dropped the connection.
    if (ws_.reason().code != websocket::close_code::none) return static_cast<std::uint16_t>(ws_.reason().code);
    return std::nullopt;
  }
}

std::optional<WsClient::Ending> WsClient::wait_for_end(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    beast::error_code error;
    if (read_frame(left, error)) continue;
    if (ws_.reason().code != websocket::close_code::none) return Ending{static_cast<std::uint16_t>(ws_.reason().code)};
    // A timeout of our own read is no ending; anything else is.
    if (error == beast::error::timeout || !error) return std::nullopt;
    return Ending{0};
  }
}

void WsClient::close() {
  bool done = false;
  ws_.async_close(websocket::close_code::normal, [&](beast::error_code) { done = true; });
  run_until(done, 5s);
}

beast::http::response<beast::http::string_body> http_request(std::uint16_t port, beast::http::verb verb,
                                                             const std::string& target,
                                                             const std::string& authorization,
                                                             const std::vector<std::pair<std::string, std::string>>& headers) {
  namespace http = beast::http;
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(5s);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, "localhost");
  if (!authorization.empty()) request.set(http::field::authorization, authorization);
  for (const auto& [name, value] : headers) request.set(name, value);
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  // A HEAD response has a length but no body.
  if (verb == http::verb::head) {
    http::response_parser<http::string_body> parser;
    parser.skip(true);
    http::read(stream, buffer, parser);
    return parser.release();
  }
  http::read(stream, buffer, response);
  return response;
}

v1::ClientMessage hello(const std::string& token, const std::string& name) {
  v1::ClientMessage message;
  message.mutable_hello()->set_token(token);
  message.mutable_hello()->set_display_name(name);
  return message;
}

v1::ClientMessage create_room(const std::string& room_id, v1::RoomKind kind, bool approval, bool side_chat) {
  v1::ClientMessage message;
  message.set_room_id(room_id);
  auto* create = message.mutable_create_room();
  create->set_kind(kind);
  create->set_title("Test room");
  create->mutable_settings()->set_require_approval(approval);
  create->mutable_settings()->set_side_chat(side_chat);
  return message;
}

v1::ClientMessage update_settings(const std::string& room_id, const v1::RoomSettings& settings,
                                  const std::vector<std::string>& fields, bool allow_loosening) {
  v1::ClientMessage message;
  message.set_room_id(room_id);
  auto* update = message.mutable_update_room();
  *update->mutable_settings() = settings;
  update->set_allow_loosening(allow_loosening);
  auto* mask = update->mutable_settings_mask();
  if (!fields.empty()) {
    for (const auto& field : fields) mask->add_paths(field);
    return message;
  }
  const auto* descriptor = v1::RoomSettings::descriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) mask->add_paths(descriptor->field(i)->name());
  return message;
}

v1::ClientMessage join(const std::string& room_id, const std::string& name, const std::string& token) {
  v1::ClientMessage message;
  message.set_room_id(room_id);
  message.mutable_join_room()->set_display_name(name);
  message.mutable_join_room()->set_token(token);
  return message;
}

v1::ClientMessage ask(const std::string& room_id, const std::string& text, bool anonymous) {
  v1::ClientMessage message;
  message.set_room_id(room_id);
  message.mutable_ask_question()->set_text(text);
  message.mutable_ask_question()->set_anonymous(anonymous);
  return message;
}

v1::ClientMessage vote(const std::string& room_id, std::uint64_t question_id, bool up) {
  v1::ClientMessage message;
  message.set_room_id(room_id);
  message.mutable_vote_question()->set_question_id(question_id);
  message.mutable_vote_question()->set_up(up);
  return message;
}

v1::ClientMessage say(const std::string& room_id, const std::string& text, std::uint64_t reply_to) {
  v1::ClientMessage message;
  message.set_room_id(room_id);
  message.mutable_send_message()->set_text(text);
  message.mutable_send_message()->set_reply_to_message_id(reply_to);
  return message;
}

v1::ClientMessage ping() {
  v1::ClientMessage message;
  message.mutable_ping();
  return message;
}

v1::ClientMessage leave_room(const std::string& room_id) {
  return room_command(room_id, [](v1::ClientMessage& m) { m.mutable_leave_room(); });
}

v1::ClientMessage join_resuming(const std::string& room_id, const std::string& epoch, std::uint64_t seq,
                                const std::string& token) {
  auto message = join(room_id, "", token);
  message.mutable_join_room()->mutable_resume()->set_epoch(epoch);
  message.mutable_join_room()->mutable_resume()->set_seq(seq);
  return message;
}

v1::ClientMessage room_command(const std::string& room_id, const std::function<void(v1::ClientMessage&)>& fill) {
  v1::ClientMessage message;
  message.set_room_id(room_id);
  fill(message);
  return message;
}

void expect_every_frame_after_falling_behind(WsClient& host, WsClient& reader, const std::string& room_id,
                                             int messages) {
  auto text = [](int i) { return std::string(60000, static_cast<char>('a' + i % 26)); };
  for (int i = 0; i < messages; ++i) {
    host.request_ok(say(room_id, text(i)));
    host.events().clear();
  }
  reader.send_ping_frame();
  for (int i = 0; i < messages; ++i) {
    const auto posted = reader.next_event_where([](const v1::Event& e) { return e.has_message_posted(); }, 10s);
    ASSERT_EQ(posted.message_posted().text(), text(i)) << "message " << i;
  }
  reader.request_ok(ping());  // the connection is still in step
  EXPECT_EQ(reader.pongs(), 1u);
}

}  // namespace hearth::testing
