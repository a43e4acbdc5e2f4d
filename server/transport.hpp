// A connection's byte stream: plain TCP, or TLS over TCP when the server was
// given --tls-cert and --tls-key.
//
// Beast's own examples make every session a template over its stream (the
// "flex" server). A variant here keeps HttpSession and WsSession ordinary
// classes, compiled once: each read or write picks its branch at run time,
// which costs a predictable branch next to a system call. Written by hand
// because neither Asio nor Beast has a run-time either-stream.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <functional>
#include <utility>
#include <variant>

namespace hearth {

class Transport {
 public:
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using executor_type = boost::beast::tcp_stream::executor_type;

  explicit Transport(boost::beast::tcp_stream tcp) : gate_(tcp.get_executor()), stream_(std::move(tcp)) {
    gate_.expires_at(boost::asio::steady_timer::time_point::max());
  }
  Transport(boost::beast::tcp_stream tcp, boost::asio::ssl::context& tls)
      : gate_(tcp.get_executor()), stream_(std::in_place_type<Tls>, std::move(tcp), tls) {
    gate_.expires_at(boost::asio::steady_timer::time_point::max());
  }

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

  // Beast's writes: after the session's unfinished data frame, if any.
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::beast::error_code, std::size_t)>(
        ControlWrite<ConstBuffers>{*this, buffers}, token, gate_);
  }

  // The session's side of the sharing (see the top of this file). All on
  // the connection's strand.
  void data_writing(bool writing) {
    data_writing_ = writing;
    if (!writing && control_waiting_) gate_.cancel();
  }
  bool control_busy() const noexcept { return control_writing_ || control_waiting_; }
  void on_control_done(std::function<void()> fn) { on_control_done_ = std::move(fn); }

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
  template <class ConstBuffers>
  struct ControlWrite {
    Transport& transport;
    ConstBuffers buffers;
    bool writing = false;

    template <class Self>
    void operator()(Self& self, boost::beast::error_code error = {}, std::size_t written = 0) {
      if (writing) {
        transport.control_writing_ = false;
        if (transport.on_control_done_) boost::asio::post(transport.gate_.get_executor(), transport.on_control_done_);
        return self.complete(error, written);
      }
      // First call, or woken by data_writing(false).
      if (transport.data_writing_) {
        transport.control_waiting_ = true;
        return transport.gate_.async_wait(std::move(self));
      }
      transport.control_waiting_ = false;
      transport.control_writing_ = true;
      writing = true;
      std::visit([&](auto& stream) { stream.async_write_some(buffers, std::move(self)); }, transport.stream_);
    }
  };

  boost::asio::steady_timer gate_;  // never expires: cancel() wakes a waiting control write
  bool data_writing_ = false;
  bool control_writing_ = false;
  bool control_waiting_ = false;
  std::function<void()> on_control_done_;
  std::variant<boost::beast::tcp_stream, Tls> stream_;
};

}  // namespace hearth
