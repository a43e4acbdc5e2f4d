// TLS on the listener (--tls-cert, --tls-key): wss:// works end to end with
// the certificate checked, plain connections to a TLS port get nowhere, and
// unusable key files stop the server at start-up with a clear error.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/ssl/context.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "support/nginx_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

namespace fs = std::filesystem;

// Runs `attempt`, which must fail with an exception whose message holds one
// of `reasons`: a failure for any other reason (a refused connection, a
// timeout, a crash of the server) is not the one the test is about.
template <typename Attempt>
void expect_failure_for(Attempt attempt, std::initializer_list<const char*> reasons) {
  try {
    attempt();
    ADD_FAILURE() << "it succeeded";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    bool expected = false;
    for (const char* reason : reasons) expected = expected || what.find(reason) != std::string::npos;
    EXPECT_TRUE(expected) << "failed for another reason: " << what;
  }
}

// A fresh self-signed certificate for "localhost" (P-256, one day), written
// as cert.pem and key.pem into a folder of its own; removed afterwards.
class SelfSignedCertificate {
 public:
  SelfSignedCertificate()
      : folder_(fs::temp_directory_path() /
                ("hearth-tls-" + std::to_string(::getpid()) + "-" + std::to_string(next_folder_++))) {
    fs::create_directories(folder_);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    if (!key || !cert) throw std::runtime_error("OpenSSL could not make a key");
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                               0);
    X509_set_issuer_name(cert.get(), name);
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
    std::unique_ptr<X509_EXTENSION, decltype(&X509_EXTENSION_free)> san(
        X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, "DNS:localhost"), X509_EXTENSION_free);
    if (!san || X509_add_ext(cert.get(), san.get(), -1) != 1 || X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
      throw std::runtime_error("OpenSSL could not sign the certificate");
    }
    write(cert_path(), [&](FILE* out) { return PEM_write_X509(out, cert.get()); });
    write(key_path(), [&](FILE* out) {
      return PEM_write_PrivateKey(out, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
  }
  ~SelfSignedCertificate() {
    std::error_code ignored;
    fs::remove_all(folder_, ignored);
  }
  std::string cert_path() const { return folder_ / "cert.pem"; }
  std::string key_path() const { return folder_ / "key.pem"; }

 private:
  template <class Write>
  static void write(const std::string& path, Write write_pem) {
    std::unique_ptr<FILE, decltype(&std::fclose)> out(std::fopen(path.c_str(), "w"), std::fclose);
    if (!out || write_pem(out.get()) != 1) throw std::runtime_error("cannot write " + path);
  }

  static inline int next_folder_ = 0;
  fs::path folder_;
};

// A client context that trusts exactly `certificate`.
boost::asio::ssl::context trusting(const SelfSignedCertificate& certificate) {
  boost::asio::ssl::context context(boost::asio::ssl::context::tls_client);
  context.load_verify_file(certificate.cert_path());
  return context;
}

// A host (JSON) and a member (protobuf), both over TLS to `port`, in a new
// support room `room`.
struct TlsRoom {
  TlsRoom(std::uint16_t port, boost::asio::ssl::context& tls, const std::string& room_id)
      : room(room_id), host(port, Encoding::json, "", &tls), member(port, Encoding::binary, "", &tls) {
    host.request_ok(hello(ServerProcess::token("host", room, "Host", "host-1")));
    host.request_ok(create_room(room, v1::ROOM_KIND_SUPPORT));
    member.request_ok(join(room, "Sam"));
  }
  // The host says `text`; the member must receive it.
  void expect_message_crosses(const std::string& text) {
    host.request_ok(say(room, text));
    const auto event = member.next_event_where([](const v1::Event& e) { return e.has_message_posted(); });
    EXPECT_EQ(event.message_posted().text(), text);
  }

  std::string room;
  WsClient host;
  WsClient member;
};

TEST(Tls, RoomTrafficFlowsOverWss) {
  SelfSignedCertificate certificate;
  ServerProcess server({"--tls-cert", certificate.cert_path(), "--tls-key", certificate.key_path()});
  auto tls = trusting(certificate);
  TlsRoom room(server.port(), tls, "tls-room");
  room.expect_message_crosses("hello over TLS");

  // The close handshake ends with TLS close_notify, then TCP: clean on both ends.
  room.member.close();
  room.host.close();
  EXPECT_EQ(server.stop(), 0);
}

TEST(Tls, AMemberThatFallsBehindGetsEveryFrameWhole) {
  // As Lifecycle.AClientThatFallsBehindGetsEveryFrameWholeAndInOrder, over
  // TLS: the session's writes go through the TLS stream, and Beast's pong
  // must wait for them.
  SelfSignedCertificate certificate;
  ServerProcess server({"--tls-cert", certificate.cert_path(), "--tls-key", certificate.key_path(),
                        "--send-queue-frames", "1000", "--max-message-chars", "60000", "--max-frame-bytes", "262144"});
  auto tls = trusting(certificate);
  TlsRoom room(server.port(), tls, "tls-behind");
  expect_every_frame_after_falling_behind(room.host, room.member, room.room, 300);  // about 18 MB
}

TEST(Tls, CliSpeaksWss) {
  SelfSignedCertificate certificate;
  ServerProcess server({"--tls-cert", certificate.cert_path(), "--tls-key", certificate.key_path()});
  const std::string url = "--url=wss://localhost:" + std::to_string(server.port()) + "/ws";
  const std::string out =
      run_and_capture({HEARTH_CLI_BIN, url, "--ca-file", certificate.cert_path(), "--json"}, "/ping\n");
  EXPECT_NE(out.find(R"("pong":{})"), std::string::npos) << out;
  // Without the CA the CLI trusts only the system's, and refuses this
  // certificate, saying so.
  const auto refused = run_to_end({HEARTH_CLI_BIN, url});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.errors.find("certificate verify failed"), std::string::npos) << refused.errors;
}

TEST(Tls, CertificateTheClientDoesNotTrustIsRefused) {
  SelfSignedCertificate certificate;
  ServerProcess server({"--tls-cert", certificate.cert_path(), "--tls-key", certificate.key_path()});
  boost::asio::ssl::context untrusting(boost::asio::ssl::context::tls_client);  // no CA at all
  expect_failure_for([&] { WsClient(server.port(), Encoding::json, "", &untrusting); }, {"certificate verify failed"});
  // The server is unharmed: a client that trusts it gets in.
  auto tls = trusting(certificate);
  WsClient client(server.port(), Encoding::json, "", &tls);
  client.request_ok(ping());
}

TEST(Tls, PlainConnectionsToATlsPortGetNowhere) {
  SelfSignedCertificate certificate;
  ServerProcess server({"--tls-cert", certificate.cert_path(), "--tls-key", certificate.key_path()});
  // Plain HTTP and plain WebSocket: the server waits for a TLS ClientHello,
  // gets garbage, and drops the connection without an answer.
  // The server hangs up: end of stream, or a reset (it read and dropped
  // bytes the client had sent). Not refused, not timed out.
  const auto hung_up = {"end of stream", "End of file", "Connection reset by peer"};
  expect_failure_for([&] { http_request(server.port(), boost::beast::http::verb::get, "/healthz"); }, hung_up);
  expect_failure_for([&] { WsClient plain(server.port()); }, hung_up);
  auto tls = trusting(certificate);
  WsClient client(server.port(), Encoding::json, "", &tls);
  client.request_ok(ping());
}

// The usual deployment: nginx terminates TLS (deploy/nginx-tls.conf.template)
// and proxies plain WebSockets to a node on loopback.
TEST(Tls, TerminatedAtNginx) {
  SelfSignedCertificate certificate;
  ServerProcess node({"--trust-proxy"});
  NginxProcess nginx({node.port()}, NginxProcess::Tls{certificate.cert_path(), certificate.key_path()});
  auto tls = trusting(certificate);
  TlsRoom room(nginx.port(), tls, "nginx-tls");
  room.expect_message_crosses("through nginx");
  // nginx speaks only TLS on that port: it answers plain HTTP with 400.
  const auto plain = http_request(nginx.port(), boost::beast::http::verb::get, "/healthz");
  EXPECT_EQ(plain.result_int(), 400u);
  EXPECT_NE(plain.body().find("plain HTTP request was sent to HTTPS port"), std::string::npos) << plain.body();
  expect_failure_for([&] { WsClient plain_ws(nginx.port()); }, {"declined"});
}

TEST(Tls, UnusableKeyFilesStopTheServerAtStartUp) {
  SelfSignedCertificate certificate, other;
  const auto run = [](const std::vector<std::string>& args) {
    std::vector<std::string> argv{HEARTH_SERVER_BIN, "--port", "0", "--listen", "127.0.0.1"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_to_end(argv);
  };
  const auto missing = run({"--tls-cert", certificate.cert_path() + ".missing", "--tls-key", certificate.key_path()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.errors.find("--tls-cert: cannot use"), std::string::npos) << missing.errors;
  const auto mismatched = run({"--tls-cert", certificate.cert_path(), "--tls-key", other.key_path()});
  EXPECT_EQ(mismatched.exit_code, 2);
  EXPECT_NE(mismatched.errors.find("--tls-key: cannot use"), std::string::npos) << mismatched.errors;
  const auto alone = run({"--tls-cert", certificate.cert_path()});
  EXPECT_EQ(alone.exit_code, 2);
  EXPECT_NE(alone.errors.find("--tls-cert and --tls-key go together"), std::string::npos) << alone.errors;
}

}  // namespace
}  // namespace hearth::testing
