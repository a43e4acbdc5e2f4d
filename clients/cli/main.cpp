// hearth-cli: a terminal client for Hearth. Connects, says hello, joins (or
// creates) a room, prints every event as it arrives, and sends what you type:
// JSON ClientMessages or /shortcuts (see /help). At the end of input it
// waits for the replies still due, then closes.
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/program_options.hpp>
#include <deque>
#include <iostream>
#include <optional>
#include <regex>
#include <set>

#include "format.hpp"
#include "protocol/codec.hpp"
#include "protocol/transport.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace po = boost::program_options;
using namespace hearth;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// ws[s]://HOST[:PORT][/PATH]
const std::regex kUrl(R"((wss?)://([^:/]+)(?::([0-9]+))?(/.*)?)");

struct Options {
  std::string url = "ws://127.0.0.1:8080/ws";
  std::string room;
  std::string token;
  std::string name;
  std::string create;  // "", "ama" or "support"
  std::string title;
  bool approval = false;
  bool side_chat = false;
  std::string ca_file;  // wss://: trust this CA file instead of the system's
  bool json = false;
  bool binary = false;
  int linger_ms = 3000;
};

// One connection and its single-writer queue.
class Client {
 public:
  // `tls`: for a wss:// URL (checked by the caller).
  Client(asio::io_context& io, Options options, asio::ssl::context* tls)
      : io_(io),
        ws_(tls ? Transport(beast::tcp_stream(io), *tls) : Transport(beast::tcp_stream(io))),
        options_(std::move(options)),
        timer_(io) {}

  asio::awaitable<int> run() {
    std::smatch match;
    std::regex_match(options_.url, match, kUrl);
    const bool secure = match[1] == "wss";
    const std::string host = match[2];
    const std::string port = match[3].matched ? std::string(match[3]) : secure ? "443" : "80";
    const std::string path = match[4].matched ? std::string(match[4]) : "/";
    asio::ip::tcp::resolver resolver(io_);
    auto [resolve_error, endpoints] = co_await resolver.async_resolve(host, port, use_tuple);
    if (resolve_error) co_return fail("cannot resolve " + host + ": " + resolve_error.message());
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(10));
    auto [connect_error, endpoint] = co_await beast::get_lowest_layer(ws_).async_connect(endpoints, use_tuple);
    if (connect_error) co_return fail("cannot connect to " + options_.url + ": " + connect_error.message());
    beast::get_lowest_layer(ws_).socket().set_option(asio::ip::tcp::no_delay(true));
    if (auto* tls = ws_.next_layer().tls()) {
      // The certificate must be valid for `host` and chain to a trusted CA.
      SSL_set_tlsext_host_name(tls->native_handle(), host.c_str());
      tls->set_verify_mode(asio::ssl::verify_peer);
      tls->set_verify_callback(asio::ssl::host_name_verification(host));
      auto [tls_error] = co_await tls->async_handshake(asio::ssl::stream_base::client, use_tuple);
      if (tls_error) co_return fail("TLS handshake failed: " + tls_error.message());
    }
    auto [handshake_error] = co_await ws_.async_handshake(host + ":" + port, path, use_tuple);
    if (handshake_error) co_return fail("WebSocket handshake failed: " + handshake_error.message());
    beast::get_lowest_layer(ws_).expires_never();
    ws_.binary(options_.binary);
    std::cerr << "connected to " << options_.url << (options_.binary ? " (protobuf)" : " (JSON)") << "\n";

    if (!options_.token.empty() || !options_.name.empty()) {
      v1::ClientMessage hello;
      hello.mutable_hello()->set_token(options_.token);
      hello.mutable_hello()->set_display_name(options_.name);
      send(std::move(hello));
    }
    if (!options_.create.empty()) {
      v1::ClientMessage create;
      create.set_room_id(options_.room);
      auto* command = create.mutable_create_room();
      command->set_kind(options_.create == "support" ? v1::ROOM_KIND_SUPPORT : v1::ROOM_KIND_AMA);
      command->set_title(options_.title);
      command->mutable_settings()->set_require_approval(options_.approval);
      command->mutable_settings()->set_side_chat(options_.side_chat);
      send(std::move(create));
    } else if (!options_.room.empty()) {
      v1::ClientMessage join;
      join.set_room_id(options_.room);
      join.mutable_join_room();
      send(std::move(join));
    }
    // Typed lines wait until hello and the join are answered: a command sent
    // before the join reply would find the connection not in the room yet.
    startup_ = awaiting_;
    if (startup_.empty()) ready_ = true;
    asio::co_spawn(io_, read_stdin(), asio::detached);
    co_return co_await read_server();
  }

 private:
  int fail(const std::string& message) {
    std::cerr << "hearth-cli: " << message << "\n";
    return 1;
  }

  void send(v1::ClientMessage message) {
    if (message.request_id() == 0) message.set_request_id(next_request_id_++);
    awaiting_.insert(message.request_id());
    outbox_.push_back(encode(message, options_.binary ? Encoding::binary : Encoding::json));
    if (outbox_.size() == 1) asio::co_spawn(io_, write_all(), asio::detached);
  }

  asio::awaitable<void> write_all() {
    while (!outbox_.empty()) {
      auto [error, bytes] = co_await ws_.async_write(asio::buffer(outbox_.front()), use_tuple);
      if (error) co_return;
      outbox_.pop_front();
    }
  }

  asio::awaitable<int> read_server() {
    beast::flat_buffer buffer;
    for (;;) {
      auto [error, bytes] = co_await ws_.async_read(buffer, use_tuple);
      if (error == websocket::error::closed) {
        std::cerr << "closed by the server: " << ws_.reason().code << " " << ws_.reason().reason << "\n";
        co_return input_done_ ? 0 : 1;
      }
      if (error) {
        if (error == asio::error::operation_aborted) co_return 0;  // we closed it
        co_return fail("connection lost: " + error.message());
      }
      const std::string frame = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      v1::ServerMessage message;
      google::protobuf::util::JsonParseOptions options;
      options.ignore_unknown_fields = true;  // a newer server may send more
      const bool ok = ws_.got_binary() ? message.ParseFromString(frame)
                                       : google::protobuf::util::JsonStringToMessage(frame, &message, options).ok();
      if (!ok) {
        std::cout << "(undecodable frame)\n" << std::flush;
        continue;
      }
      if (options_.json) std::cout << encode(message, Encoding::json) << "\n";
      else std::cout << cli::describe(message);
      std::cout << std::flush;
      if (message.has_reply()) {
        awaiting_.erase(message.reply().request_id());
        if (!ready_ && startup_.erase(message.reply().request_id()) > 0 && startup_.empty()) {
          ready_ = true;
          for (const auto& line : held_) handle_line(line);
          held_.clear();
        }
        maybe_finish();
      }
    }
  }

  asio::awaitable<void> read_stdin() {
    asio::posix::stream_descriptor input(io_, ::dup(STDIN_FILENO));
    std::string pending;
    for (;;) {
      auto [error, size] = co_await asio::async_read_until(input, asio::dynamic_buffer(pending), '\n', use_tuple);
      if (error) {
        if (!pending.empty()) handle_line(pending);
        break;
      }
      std::string line = pending.substr(0, size - 1);
      pending.erase(0, size);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line == "/quit") break;
      handle_line(line);
    }
    input_done_ = true;
    // Wait for the replies still due, but not forever.
    timer_.expires_after(std::chrono::milliseconds(options_.linger_ms));
    timer_.async_wait([this](boost::system::error_code error) {
      if (!error) close();
    });
    maybe_finish();
  }

  void handle_line(const std::string& line) {
    if (!ready_) {
      held_.push_back(line);
      return;
    }
    std::string error;
    auto message = cli::parse_line(line, options_.room, error);
    if (message) send(std::move(*message));
    else if (!error.empty()) std::cerr << error << (error.back() == '\n' ? "" : "\n");
  }

  void maybe_finish() {
    if (input_done_ && ready_ && awaiting_.empty()) close();
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    timer_.cancel();
    ws_.async_close(websocket::close_code::normal, [](beast::error_code) {});
  }

  asio::io_context& io_;
  websocket::stream<Transport> ws_;
  Options options_;
  asio::steady_timer timer_;
  std::uint32_t next_request_id_ = 1;
  std::set<std::uint32_t> awaiting_;
  std::set<std::uint32_t> startup_;  // hello and join, still unanswered
  bool ready_ = false;
  std::vector<std::string> held_;    // lines typed before ready_
  std::deque<std::string> outbox_;
  bool input_done_ = false;
  bool closing_ = false;
};

}  // namespace

int main(int argc, char* argv[]) {
  Options options;
  po::options_description desc(
      "hearth-cli [options]\n\nConnects to a Hearth server, joins a room and prints its events. Type JSON\n"
      "ClientMessages or shortcuts such as /ask, /vote 12, /help; plain lines are chat.\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help", "print this help and exit")
    ("url", po::value(&options.url)->default_value(options.url), "server WebSocket URL: ws://... or wss://...")
    ("ca-file", po::value(&options.ca_file), "wss://: PEM file of CAs to trust instead of the system's")
    ("room", po::value(&options.room), "room to join (or create)")
    ("token", po::value(&options.token), "signed token (host, moderator...); default HEARTH_TOKEN")
    ("name", po::value(&options.name), "display name; without one the server gives a pseudonym")
    ("create", po::value(&options.create), "create the room first: ama or support (host token)")
    ("title", po::value(&options.title), "title of a created room")
    ("approval", po::bool_switch(&options.approval), "created AMA: questions need approval")
    ("side-chat", po::bool_switch(&options.side_chat), "created AMA: chat beside the questions")
    ("json", po::bool_switch(&options.json), "print raw JSON frames instead of text")
    ("binary", po::bool_switch(&options.binary), "speak protobuf (binary frames) instead of JSON")
    ("linger-ms", po::value(&options.linger_ms)->default_value(options.linger_ms),
     "at end of input, how long to wait for outstanding replies");
  // clang-format on
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n" << cli::shortcut_help();
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "hearth-cli: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (options.token.empty()) {
    if (const char* token = std::getenv("HEARTH_TOKEN")) options.token = token;
  }
  if (!options.create.empty() && options.create != "ama" && options.create != "support") {
    std::cerr << "hearth-cli: --create must be ama or support\n";
    return 2;
  }
  if (!std::regex_match(options.url, kUrl)) {
    std::cerr << "hearth-cli: --url must look like ws://HOST:PORT/ws or wss://HOST/ws\n";
    return 2;
  }
  std::optional<asio::ssl::context> tls;
  if (options.url.starts_with("wss://")) {
    tls.emplace(asio::ssl::context::tls_client);
    boost::system::error_code error;
    if (options.ca_file.empty()) tls->set_default_verify_paths(error);
    else tls->load_verify_file(options.ca_file, error);
    if (error) {
      std::cerr << "hearth-cli: cannot load trusted CAs: " << error.message() << "\n";
      return 2;
    }
  }
  asio::io_context io;
  Client client(io, options, tls ? &*tls : nullptr);
  int exit_code = 1;
  asio::co_spawn(io, client.run(), [&](std::exception_ptr error, int code) {
    exit_code = error ? 1 : code;
    io.stop();
  });
  io.run();
  return exit_code;
}
