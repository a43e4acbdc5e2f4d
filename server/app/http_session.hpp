// One HTTP connection: answers plain requests (/healthz, 404, 405) with
// keep-alive, and hands WebSocket upgrades on /ws to a ClientSession.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>

#include "app/server_context.hpp"
#include "domain/transcript.hpp"
#include "protocol/transport.hpp"

namespace hearth {

// The response to a plain (not upgrade) request. Pure, for tests.
boost::beast::http::response<boost::beast::http::string_body> respond(
    const boost::beast::http::request<boost::beast::http::string_body>& request, const ServerContext& context);

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // `stream` must have a strand as its executor. Over TLS the handshake
  // comes first, within the handshake timeout.
  // `unfinished_address`, if not empty, has been counted in
  // context.unfinished_per_address for this connection until its first
  // request has come whole (see Listener).
  // `metrics_only`: a connection to the --metrics-listen port.
  HttpSession(Transport stream, ServerContext& context, std::string unfinished_address = {},
              bool metrics_only = false);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;
  void start();

 private:
  // Done with the connection: TLS says close_notify (bounded by the
  // handshake timeout), then TCP shuts down its sending side.
  void shut_down();
  void read_next();
  void on_read(boost::beast::error_code error);
  void send(std::shared_ptr<boost::beast::http::response<boost::beast::http::string_body>> response);
  // A JSON error: {"error": code, "message": message}.
  void send_error(const boost::beast::http::request<boost::beast::http::string_body>& request,
                  boost::beast::http::status status, std::string_view code, std::string_view message);
  // An upgrade on /ws: the Origin, a token in Sec-WebSocket-Protocol and the
  // per-address limit are checked, then a ClientSession takes the stream.
  void upgrade(boost::beast::http::request<boost::beast::http::string_body> request);
  // Whether the request's bearer token holds one of `roles` in `room_id`;
  // if not, the error response has been sent and it returns false.
  bool authorize(const boost::beast::http::request<boost::beast::http::string_body>& request,
                 const std::string& room_id, std::initializer_list<v1::Role> roles, std::string_view why);
  // DELETE /rooms/{id}: the room's host or an admin removes its log.
  void delete_room(const boost::beast::http::request<boost::beast::http::string_body>& request,
                   const std::string& room_id);
  // Whether this request may read /metrics: on the --metrics-listen port,
  // anyone; on the main port, a loopback peer whose request came through no
  // proxy (a proxy on loopback would otherwise hand it to the public).
  bool may_read_metrics(const boost::beast::http::request<boost::beast::http::string_body>& request);
  // Who is connecting, for the per-address limit: the peer, or behind a
  // trusted proxy its X-Real-IP. Never logged.
  std::string client_address(const boost::beast::http::request<boost::beast::http::string_body>& request);
  // 503 {"error": "unavailable"}: storage could not be reached.
  void send_unavailable(const boost::beast::http::request<boost::beast::http::string_body>& request);
  // GET /rooms/{id}/transcript: checks the request, then send_transcript()
  // reads the log twice, a page at a time (TranscriptRenderer), and sends
  // the second pass as it goes, in chunks.
  void serve_transcript(const boost::beast::http::request<boost::beast::http::string_body>& request,
                        const std::string& room_id);
  boost::asio::awaitable<void> send_transcript(std::string room_id, TranscriptFormat format, bool keep_alive,
                                               unsigned version);

  // The first request has come (or the connection ends): no longer counted
  // as unfinished.
  void finished_first_request();

  Transport stream_;
  ServerContext& context_;
  std::string unfinished_address_;
  const bool metrics_only_;
  boost::beast::flat_buffer buffer_;
  std::unique_ptr<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
};

}  // namespace hearth
