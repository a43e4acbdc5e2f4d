// Accepts TCP connections and starts an HttpSession for each, on a strand of
// its own on the next shard.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "app/server_context.hpp"
#include "room/shards.hpp"

namespace hearth {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Binds and listens; throws boost::system::system_error if it cannot.
  // `metrics_only`: the --metrics-listen port, which answers GET /metrics
  // to anyone who can reach it and nothing else.
  Listener(Shards& shards, const boost::asio::ip::tcp::endpoint& endpoint, ServerContext& context,
           bool metrics_only = false);
  void start();
  // Stops accepting. Any thread.
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void accept_next();

  Shards& shards_;
  boost::asio::ip::tcp::acceptor acceptor_;
  ServerContext& context_;
  const bool metrics_only_;
};

}  // namespace hearth
