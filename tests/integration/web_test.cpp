// The web client's files as hearth-server serves them, and what the browser
// client relies on: anonymous identities that survive a reconnect.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

namespace http = boost::beast::http;
namespace fs = std::filesystem;

// A web root of its own, with a secret next to it and a symlink pointing at it.
class WebRoot {
 public:
  WebRoot() : root_(fs::temp_directory_path() / ("hearth-web-" + std::to_string(::getpid()) + "-" +
                                                 std::to_string(counter_++))) {
    fs::create_directories(root_ / "web" / "js");
    write("web/index.html", "<!doctype html><title>page</title>");
    write("web/js/app.js", "export const x = 1;");
    write("web/notes.unknown", "not a served type");
    write("web/.hidden.js", "hidden");
    write("secret.txt", "outside the web root");
    fs::create_symlink(root_ / "secret.txt", root_ / "web" / "leak.txt");
  }
  ~WebRoot() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  std::string web() const { return (root_ / "web").string(); }

 private:
  void write(const std::string& name, const std::string& text) { std::ofstream(root_ / name) << text; }
  static inline int counter_ = 0;
  fs::path root_;
};

TEST(WebClient, ServesItsFilesWithTypesAndValidators) {
  WebRoot root;
  ServerProcess server({"--web-root", root.web()});
  const auto page = http_request(server.port(), http::verb::get, "/");
  ASSERT_EQ(page.result_int(), 200);
  EXPECT_EQ(page[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_EQ(page.body(), "<!doctype html><title>page</title>");
  EXPECT_EQ(page[http::field::cache_control], "no-cache");
  EXPECT_EQ(page["X-Content-Type-Options"], "nosniff");
  EXPECT_NE(page["Content-Security-Policy"].find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(http_request(server.port(), http::verb::get, "/r/ama-1").body(), page.body()) << "a room's page";

  const auto script = http_request(server.port(), http::verb::get, "/js/app.js");
  ASSERT_EQ(script.result_int(), 200);
  EXPECT_EQ(script[http::field::content_type], "text/javascript; charset=utf-8");
  const std::string etag(script[http::field::etag]);
  ASSERT_FALSE(etag.empty());
  const auto again = http_request(server.port(), http::verb::get, "/js/app.js", "", {{"If-None-Match", etag}});
  EXPECT_EQ(again.result_int(), 304);
  EXPECT_TRUE(again.body().empty());
  const auto head = http_request(server.port(), http::verb::head, "/js/app.js");
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_EQ(head[http::field::content_length], "19");
}

TEST(WebClient, NothingOutsideTheFolderNoListingsNoHiddenOrUnknownFiles) {
  WebRoot root;
  ServerProcess server({"--web-root", root.web()});
  for (const std::string target : {"/js/", "/js", "/../secret.txt", "/js/../../secret.txt", "/%2e%2e/secret.txt",
                                   "/leak.txt", "/.hidden.js", "/notes.unknown", "/js//app.js", "/r/", "/nope.js"}) {
    const auto response = http_request(server.port(), http::verb::get, target);
    EXPECT_EQ(response.result_int(), 404) << target;
    EXPECT_EQ(response.body().find("outside the web root"), std::string::npos) << target;
  }
  EXPECT_EQ(http_request(server.port(), http::verb::post, "/js/app.js").result_int(), 404);
}

}  // namespace
}  // namespace hearth::testing
