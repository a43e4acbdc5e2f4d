// A connection's byte stream: plain TCP, or TLS over TCP when the server was
// given --tls-cert and --tls-key. The HTTP session, the WebSocket handshake
// and the clients use it; after the upgrade the server's WebSocket connection
// keeps only the bare socket or the TLS stream (ws_connection.hpp).
//
// Beast's own examples make every session a template over its stream (the
// "flex" server). A variant here keeps HttpSession and WsConnection ordinary
// classes, compiled once: each read or write picks its branch at run time,
// which costs a predictable branch next to a system call. Written by hand
// because neither Asio nor Beast has a run-time either-stream.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <utility>
#include <variant>

namespace hearth {

class Transport {
 public:
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using executor_type = boost::beast::tcp_stream::executor_type;

  explicit Transport(boost::beast::tcp_stream tcp) : stream_(std::move(tcp)) {}
  Transport(boost::beast::tcp_stream tcp, boost::asio::ssl::context& tls)
      : stream_(std::in_place_type<Tls>, std::move(tcp), tls) {}
  Transport(Transport&&) = default;
  Transport& operator=(Transport&&) = delete;

  executor_type get_executor() noexcept { return tcp().get_executor(); }

  // The TCP stream either way: its timer and socket. Beast's
  // get_lowest_layer() follows next_layer() down to it.
  boost::beast::tcp_stream& next_layer() noexcept { return tcp(); }
  boost::beast::tcp_stream& tcp() noexcept {
    if (auto* tls = std::get_if<Tls>(&stream_)) return tls->next_layer();
    return std::get<boost::beast::tcp_stream>(stream_);
  }

  // Null for plain TCP.
  Tls* tls() noexcept { return std::get_if<Tls>(&stream_); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& to) {
          std::visit([&](auto& stream) { stream.async_read_some(to, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& from) {
          std::visit([&](auto& stream) { stream.async_write_some(from, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

  // Blocking reads and writes, for clients (the test client's handshake).
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, boost::beast::error_code& error) {
    return std::visit([&](auto& stream) { return stream.read_some(buffers, error); }, stream_);
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    return std::visit([&](auto& stream) { return stream.read_some(buffers); }, stream_);
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, boost::beast::error_code& error) {
    return std::visit([&](auto& stream) { return stream.write_some(buffers, error); }, stream_);
  }
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    return std::visit([&](auto& stream) { return stream.write_some(buffers); }, stream_);
  }

  // The WebSocket close handshake ends with these (found by ADL): a TLS
  // close_notify first, then the TCP shutdown.
  friend void teardown(boost::beast::role_type role, Transport& transport, boost::beast::error_code& error) {
    using boost::beast::websocket::teardown;
    std::visit([&](auto& stream) { teardown(role, stream, error); }, transport.stream_);
  }

  template <class Handler>
  friend void async_teardown(boost::beast::role_type role, Transport& transport, Handler&& handler) {
    using boost::beast::websocket::async_teardown;
    std::visit([&](auto& stream) { async_teardown(role, stream, std::forward<Handler>(handler)); },
               transport.stream_);
  }

 private:
  std::variant<boost::beast::tcp_stream, Tls> stream_;
};

}  // namespace hearth
