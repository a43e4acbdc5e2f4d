#include "app/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <csignal>
#include <fstream>
#include <iostream>
#include <optional>

#include "app/listener.hpp"
#include "base/fault.hpp"
#include "base/log.hpp"
#include "engine/memory/engine_memory.hpp"
#include "engine/redis/engine_redis.hpp"
#include "room/retention.hpp"
#include "room/room_registry.hpp"

namespace hearth {

namespace asio = boost::asio;

namespace {

// TLS 1.2 and 1.3 only, with OpenSSL's default ciphers for them; the
// certificate chain and key from PEM files. Null (and logged) if either
// cannot be used.
std::optional<asio::ssl::context> make_tls_context(const Config& config) {
  asio::ssl::context tls(asio::ssl::context::tls_server);
  tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                  asio::ssl::context::single_dh_use | SSL_OP_NO_RENEGOTIATION);
  boost::system::error_code error;
  tls.use_certificate_chain_file(config.tls_cert, error);
  if (error) {
    log::error("--tls-cert: cannot use ", config.tls_cert, ": ", error.message());
    return std::nullopt;
  }
  // OpenSSL also refuses a key that is not the certificate's.
  tls.use_private_key_file(config.tls_key, asio::ssl::context::pem, error);
  if (error) {
    log::error("--tls-key: cannot use ", config.tls_key, ": ", error.message());
    return std::nullopt;
  }
  return tls;
}

// The crisis rules and the texts a writer is shown, as the flags say; an
// empty --crisis-rules turns detection off.
std::shared_ptr<const CrisisLane> load_crisis_lane(const Config& config, std::string& error) {
  auto lane = std::make_shared<CrisisLane>();
  const auto read = [&](const std::string& path, const char* flag, std::string& out) {
    std::ifstream in(path);
    if (!in)
      error = std::string(flag) + ": cannot read " + path;
    else
      out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return static_cast<bool>(in);
  };
  // A public text, not part of detection: one that cannot be read is
  // served empty, with a warning, rather than keep the server (or a reload
  // of the rules) from going ahead.
  if (!config.support_resources.empty() &&
      !read(config.support_resources, "--support-resources", lane->general)) {
    log::warn(error, "; GET /support serves no text");
    error.clear();
  }
  if (config.crisis_rules.empty()) return lane;
  auto rules = CrisisRules::load(config.crisis_rules, error);
  if (!rules) {
    error = "--crisis-rules: " + error;
    return nullptr;
  }
  lane->rules = std::move(*rules);
  if (!read(config.crisis_resources, "--crisis-resources", lane->support) ||
      !read(config.crisis_about_resources, "--crisis-about-resources", lane->resources)) {
    return nullptr;
  }
  log::info("crisis rules: ", lane->rules.size());
  return lane;
}

}  // namespace

int run_server(const Config& config) {
  log::set_level(config.log_level);
  if (config.fault_injection) fault::enable_injection();
  Shards shards(config.threads, std::chrono::milliseconds(config.write_coalesce_ms));
  asio::io_context& io = shards.main().io();
  std::unique_ptr<Engine> engine;
  if (config.engine == "redis") {
    auto address = RedisAddress::parse(config.redis_url);
    if (!address) {
      log::error("--redis must look like redis://[:password@]host[:port] or unix:///path");
      return 2;
    }
    if (!config.redis_password.empty()) address->password = config.redis_password;
    log::info("engine redis at ", address->describe());
    engine = std::make_unique<RedisEngine>(io.get_executor(), *address, config.presence_ttl);
  } else {
    engine = std::make_unique<MemoryEngine>();
  }
  // Budgets every node shares (passcode guesses, reports, messages per identity);
  // passcode keys are derived on two threads of their own.
  LocalBudgets local_budgets;
  SharedBudgets& budgets = engine->shared_budgets() != nullptr ? *engine->shared_budgets() : local_budgets;
  SharedCounts* const counts = engine->shared_counts();
  PasscodeChecker passcodes(budgets, 2, config.token_secret);
  ReportMeter reports(budgets, config.token_secret, config.limits.reports_per_hour);
  AddressBans address_bans(*engine, config.token_secret, std::chrono::hours(config.limits.address_ban_hours));
  RoomRegistry rooms(shards, *engine, passcodes, reports, address_bans, config.limits);
  std::string crisis_error;
  auto crisis = load_crisis_lane(config, crisis_error);
  if (!crisis) {
    log::error(crisis_error);
    return 2;
  }
  ServerContext context(config, *engine, rooms, budgets, counts, std::move(crisis));
  std::optional<asio::ssl::context> tls;
  if (!config.tls_cert.empty()) {
    tls = make_tls_context(config);
    if (!tls) return 2;
    context.tls = &*tls;
  }
  auto retention = std::make_shared<Retention>(io.get_executor(), *engine, budgets, config.limits,
                                               config.retention_days, config.retention_sweep);
  // "hearth ready" on stdout once storage is reachable: scripts and tests
  // wait for it rather than poll /readyz.
  auto announce_ready = [] { std::cout << "hearth ready" << std::endl; };

  std::shared_ptr<Listener> listener;
  try {
    listener = std::make_shared<Listener>(shards, asio::ip::tcp::endpoint(asio::ip::make_address(config.listen),
                                                                      config.port),
                                          context);
  } catch (const boost::system::system_error& e) {
    log::error("cannot listen on ", config.listen, ":", config.port, ": ", e.code().message());
    return 1;
  }
  listener->start();
  std::shared_ptr<Listener> metrics_listener;
  if (!config.metrics_listen.empty()) {
    // ADDR:PORT, or [V6ADDR]:PORT.
    const auto colon = config.metrics_listen.rfind(':');
    std::string host = config.metrics_listen.substr(0, colon == std::string::npos ? 0 : colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    boost::system::error_code error;
    const auto address = asio::ip::make_address(host, error);
    unsigned port = 0;
    const auto port_text = colon == std::string::npos ? std::string() : config.metrics_listen.substr(colon + 1);
    const auto parsed = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (colon == std::string::npos || error || parsed.ec != std::errc() ||
        parsed.ptr != port_text.data() + port_text.size() || port > 65535) {
      log::error("--metrics-listen must look like 127.0.0.1:9100 or [::1]:9100");
      return 2;
    }
    try {
      metrics_listener = std::make_shared<Listener>(
          shards, asio::ip::tcp::endpoint(address, static_cast<std::uint16_t>(port)), context, true);
    } catch (const boost::system::system_error& e) {
      log::error("cannot listen on --metrics-listen: ", e.code().message());
      return 1;
    }
    metrics_listener->start();
    const auto bound = metrics_listener->local_endpoint();
    std::cout << "hearth metrics on http://" << config.metrics_listen.substr(0, colon) << ":" << bound.port()
              << "/metrics" << std::endl;
  }

  // This node's open connections per address, renewed in Redis as its
  // heartbeat is, and idle message leases given back (budgets.hpp).
  asio::steady_timer renewal(io);
  std::function<void()> renew_counts = [&] {
    renewal.expires_after(counts->renew_interval());
    renewal.async_wait([&](boost::system::error_code error) {
      if (error) return;
      context.connections_per_address.renew();
      context.identity_budgets.sweep();
      renew_counts();
    });
  };

  // SIGHUP: the crisis rules and texts again; a file that does not load
  // leaves the running ones in place.
  asio::signal_set hangups(io, SIGHUP);
  std::function<void()> await_hangup = [&] {
    hangups.async_wait([&](boost::system::error_code error, int) {
      if (error) return;
      await_hangup();  // first: whatever the files hold, the next SIGHUP is heard
      std::string why;
      if (auto lane = load_crisis_lane(config, why)) {
        log::info("SIGHUP: crisis rules read again: ", lane->rules.size(), " rules");
        context.crisis.store(std::move(lane));
      } else {
        log::error("SIGHUP: ", why, "; the rules in use stay");
      }
    });
  };
  await_hangup();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer deadline(io);
  signals.async_wait([&](boost::system::error_code error, int signal) {
    if (error) return;
    log::info("signal ", signal, ": shutting down, ", context.connections.size(), " connections to close");
    context.shutting_down = true;
    hangups.cancel();
    listener->stop();
    if (metrics_listener) metrics_listener->stop();
    retention->stop();
    renewal.cancel();
    // Soft first: every client gets a 1001 close frame; forcibly after the grace.
    deadline.expires_after(config.shutdown_grace);
    deadline.async_wait([&shards](boost::system::error_code e) {
      if (!e) {
        log::warn("shutdown grace over; stopping with connections still open");
        shards.stop();
      }
    });
    // Then the rooms: each retires once the Left entries of its departed
    // members are written; then this node says goodbye to the other nodes
    // (its heartbeat goes, so they need not wait for it to expire).
    context.connections.close_all(CloseCode::going_away, [&shards, &rooms, &engine] {
      rooms.when_empty([&shards, &engine] { engine->say_goodbye([&shards] { shards.stop(); }); });
    });
  });

  const auto endpoint = listener->local_endpoint();
  const auto where = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  std::cout << "hearth listening on " << (tls ? "https://" : "http://") << where << " (WebSocket: "
            << (tls ? "wss://" : "ws://") << where << "/ws)" << std::endl;
  log::info("serving with ", config.threads, " threads, engine ", config.engine);
  engine->start(announce_ready);
  retention->start();
  if (counts != nullptr) renew_counts();

  shards.run();
  // Every shard has stopped. If the grace ran out, sessions whose clients
  // never answered the close are still members of their Rooms, and hold
  // their connections, which hold them: let go of both, so that nothing is
  // left holding itself.
  rooms.abandon_all();
  context.connections.abandon_all();
  // A second SIGTERM while the process winds down must not turn a clean
  // exit into a death by signal: stop listening for them, then ignore them.
  boost::system::error_code ignored;
  signals.clear(ignored);
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);
  log::info("stopped");
  return 0;
}

}  // namespace hearth
