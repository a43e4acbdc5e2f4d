// QR codes for sharing a room's link (the host's share panel): drawn by
// libqrencode, Debian's QR encoder, and written out as SVG here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hearth {

// An SVG image of `text` as a QR code (error correction level M, with the
// quiet zone the standard asks for), titled `title`; nullopt when `text`
// is too long for a QR code or cannot be encoded.
std::optional<std::string> qr_code_svg(std::string_view text, std::string_view title);

// Whether `link` may be drawn for a page served to `host` (the request's
// Host header): this server's own room link, http or https, nothing more,
// so that the server is no QR code service for anyone's addresses and no
// secret (a fragment's invite or token) ever reaches it.
bool shareable_room_link(std::string_view link, std::string_view host);

}  // namespace hearth
