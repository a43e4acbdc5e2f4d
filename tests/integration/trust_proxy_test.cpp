// --trust-proxy and X-Real-IP (docs/protocol.md 1.1, docs/security.md 7):
// with the switch, a connection from loopback that carries X-Real-IP counts
// under that address for --max-connections-per-ip; without it, or from a
// peer that is not loopback, the header is ignored and the TCP peer's
// address counts.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// A WebSocket upgrade made by hand and kept open (the server counts a
// connection for as long as it is open), with an X-Real-IP header if given,
// from `source` if given.
class HeldUpgrade {
 public:
  HeldUpgrade(std::uint16_t port, const std::string& real_ip, const std::string& source = "") : stream_(io_) {
    stream_.expires_after(5s);
    auto& socket = stream_.socket();
    socket.open(asio::ip::tcp::v4());
    if (!source.empty()) socket.bind(asio::ip::tcp::endpoint(asio::ip::make_address(source), 0));
    socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::empty_body> request{http::verb::get, "/ws", 11};
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    request.set(http::field::upgrade, "websocket");
    request.set(http::field::connection, "Upgrade");
    request.set(http::field::sec_websocket_version, "13");
    request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    if (!real_ip.empty()) request.set("X-Real-IP", real_ip);
    http::write(stream_, request);
    http::response_parser<http::string_body> parser;
    http::read(stream_, buffer_, parser);
    status_ = parser.get().result_int();
    stream_.expires_never();
  }

  unsigned status() const { return status_; }

 private:
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  unsigned status_ = 0;
};

// Opens connections, keeping them; returns the status of each upgrade.
class Connections {
 public:
  explicit Connections(std::uint16_t port) : port_(port) {}
  unsigned open(const std::string& real_ip, const std::string& source = "") {
    held_.push_back(std::make_unique<HeldUpgrade>(port_, real_ip, source));
    return held_.back()->status();
  }

 private:
  std::uint16_t port_;
  std::vector<std::unique_ptr<HeldUpgrade>> held_;
};

// docs/protocol.md 1.1 ("With --trust-proxy, a connection from loopback ...
// that carries an X-Real-IP header is counted under that address instead").
TEST(TrustProxy, WithTheSwitchLoopbackConnectionsCountUnderTheirXRealIp) {
  ServerProcess server({"--trust-proxy", "--max-connections-per-ip", "2"});
  Connections open(server.port());
  EXPECT_EQ(open.open("203.0.113.7"), 101u);
  EXPECT_EQ(open.open("203.0.113.7"), 101u);
  EXPECT_EQ(open.open("203.0.113.7"), 429u) << "a third from the same client address";
  EXPECT_EQ(open.open("203.0.113.8"), 101u) << "another client behind the same proxy has its own count";
  EXPECT_EQ(open.open("203.0.113.8"), 101u);
  // Without the header, the proxy's own address counts, apart from both.
  EXPECT_EQ(open.open(""), 101u);
  EXPECT_EQ(open.open(""), 101u);
  EXPECT_EQ(open.open(""), 429u);
}

// docs/protocol.md 1.1 ("without --trust-proxy, everyone behind such a proxy
// shares the proxy's address").
TEST(TrustProxy, WithoutTheSwitchXRealIpIsIgnored) {
  ServerProcess server({"--max-connections-per-ip", "2"});
  Connections open(server.port());
  EXPECT_EQ(open.open("203.0.113.7"), 101u);
  EXPECT_EQ(open.open("203.0.113.8"), 101u);
  EXPECT_EQ(open.open("203.0.113.9"), 429u) << "all three are 127.0.0.1";
}

// A local IPv4 address that is not loopback, if the machine has one.
std::optional<std::string> non_loopback_address() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return std::nullopt;
  std::optional<std::string> found;
  for (ifaddrs* it = list; it != nullptr && !found; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != AF_INET) continue;
    const auto* address = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
    if ((ntohl(address->sin_addr.s_addr) >> 24) == 127) continue;
    char text[INET_ADDRSTRLEN];
    if (::inet_ntop(AF_INET, &address->sin_addr, text, sizeof text)) found = text;
  }
  ::freeifaddrs(list);
  return found;
}

// docs/protocol.md 1.1 (only "a connection from loopback" is trusted) and
// docs/security.md 7: a client that reaches the node directly cannot pick
// the address it is counted under.
TEST(TrustProxy, AHeaderFromAPeerThatIsNotLoopbackIsIgnored) {
  const auto source = non_loopback_address();
  if (!source) GTEST_SKIP() << "this machine has no IPv4 address but loopback";
  ServerProcess server({"--trust-proxy", "--max-connections-per-ip", "2"});
  Connections open(server.port());
  try {
    EXPECT_EQ(open.open("203.0.113.7", *source), 101u);
  } catch (const std::exception& e) {
    GTEST_SKIP() << "cannot reach 127.0.0.1 from " << *source << ": " << e.what();
  }
  EXPECT_EQ(open.open("203.0.113.8", *source), 101u);
  EXPECT_EQ(open.open("203.0.113.9", *source), 429u) << "all three count under " << *source;
  EXPECT_EQ(open.open("203.0.113.9"), 101u) << "the same header from loopback is trusted";
}

}  // namespace
}  // namespace hearth::testing
