// The web client's files (clients/web), served read-only from one folder.
//
// Only GET and HEAD; only paths made of [A-Za-z0-9._-] segments that do not
// start with a dot (no "..", no hidden files, no percent-escapes); only
// regular files whose canonical path is inside the folder (a symlink cannot
// lead out); only known file types, each with its content type. No
// directory listing: "/" and every "/r/ROOM" page are index.html. Every
// answer carries an ETag, is revalidated before use (Cache-Control:
// no-cache: there is no build step, so file names carry no version) and is
// sent with headers that keep the page from being framed, sniffed or
// leaking the room's address as a referrer.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>

namespace hearth {

// nullopt: not a path of the web client (the caller answers 404 or routes
// it elsewhere).
std::optional<boost::beast::http::response<boost::beast::http::string_body>> serve_static(
    const boost::beast::http::request<boost::beast::http::string_body>& request, const std::string& web_root);

}  // namespace hearth
