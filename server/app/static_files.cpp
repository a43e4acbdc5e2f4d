#include "app/static_files.hpp"

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>
#include <system_error>

namespace hearth {
namespace {

namespace http = boost::beast::http;
namespace fs = std::filesystem;

struct FileType {
  std::string_view extension;
  std::string_view content_type;
};

constexpr std::array kTypes{
    FileType{".html", "text/html; charset=utf-8"},
    FileType{".js", "text/javascript; charset=utf-8"},
    FileType{".css", "text/css; charset=utf-8"},
    FileType{".svg", "image/svg+xml"},
    FileType{".png", "image/png"},
    FileType{".ico", "image/x-icon"},
    FileType{".json", "application/json"},
    FileType{".webmanifest", "application/manifest+json"},
    FileType{".txt", "text/plain; charset=utf-8"},
};

std::optional<std::string_view> content_type_of(std::string_view path) {
  for (const auto& type : kTypes) {
    if (path.ends_with(type.extension)) return type.content_type;
  }
  return std::nullopt;
}

bool safe_segment(std::string_view segment) {
  if (segment.empty() || segment.front() == '.') return false;
  for (const char c : segment) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "/js/app.js" -> "js/app.js"; nullopt for anything not plainly a file path.
std::optional<std::string> relative_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  path.remove_prefix(1);
  std::string out;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    if (!safe_segment(segment)) return std::nullopt;
    if (!out.empty()) out.push_back('/');
    out.append(segment);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
    if (path.empty()) return std::nullopt;  // a trailing slash: a folder
  }
  if (out.empty()) return std::nullopt;
  return out;
}

void set_common_headers(http::response<http::string_body>& response) {
  response.set(http::field::server, "hearth");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("X-Frame-Options", "DENY");
  response.set("Referrer-Policy", "no-referrer");
  // Scripts, styles and sockets from this origin only; nothing inline.
  response.set("Content-Security-Policy",
               "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
}

}  // namespace

std::optional<http::response<http::string_body>> serve_static(const http::request<http::string_body>& request,
                                                               const std::string& web_root) {
  if (web_root.empty()) return std::nullopt;
  if (request.method() != http::verb::get && request.method() != http::verb::head) return std::nullopt;
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));

  std::optional<std::string> relative;
  if (path == "/" || path == "/index.html" || (path.starts_with("/r/") && path.size() > 3)) {
    relative = "index.html";  // the page; the script reads the room from the address
  } else {
    relative = relative_path(path);
  }
  if (!relative) return std::nullopt;
  const auto content_type = content_type_of(*relative);
  if (!content_type) return std::nullopt;

  std::error_code error;
  const fs::path root = fs::canonical(web_root, error);
  if (error) return std::nullopt;
  const fs::path file = fs::canonical(root / *relative, error);
  if (error) return std::nullopt;
  // Inside the folder, after every symlink is resolved.
  const auto [root_end, file_it] = std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  if (root_end != root.end() || !fs::is_regular_file(file, error)) return std::nullopt;

  const auto size = fs::file_size(file, error);
  const auto modified = fs::last_write_time(file, error);
  if (error) return std::nullopt;
  const std::string etag = "\"" + std::to_string(size) + "-" +
                           std::to_string(modified.time_since_epoch().count()) + "\"";

  http::response<http::string_body> response{http::status::ok, request.version()};
  set_common_headers(response);
  response.keep_alive(request.keep_alive());
  response.set(http::field::cache_control, "no-cache");
  response.set(http::field::etag, etag);
  if (request[http::field::if_none_match] == etag) {
    response.result(http::status::not_modified);
    return response;
  }
  std::ifstream in(file, std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return std::nullopt;
  response.set(http::field::content_type, *content_type);
  response.content_length(body.size());
  if (request.method() != http::verb::head) response.body() = std::move(body);
  return response;
}

}  // namespace hearth
