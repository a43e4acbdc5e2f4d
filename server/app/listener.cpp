#include "app/listener.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "app/http_session.hpp"
#include "base/log.hpp"

namespace hearth {

namespace asio = boost::asio;

Listener::Listener(Shards& shards, const asio::ip::tcp::endpoint& endpoint, ServerContext& context,
                   bool metrics_only)
    : shards_(shards), acceptor_(asio::make_strand(shards.main().io())), context_(context), metrics_only_(metrics_only) {
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
      // Until its first request has come whole, a connection counts against
      // its address's cap of unfinished connections: thousands that never
      // finish a request would otherwise cost as much as thousands that did,
      // and be held for the whole --handshake-timeout. Not behind a trusted
      // proxy, whose clients' addresses are known only from the request.
      std::string counted;
      boost::system::error_code peer_error;
      const auto peer = socket.remote_endpoint(peer_error);
      auto& context = self->context_;
      if (!peer_error && !(context.config.trust_proxy && peer.address().is_loopback())) {
        counted = peer.address().to_string();
        if (!context.unfinished_per_address.try_add(counted, unfinished_cap(context.config.limits))) {
          socket.close(ignored);  // nothing read, nothing to answer: cheapest for both
          return self->accept_next();
        }
      }
      boost::beast::tcp_stream tcp(std::move(socket));
      auto* tls = self->metrics_only_ ? nullptr : context.tls;
      std::make_shared<HttpSession>(tls ? Transport(std::move(tcp), *tls) : Transport(std::move(tcp)), context,
                                    std::move(counted), self->metrics_only_)
          ->start();
    }
    self->accept_next();
  });
}

}  // namespace hearth
