#include "http_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>

#include "ws_session.hpp"

namespace hearth {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr auto kRequestTimeout = std::chrono::seconds(30);
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

}  // namespace

http::response<http::string_body> respond(const http::request<http::string_body>& request,
                                          const ServerContext& context) {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const bool read_only = request.method() == http::verb::get || request.method() == http::verb::head;

  if (path == "/healthz" || path == "/ws") {
    if (!read_only) {
      auto response = make_response(request, http::status::method_not_allowed, "application/json",
                                    error_json("method_not_allowed", "use GET"));
      response.set(http::field::allow, "GET, HEAD");
      return response;
    }
    if (path == "/ws") {
      if (context.shutting_down.load()) {
        return make_response(request, http::status::service_unavailable, "application/json",
                             error_json("shutting_down", "the server is shutting down"));
      }
      return make_response(request, http::status::upgrade_required, "application/json",
                           error_json("upgrade_required", "/ws takes WebSocket upgrades only"));
    }
    const bool stopping = context.shutting_down.load();
    boost::json::object body{{"status", stopping ? "stopping" : "ok"},
                             {"connections", context.sessions.size()},
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
  if (path == "/" && read_only) {
    // Until the web client is served here: say what this is and how to use it.
    return make_response(request, http::status::ok, "text/html; charset=utf-8",
                         "<!doctype html><meta charset=utf-8><title>Hearth</title>"
                         "<h1>Hearth is running</h1><p>Clients connect over WebSocket to <code>/ws</code>: "
                         "try <code>hearth-cli --room ROOM</code>, and see docs/protocol.md for the protocol. "
                         "Health: <a href=/healthz>/healthz</a>.</p>\n");
  }
  return make_response(request, http::status::not_found, "application/json",
                       error_json("not_found", "no such resource"));
}

HttpSession::HttpSession(beast::tcp_stream stream, ServerContext& context)
    : stream_(std::move(stream)), context_(context) {}

void HttpSession::start() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_next(); });
}

void HttpSession::read_next() {
  parser_ = std::make_unique<http::request_parser<http::string_body>>();
  parser_->body_limit(kMaxRequestBody);
  stream_.expires_after(kRequestTimeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code error, std::size_t) { self->on_read(error); });
}

void HttpSession::on_read(beast::error_code error) {
  if (error) {
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, error);
    return;
  }
  auto request = parser_->release();
  if (beast::websocket::is_upgrade(request)) {
    const std::string_view target = request.target();
    if (target.substr(0, target.find('?')) == "/ws" && !context_.shutting_down.load()) {
      // The bytes already read belong to the HTTP request alone: a client
      // may not send WebSocket frames before the 101 response.
      std::make_shared<WsSession>(std::move(stream_), context_)->start(std::move(request));
      return;
    }
  }
  auto response = std::make_shared<http::response<http::string_body>>(respond(request, context_));
  http::async_write(stream_, *response,
                    [self = shared_from_this(), response](beast::error_code write_error, std::size_t) {
                      if (write_error || !response->keep_alive()) {
                        self->stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, write_error);
                        return;
                      }
                      self->read_next();
                    });
}

}  // namespace hearth
