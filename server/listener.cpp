#include "listener.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "http_session.hpp"
#include "log.hpp"

namespace hearth {

namespace asio = boost::asio;

Listener::Listener(Shards& shards, const asio::ip::tcp::endpoint& endpoint, ServerContext& context)
    : shards_(shards), acceptor_(asio::make_strand(shards.main().io())), context_(context) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void Listener::start() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] { self->accept_next(); });
}

void Listener::stop() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

void Listener::accept_next() {
  // The shards take connections in turn. Each runs on one thread, so a
  // connection needs no strand of its own.
  acceptor_.async_accept(asio::any_io_executor(shards_.next().io().get_executor()), [self = shared_from_this()](boost::system::error_code error,
                                                                             asio::ip::tcp::socket socket) {
    if (error == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (error) {
      // Out of descriptors, typically: log, and keep accepting.
      log::warn("accept failed: ", error.message());
    } else {
      // Small frames go out at once: an event followed by its reply must not
      // wait for the peer's delayed ACK (Nagle).
      boost::system::error_code ignored;
      socket.set_option(asio::ip::tcp::no_delay(true), ignored);
      if (const std::size_t bytes = self->context_.config.socket_send_buffer; bytes > 0) {
        socket.set_option(asio::socket_base::send_buffer_size(static_cast<int>(bytes)), ignored);
      }
      boost::beast::tcp_stream tcp(std::move(socket));
      auto* tls = self->context_.tls;
      std::make_shared<HttpSession>(tls ? Transport(std::move(tcp), *tls) : Transport(std::move(tcp)), self->context_)
          ->start();
    }
    self->accept_next();
  });
}

}  // namespace hearth
