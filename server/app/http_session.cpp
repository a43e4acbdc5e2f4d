#include "app/http_session.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "app/qr_code.hpp"
#include "app/static_files.hpp"
#include "base/fault.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"
#include "domain/command.hpp"
#include "domain/token.hpp"
#include "domain/transcript.hpp"
#include "engine/engine_await.hpp"
#include "session/client_session.hpp"

namespace hearth {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::size_t kMaxRequestBody = 8 * 1024;

http::response<http::string_body> make_response(const http::request<http::string_body>& request,
                                                http::status status, std::string content_type, std::string body) {
  http::response<http::string_body> response{status, request.version()};
  response.set(http::field::server, "hearth");
  response.set(http::field::content_type, content_type);
  response.set(http::field::cache_control, "no-store");
  response.keep_alive(request.keep_alive());
  const std::size_t length = body.size();
  if (request.method() != http::verb::head) response.body() = std::move(body);
  // HEAD: the length the GET body would have, and no body.
  response.content_length(length);
  return response;
}

std::string error_json(std::string_view code, std::string_view message) {
  return boost::json::serialize(boost::json::object{{"error", code}, {"message", message}}) + "\n";
}

http::response<http::string_body> error_response(const http::request<http::string_body>& request,
                                                 http::status status, std::string_view code, std::string_view message) {
  return make_response(request, status, "application/json", error_json(code, message));
}

// GET /qr.svg?link=LINK: LINK, this server's link to a room, as a QR code
// for the host's share panel (docs/protocol.md 6).
http::response<http::string_body> qr_code(const http::request<http::string_body>& request) {
  const auto target = boost::urls::parse_origin_form(request.target());
  std::string link;
  if (target) {
    const auto params = target->params();
    const auto found = params.find("link");
    if (found != params.end()) link = (*found).value;
  }
  if (!shareable_room_link(link, request[http::field::host])) {
    return error_response(request, http::status::bad_request, "invalid_link",
                          "link must be a link to a room on this server");
  }
  auto svg = qr_code_svg(link, "QR code for " + link);
  if (!svg) return error_response(request, http::status::bad_request, "invalid_link", "link is too long");
  auto response = make_response(request, http::status::ok, "image/svg+xml", std::move(*svg));
  response.set(http::field::cache_control, "private, max-age=86400");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Content-Security-Policy", "default-src 'none'");
  return response;
}

}  // namespace

http::response<http::string_body> respond(const http::request<http::string_body>& request,
                                          const ServerContext& context) {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const bool read_only = request.method() == http::verb::get || request.method() == http::verb::head;

  if ((path == "/readyz" || path == "/healthz" || path == "/metrics" || path == "/ws") && !read_only) {
    auto response = error_response(request, http::status::method_not_allowed, "method_not_allowed", "use GET");
    response.set(http::field::allow, "GET, HEAD");
    return response;
  }
  if (path == "/ws") {
    if (context.shutting_down.load()) {
      return error_response(request, http::status::service_unavailable, "shutting_down", "the server is shutting down");
    }
    return error_response(request, http::status::upgrade_required, "upgrade_required",
                          "/ws takes WebSocket upgrades only");
  }
  if (path == "/healthz") {
    const bool stopping = context.shutting_down.load();
    boost::json::object body{{"status", stopping ? "stopping" : "ok"},
                             {"connections", context.connections.size()},
                             {"rooms_open", context.rooms.open_rooms()}};
    return make_response(request, stopping ? http::status::service_unavailable : http::status::ok,
                         "application/json", boost::json::serialize(body) + "\n");
  }
  if (path == "/readyz" && read_only) {
    // Ready: storage reachable and not shutting down. Load balancers send
    // new connections only to ready nodes.
    const bool ready = context.engine.ready() && !context.shutting_down.load();
    boost::json::object body{{"status", ready ? "ready" : "not_ready"}, {"storage", context.engine.ready()}};
    return make_response(request, ready ? http::status::ok : http::status::service_unavailable, "application/json",
                         boost::json::serialize(body) + "\n");
  }
  if (path == "/metrics") {
    return make_response(request, http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                         metrics().render(context.connections.size(), context.rooms.open_rooms()));
  }
  if (path == "/qr.svg" && read_only) return qr_code(request);
  if (path == "/support" && read_only) {
    // Where to find support, for anyone (--support-resources): public.
    const auto lane = context.crisis.load();
    return make_response(request, http::status::ok, "application/json",
                         boost::json::serialize(boost::json::object{{"text", lane->general}}) + "\n");
  }
  if (auto file = serve_static(request, context.config.web_root)) return std::move(*file);
  if (path == "/" && read_only) {
    // No web client configured: say what this is and how to use it.
    return make_response(request, http::status::ok, "text/html; charset=utf-8",
                         "<!doctype html><meta charset=utf-8><title>Hearth</title>"
                         "<h1>Hearth is running</h1><p>Clients connect over WebSocket to <code>/ws</code>: "
                         "try <code>hearth-cli --room ROOM</code>, and see docs/protocol.md for the protocol. "
                         "Health: <a href=/healthz>/healthz</a>.</p>\n");
  }
  return error_response(request, http::status::not_found, "not_found", "no such resource");
}

namespace {

bool origin_allowed(const http::request<http::string_body>& request, const Config& config) {
  const std::string_view origin = request[http::field::origin];
  if (origin.empty()) return true;  // not a browser: nothing to hijack
  const auto& allowed = config.allowed_origins;
  if (std::find(allowed.begin(), allowed.end(), "*") != allowed.end()) return true;
  if (!allowed.empty()) return std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
  // Same origin: scheme://HOST where HOST is what the request was sent to.
  const std::string_view host = request[http::field::host];
  if (host.empty()) return false;
  const auto scheme_end = origin.find("://");
  return scheme_end != std::string_view::npos && origin.substr(scheme_end + 3) == host &&
         (origin.substr(0, scheme_end) == "http" || origin.substr(0, scheme_end) == "https");
}

}  // namespace

std::string HttpSession::client_address(const http::request<http::string_body>& request) {
  beast::error_code error;
  const auto peer = stream_.tcp().socket().remote_endpoint(error);
  if (error) return "unknown";
  if (context_.config.trust_proxy && peer.address().is_loopback()) {
    const std::string_view real = request["X-Real-IP"];
    if (!real.empty()) return std::string(real);
  }
  return peer.address().to_string();
}

HttpSession::HttpSession(Transport stream, ServerContext& context, std::string unfinished_address, bool metrics_only)
    : stream_(std::move(stream)),
      context_(context),
      unfinished_address_(std::move(unfinished_address)),
      metrics_only_(metrics_only) {}

bool HttpSession::may_read_metrics(const http::request<http::string_body>& request) {
  if (metrics_only_) return true;
  if (!request["X-Real-IP"].empty() || !request["X-Forwarded-For"].empty() || !request["Forwarded"].empty()) {
    return false;
  }
  beast::error_code error;
  const auto peer = stream_.tcp().socket().remote_endpoint(error);
  return !error && peer.address().is_loopback();
}

HttpSession::~HttpSession() { finished_first_request(); }

void HttpSession::finished_first_request() {
  if (unfinished_address_.empty()) return;
  context_.unfinished_per_address.remove(unfinished_address_);
  unfinished_address_.clear();
}

void HttpSession::start() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    auto* tls = self->stream_.tls();
    if (!tls) return self->read_next();
    self->stream_.tcp().expires_after(self->context_.config.handshake_timeout);
    tls->async_handshake(asio::ssl::stream_base::server, [self](beast::error_code error) {
      // Not TLS, an old protocol, or too slow: nothing to answer in.
      if (error) return self->stream_.tcp().close();
      self->read_next();
    });
  });
}

void HttpSession::shut_down() {
  auto* tls = stream_.tls();
  if (!tls) {
    beast::error_code ignored;
    stream_.tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    return;
  }
  stream_.tcp().expires_after(context_.config.handshake_timeout);
  tls->async_shutdown([self = shared_from_this()](beast::error_code) { self->stream_.tcp().close(); });
}

void HttpSession::read_next() {
  parser_ = std::make_unique<http::request_parser<http::string_body>>();
  parser_->body_limit(kMaxRequestBody);
  // A request (an upgrade included) must arrive whole within the handshake
  // timeout: a client that opens a socket and dawdles is dropped.
  stream_.tcp().expires_after(context_.config.handshake_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code error, std::size_t) { self->on_read(error); });
}

void HttpSession::on_read(beast::error_code error) {
  finished_first_request();
  if (error) return shut_down();
  auto request = parser_->release();
  {
    const std::string_view target = request.target();
    const bool metrics = target.substr(0, target.find('?')) == "/metrics";
    // /metrics is for the operator's scraper, not the public: the metrics
    // port serves it alone, and the main port only to loopback.
    if (metrics ? !may_read_metrics(request) : metrics_only_) {
      return send_error(request, http::status::not_found, "not_found", "no such resource");
    }
  }
  if (beast::websocket::is_upgrade(request)) {
    const std::string_view target = request.target();
    if (target.substr(0, target.find('?')) == "/ws" && !context_.shutting_down.load()) return upgrade(std::move(request));
  }
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  if (path.size() > 18 && path.starts_with("/rooms/") && path.ends_with("/transcript") &&
      request.method() == http::verb::get) {
    return serve_transcript(request, std::string(path.substr(7, path.size() - 7 - 11)));
  }
  if (path.starts_with("/rooms/") && path.find('/', 7) == std::string_view::npos &&
      request.method() == http::verb::delete_) {
    return delete_room(request, std::string(path.substr(7)));
  }
  send(std::make_shared<http::response<http::string_body>>(respond(request, context_)));
}

void HttpSession::upgrade(http::request<http::string_body> request) {
  // Cross-site WebSocket hijacking: a page elsewhere may not use a
  // visitor's browser to talk to us.
  if (!origin_allowed(request, context_.config)) {
    return send_error(request, http::status::forbidden, "origin_not_allowed",
                      "this page's origin may not connect to this server");
  }
  // A token may come in the Sec-WebSocket-Protocol header instead of a
  // hello ("hearth.v1, hearth.token.JWT"): checked before the upgrade.
  ClientSession::Handshake handshake;
  for (const auto& item : split_list(request[http::field::sec_websocket_protocol])) {
    if (item == "hearth.v1") handshake.v1_subprotocol = true;
    if (!item.starts_with("hearth.token.")) continue;
    auto claims = verify_token(std::string_view(item).substr(13), context_.config.token_secret,
                               std::chrono::system_clock::now());
    if (!claims) {
      const bool expired = claims.error() == TokenError::expired;
      return send_error(request, http::status::unauthorized, expired ? "token_expired" : "token_invalid",
                        expired ? "the token has expired" : "the token is not valid");
    }
    handshake.claims = std::move(*claims);
  }
  // Open connections from this address, over every node: this node's
  // count, then (with a cap and Redis) one round trip.
  auto waiting = std::make_shared<std::pair<http::request<http::string_body>, ClientSession::Handshake>>(
      std::move(request), std::move(handshake));
  std::string address = client_address(waiting->first);
  context_.connections_per_address.try_add(address, [self = shared_from_this(), waiting, address](bool admitted) {
    asio::dispatch(self->stream_.get_executor(), [self, waiting, address, admitted] {
      auto& [upgrade_request, checked] = *waiting;
      if (admitted && self->context_.shutting_down.load()) {
        // Shutting down while the count was asked for: no new session.
        self->context_.connections_per_address.remove(address);
        return self->shut_down();
      }
      if (!admitted) {
        auto response = std::make_shared<http::response<http::string_body>>(
            error_response(upgrade_request, http::status::too_many_requests, "too_many_connections",
                           "too many connections from your address"));
        response->set(http::field::retry_after, "10");
        return self->send(response);
      }
      // The bytes already read belong to the HTTP request alone: a client
      // may not send WebSocket frames before the 101 response. Once
      // admitted, the session uncounts the connection when it ends.
      ClientSession::serve(std::move(self->stream_), self->context_, address, std::move(checked),
                           std::move(upgrade_request));
    });
  });
}

void HttpSession::send_error(const http::request<http::string_body>& request, http::status status,
                             std::string_view code, std::string_view message) {
  send(std::make_shared<http::response<http::string_body>>(error_response(request, status, code, message)));
}

void HttpSession::send(std::shared_ptr<http::response<http::string_body>> response) {
  http::async_write(stream_, *response,
                    [self = shared_from_this(), response](beast::error_code write_error, std::size_t) {
                      if (write_error || !response->keep_alive()) return self->shut_down();
                      self->read_next();
                    });
}

// ---------------------------------------------------------------------------
// Transcripts
// ---------------------------------------------------------------------------

void HttpSession::send_unavailable(const http::request<http::string_body>& request) {
  send_error(request, http::status::service_unavailable, "unavailable", "storage is unavailable");
}

void HttpSession::serve_transcript(const http::request<http::string_body>& request, const std::string& room_id) {
  if (!valid_room_id(room_id)) return send_error(request, http::status::not_found, "not_found", "no such room");
  const std::string_view target = request.target();
  const auto query = target.find('?') == std::string_view::npos ? std::string_view() : target.substr(target.find('?') + 1);
  TranscriptFormat format = TranscriptFormat::json;
  if (query == "format=markdown") format = TranscriptFormat::markdown;
  else if (!query.empty() && query != "format=json") {
    return send_error(request, http::status::bad_request, "bad_request", "format must be json or markdown");
  }
  if (!authorize(request, room_id, {v1::ROLE_HOST, v1::ROLE_MODERATOR, v1::ROLE_ADMIN},
                 "transcripts are for the room's hosts and moderators")) {
    return;
  }
  // Read and sent by a coroutine on the session's strand: a loop over the
  // log's pages, which neither recurses nor has to take itself apart.
  asio::co_spawn(
      stream_.get_executor(),
      [self = shared_from_this(), room_id, format, keep_alive = request.keep_alive(), version = request.version()] {
        return self->send_transcript(room_id, format, keep_alive, version);
      },
      [](std::exception_ptr failure) {
        if (!failure) return;
        fault::contain(fault::Where::loop, [&] { std::rethrow_exception(failure); }, [] {});
      });
}

namespace {

// Transcript bytes gathered before they go out as one chunk.
constexpr std::size_t kTranscriptChunk = 64 * 1024;
// How long one chunk may take to reach a client that reads slowly.
constexpr auto kTranscriptWriteTimeout = std::chrono::seconds(30);

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Sends `text` (then empties it), as one chunk or, for HTTP/1.0, as bytes
// of a body that ends with the connection. False: the client is gone.
asio::awaitable<bool> send_part(Transport& stream, std::string& text, bool chunked) {
  if (text.empty()) co_return true;
  stream.tcp().expires_after(kTranscriptWriteTimeout);
  auto [error, sent] =
      chunked ? co_await asio::async_write(stream, http::make_chunk(asio::buffer(text)), use_tuple)
              : co_await asio::async_write(stream, asio::buffer(text), use_tuple);
  text.clear();
  co_return !error;
}

}  // namespace

asio::awaitable<void> HttpSession::send_transcript(std::string room_id, TranscriptFormat format, bool keep_alive,
                                                   unsigned version) {
  http::request<http::string_body> head{http::verb::get, "/", version};
  head.keep_alive(keep_alive);
  // The first pass, before anything is sent, reads the log from the
  // checkpoint's base in unbroken seqs: a trim in between (seqs missing)
  // means loading the new checkpoint and reading again.
  std::optional<TranscriptRenderer> renderer;
  for (int attempt = 1; attempt <= 3 && !renderer; ++attempt) {
    auto [error, checkpoint] = co_await await_checkpoint(context_.engine, room_id);
    if (error) co_return send_unavailable(head);
    renderer.emplace(room_id, std::move(checkpoint), format);
    bool unbroken = true;
    std::uint64_t next = renderer->base_seq() + 1;
    const auto learn = [&](const SequencedEntry& entry) {
      unbroken = entry.seq == next++;
      if (unbroken) renderer->learn(entry);
      return unbroken;
    };
    if (co_await visit_log(context_.engine, room_id, next - 1, learn)) co_return send_unavailable(head);
    if (!unbroken) renderer.reset();
  }
  if (!renderer) co_return send_unavailable(head);
  if (!renderer->found()) co_return send_error(head, http::status::not_found, "not_found", "no such room");

  const bool markdown = format == TranscriptFormat::markdown;
  http::response<http::empty_body> response{http::status::ok, version};
  response.set(http::field::server, "hearth");
  response.set(http::field::content_type, markdown ? "text/markdown; charset=utf-8" : "application/json");
  response.set(http::field::cache_control, "no-store");
  response.set(http::field::content_disposition,
               "attachment; filename=\"transcript-" + room_id + (markdown ? ".md\"" : ".json\""));
  // HTTP/1.0 has no chunks: there the body ends when the connection does.
  const bool chunked = version >= 11;
  response.keep_alive(keep_alive && chunked);
  response.chunked(chunked);
  http::response_serializer<http::empty_body> serializer(response);
  stream_.tcp().expires_after(kTranscriptWriteTimeout);
  if (auto [error, sent] = co_await http::async_write_header(stream_, serializer, use_tuple); error) {
    co_return stream_.tcp().close();
  }

  // The second pass, sent as it is read, up to where the first one ended.
  std::string out = renderer->head();
  bool whole = true;
  for (std::uint64_t next = renderer->base_seq() + 1; whole && next <= renderer->last_seq();) {
    auto [read_error, page] = co_await read_page(context_.engine, room_id, next - 1);
    whole = !read_error && !page.empty();
    for (const auto& entry : page) {
      if (!whole || entry.seq > renderer->last_seq()) break;
      whole = entry.seq == next++;
      if (whole) renderer->render(entry, out);
    }
    if (whole && out.size() >= kTranscriptChunk && !co_await send_part(stream_, out, chunked)) {
      co_return stream_.tcp().close();
    }
  }
  if (!whole) {
    // The log was trimmed or could not be read between the passes. The
    // status is out: what is left is to end the transfer unfinished (no
    // last chunk), which clients report as an error.
    log::warn(
        "transcript: the log changed or became unreadable while it was sent; the transfer was cut short");
    co_return stream_.tcp().close();
  }
  out += renderer->tail();
  if (!co_await send_part(stream_, out, chunked)) co_return stream_.tcp().close();
  if (chunked) {
    stream_.tcp().expires_after(kTranscriptWriteTimeout);
    if (auto [error, sent] = co_await asio::async_write(stream_, http::make_chunk_last(), use_tuple); error) {
      co_return stream_.tcp().close();
    }
  }
  if (!response.keep_alive()) co_return shut_down();
  read_next();
}

bool HttpSession::authorize(const http::request<http::string_body>& request, const std::string& room_id,
                            std::initializer_list<v1::Role> roles, std::string_view why) {
  // The token travels in the Authorization header, never in the URL (URLs
  // end up in logs and browser history).
  const std::string_view authorization = request[http::field::authorization];
  std::optional<Claims> claims;
  // The scheme is case-insensitive (RFC 9110 section 11.1).
  if (authorization.size() > 7 && boost::beast::iequals(authorization.substr(0, 7), "Bearer ")) {
    auto verified = verify_token(authorization.substr(7), context_.config.token_secret, std::chrono::system_clock::now());
    if (verified) claims = std::move(*verified);
  }
  if (!claims) {
    auto response = std::make_shared<http::response<http::string_body>>(error_response(
        request, http::status::unauthorized, "unauthorized", "send a valid token as Authorization: Bearer TOKEN"));
    response->set(http::field::www_authenticate, "Bearer");
    send(response);
    return false;
  }
  if (check_room(*claims, room_id) || std::find(roles.begin(), roles.end(), claims->role) == roles.end()) {
    send_error(request, http::status::forbidden, "forbidden", why);
    return false;
  }
  return true;
}

void HttpSession::delete_room(const http::request<http::string_body>& request, const std::string& room_id) {
  if (!valid_room_id(room_id)) return send_error(request, http::status::not_found, "not_found", "no such room");
  if (!authorize(request, room_id, {v1::ROLE_HOST, v1::ROLE_ADMIN}, "only the room's host or an admin may delete it")) {
    return;
  }
  http::request<http::string_body> head{http::verb::delete_, "/", request.version()};
  head.keep_alive(request.keep_alive());
  context_.engine.delete_room(room_id, [self = shared_from_this(), head](std::error_code error) {
    asio::dispatch(self->stream_.get_executor(), [self, head, error] {
      if (error) return self->send_unavailable(head);
      log::info("room deleted on request");
      auto response = std::make_shared<http::response<http::string_body>>(http::status::no_content, head.version());
      response->set(http::field::server, "hearth");
      response->keep_alive(head.keep_alive());
      self->send(response);
    });
  });
}

}  // namespace hearth
