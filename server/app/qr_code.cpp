#include "app/qr_code.hpp"

#include <qrencode.h>

#include <boost/algorithm/string/predicate.hpp>
#include <boost/url/parse.hpp>
#include <memory>

#include "domain/command.hpp"

namespace hearth {
namespace {

constexpr int kQuietZone = 4;  // modules of white around the code (ISO/IEC 18004)
constexpr std::size_t kMaxLink = 300;

struct QrFree {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

// `text` as XML character data (and attribute values).
std::string xml_escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> qr_code_svg(std::string_view text, std::string_view title) {
  if (text.empty() || text.size() > kMaxLink) return std::nullopt;
  const std::string data(text);  // NUL-terminated for the C API
  const std::unique_ptr<QRcode, QrFree> code(
      QRcode_encodeString(data.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, /*casesensitive=*/1));
  if (!code) return std::nullopt;
  const int width = code->width;
  const int size = width + 2 * kQuietZone;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + std::to_string(size) + " " +
                    std::to_string(size) + "\" shape-rendering=\"crispEdges\" role=\"img\"><title>" +
                    xml_escaped(title) + "</title><rect width=\"" + std::to_string(size) + "\" height=\"" +
                    std::to_string(size) + "\" fill=\"#fff\"/><path fill=\"#000\" d=\"";
  // One rectangle per run of dark modules in a row (the low bit of each
  // byte is the module's colour).
  for (int y = 0; y < width; ++y) {
    const unsigned char* row = code->data + static_cast<std::ptrdiff_t>(y) * width;
    for (int x = 0; x < width;) {
      if ((row[x] & 1) == 0) {
        ++x;
        continue;
      }
      int run = 1;
      while (x + run < width && (row[x + run] & 1) != 0) ++run;
      svg += "M" + std::to_string(x + kQuietZone) + " " + std::to_string(y + kQuietZone) + "h" +
             std::to_string(run) + "v1h-" + std::to_string(run) + "z";
      x += run;
    }
  }
  svg += "\"/></svg>\n";
  return svg;
}

bool shareable_room_link(std::string_view link, std::string_view host) {
  if (link.size() > kMaxLink) return false;
  // The Host header as an authority (host and port), nothing more: a
  // client could send any text there.
  const auto authority = boost::urls::parse_authority(host);
  if (!authority || authority->has_userinfo() || authority->encoded_host().empty()) return false;
  const auto url = boost::urls::parse_absolute_uri(link);
  if (!url) return false;
  if (url->scheme_id() != boost::urls::scheme::http && url->scheme_id() != boost::urls::scheme::https)
    return false;
  if (url->has_userinfo() || url->has_query() || url->has_fragment()) return false;
  if (!boost::algorithm::iequals(url->encoded_host(), authority->encoded_host()) ||
      url->port() != authority->port()) {
    return false;
  }
  const std::string_view path = url->encoded_path();
  return path.starts_with("/r/") && valid_room_id(path.substr(3));
}

}  // namespace hearth
