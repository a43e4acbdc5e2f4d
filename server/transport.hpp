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

  explicit Transport(boost::beast::tcp_stream tcp)
      : sharing_(std::make_shared<Sharing>(tcp.get_executor())), stream_(std::move(tcp)) {}
  Transport(boost::beast::tcp_stream tcp, boost::asio::ssl::context& tls)
      : sharing_(std::make_shared<Sharing>(tcp.get_executor())), stream_(std::in_place_type<Tls>, std::move(tcp), tls) {}
  Transport(Transport&&) = default;
  Transport& operator=(Transport&&) = delete;
  // A control write still waiting (Beast's keep-alive ping does not keep
  // the session alive) completes with operation_aborted.
  ~Transport() {
    if (sharing_) {
      sharing_->gone = true;
      sharing_->gate.cancel();
    }
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
        ControlWrite<ConstBuffers>{this, sharing_, buffers}, token, sharing_->gate);
  }

  // The session's side of the sharing (see the top of this file). All on
  // the connection's strand.
  void data_writing(bool writing) {
    sharing_->data_writing = writing;
    if (!writing && sharing_->control_waiting) sharing_->gate.cancel();
  }
  bool control_busy() const noexcept { return sharing_->control_writing || sharing_->control_waiting; }
  void on_control_done(std::function<void()> fn) { sharing_->on_control_done = std::move(fn); }

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
  // Who writes now. Shared with the control writes in flight, which may
  // outlive the Transport.
  struct Sharing {
    explicit Sharing(const executor_type& executor) : gate(executor) {
      gate.expires_at(boost::asio::steady_timer::time_point::max());
    }
    boost::asio::steady_timer gate;  // never expires: cancel() wakes a waiting control write
    bool data_writing = false;
    bool control_writing = false;
    bool control_waiting = false;
    bool gone = false;  // the Transport was destroyed
    std::function<void()> on_control_done;
  };

  template <class ConstBuffers>
  struct ControlWrite {
    Transport* transport;  // only while !sharing->gone
    std::shared_ptr<Sharing> sharing;
    ConstBuffers buffers;
    bool writing = false;

    template <class Self>
    void operator()(Self& self, boost::beast::error_code error = {}, std::size_t written = 0) {
      auto& shared = *sharing;
      if (writing) {
        shared.control_writing = false;
        if (!shared.gone && shared.on_control_done) {
          boost::asio::post(shared.gate.get_executor(), shared.on_control_done);
        }
        return self.complete(error, written);
      }
      if (shared.gone) {
        shared.control_waiting = false;
        return self.complete(boost::beast::error_code(boost::asio::error::operation_aborted), 0);
      }
      // First call, or woken by data_writing(false).
      if (shared.data_writing) {
        shared.control_waiting = true;
        return shared.gate.async_wait(std::move(self));
      }
      shared.control_waiting = false;
      shared.control_writing = true;
      writing = true;
      // Copied first: `self`, and these buffers with it, moves into the call.
      const ConstBuffers to = buffers;
      std::visit([&](auto& stream) { stream.async_write_some(to, std::move(self)); }, transport->stream_);
    }
  };

  std::shared_ptr<Sharing> sharing_;
  std::variant<boost::beast::tcp_stream, Tls> stream_;
};

}  // namespace hearth
