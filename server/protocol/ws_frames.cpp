#include "protocol/ws_frames.hpp"

#include <algorithm>
#include <cstring>

namespace hearth {
namespace {

// A message that came in pieces keeps its buffer for the next one up to
// this size; a bigger one is freed once handled.
constexpr std::size_t kMessageRoomKept = 1024;

std::uint64_t big_endian(const char* data, int bytes) noexcept {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<unsigned char>(data[i]);
  return value;
}

bool is_control(WsOpcode opcode) noexcept { return static_cast<std::uint8_t>(opcode) >= 8; }

// The close codes a peer may send (RFC 6455 §7.4, and the IANA registry's
// 1012-1014): not 1004-1006 or 1015, which never go on the wire.
bool valid_close_code(std::uint16_t code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

}  // namespace

SharedFrame make_ws_frame(WsOpcode opcode, std::string_view payload) {
  const std::size_t size = payload.size();
  auto frame = std::make_shared<std::string>();
  frame->reserve(size + 10);
  // FIN and the opcode; a server's frames are not masked; the length in 7
  // bits, or 126 and 16 bits, or 127 and 64 bits.
  frame->push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode)));
  if (size < 126) {
    frame->push_back(static_cast<char>(size));
  } else {
    const int bytes = size <= 0xFFFF ? 2 : 8;
    frame->push_back(static_cast<char>(bytes == 2 ? 126 : 127));
    for (int i = bytes - 1; i >= 0; --i) frame->push_back(static_cast<char>((size >> (8 * i)) & 0xFF));
  }
  frame->append(payload);
  return frame;
}

SharedFrame make_close_frame(std::uint16_t code) {
  const char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return make_ws_frame(WsOpcode::close, std::string_view(payload, 2));
}

bool valid_utf8(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int more;
    std::uint32_t point;
    if (c >= 0xC2 && c <= 0xDF) {
      more = 1;
      point = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      more = 2;
      point = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      more = 3;
      point = c & 0x07;
    } else {
      return false;  // a continuation byte first, an overlong C0/C1, or past U+10FFFF
    }
    if (end - p <= more) return false;
    for (int i = 1; i <= more; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      point = (point << 6) | (p[i] & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates, and past U+10FFFF.
    if ((more == 2 && point < 0x800) || (more == 3 && (point < 0x10000 || point > 0x10FFFF)) ||
        (point >= 0xD800 && point <= 0xDFFF)) {
      return false;
    }
    p += more + 1;
  }
  return true;
}

void WsReader::unmask(char* data, std::size_t size) noexcept {
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>(data[i] ^ mask_[(mask_at_ + i) & 3]);
  mask_at_ = static_cast<std::uint8_t>((mask_at_ + size) & 3);
}

WsReader::Event WsReader::next(std::span<char>& in) {
  if (failed_ != CloseCode::normal) {
    in = {};
    return event_failed();
  }
  if (release_) {
    release_ = false;
    if (message_.capacity() > kMessageRoomKept) std::string().swap(message_);
    else message_.clear();
  }
  for (;;) {
    if (!in_frame_) {
      // The header: 2 bytes, then as many more as the second says.
      std::size_t want = 2;
      if (head_size_ >= 2) {
        const auto second = static_cast<unsigned char>(head_[1]);
        const auto length = second & 0x7F;
        want += (length == 126 ? 2 : length == 127 ? 8 : 0) + ((second & 0x80) != 0 ? 4 : 0);
      }
      if (head_size_ < want) {
        if (in.empty()) return {};
        const std::size_t take = std::min(want - head_size_, in.size());
        std::memcpy(head_.data() + head_size_, in.data(), take);
        head_size_ = static_cast<std::uint8_t>(head_size_ + take);
        in = in.subspan(take);
        continue;
      }
      if (auto failed = begin_frame()) {
        in = {};
        return *failed;
      }
      // A whole message in one frame, all of it here: handed out where it
      // lies, without a copy.
      if (!is_control(opcode_) && fin_ && !too_large_ && message_size_ == frame_left_ && in.size() >= frame_left_) {
        const auto size = static_cast<std::size_t>(frame_left_);
        unmask(in.data(), size);
        Event event;
        event.kind = Event::Kind::message;
        event.payload = std::string_view(in.data(), size);
        event.text = text_;
        in = in.subspan(size);
        in_frame_ = in_message_ = false;
        frame_left_ = 0;
        if (text_ && !valid_utf8(event.payload)) {
          in = {};
          return fail(CloseCode::invalid_payload);
        }
        return event;
      }
    }
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(frame_left_, in.size()));
    unmask(in.data(), take);
    if (is_control(opcode_)) control_.append(in.data(), take);
    else if (!too_large_) message_.append(in.data(), take);
    in = in.subspan(take);
    frame_left_ -= take;
    if (frame_left_ > 0) return {};
    in_frame_ = false;
    Event event = end_frame();
    if (event.kind == Event::Kind::failed) in = {};
    if (event.kind != Event::Kind::need_more) return event;
  }
}

std::optional<WsReader::Event> WsReader::begin_frame() {
  const auto first = static_cast<unsigned char>(head_[0]);
  const auto second = static_cast<unsigned char>(head_[1]);
  // No extension was agreed, so no reserved bit may be set; a client masks
  // every frame (RFC 6455 §5.1).
  if ((first & 0x70) != 0 || (second & 0x80) == 0) return fail(CloseCode::protocol_error);
  std::uint64_t length = second & 0x7F;
  std::size_t at = 2;
  // The shortest form only.
  if (length == 126) {
    length = big_endian(&head_[2], 2);
    if (length < 126) return fail(CloseCode::protocol_error);
    at = 4;
  } else if (length == 127) {
    length = big_endian(&head_[2], 8);
    if (length <= 0xFFFF || (length >> 63) != 0) return fail(CloseCode::protocol_error);
    at = 10;
  }
  std::memcpy(mask_.data(), &head_[at], 4);
  const bool fin = (first & 0x80) != 0;
  const auto opcode = static_cast<WsOpcode>(first & 0x0F);
  switch (opcode) {
    case WsOpcode::continuation:
      if (!in_message_) return fail(CloseCode::protocol_error);
      break;
    case WsOpcode::text:
    case WsOpcode::binary:
      if (in_message_) return fail(CloseCode::protocol_error);
      in_message_ = true;
      text_ = opcode == WsOpcode::text;
      message_size_ = 0;
      too_large_ = false;
      message_.clear();
      break;
    case WsOpcode::close:
    case WsOpcode::ping:
    case WsOpcode::pong:
      // Control frames are whole and short (§5.5), and may come between a
      // message's fragments.
      if (!fin || length > 125) return fail(CloseCode::protocol_error);
      control_.clear();
      break;
    default: return fail(CloseCode::protocol_error);
  }
  if (!is_control(opcode)) {
    message_size_ += length;
    if (message_size_ > hard_limit_) return fail(CloseCode::message_too_big);
    if (message_size_ > soft_limit_ && !too_large_) {
      too_large_ = true;  // drained: read to its end, kept nowhere
      std::string().swap(message_);
    }
  }
  opcode_ = opcode;
  fin_ = fin;
  frame_left_ = length;
  mask_at_ = 0;
  head_size_ = 0;
  in_frame_ = true;
  return std::nullopt;
}

WsReader::Event WsReader::end_frame() {
  Event event;
  switch (opcode_) {
    case WsOpcode::ping:
      event.kind = Event::Kind::ping;
      event.payload = control_;
      return event;
    case WsOpcode::pong: event.kind = Event::Kind::pong; return event;
    case WsOpcode::close:
      event.kind = Event::Kind::close;
      if (control_.empty()) return event;
      if (control_.size() == 1) return fail(CloseCode::protocol_error);
      event.code = static_cast<std::uint16_t>(big_endian(control_.data(), 2));
      if (!valid_close_code(event.code)) return fail(CloseCode::protocol_error);
      if (!valid_utf8(std::string_view(control_).substr(2))) return fail(CloseCode::invalid_payload);
      return event;
    default: break;
  }
  if (!fin_) return event;  // need_more: the next fragment follows
  in_message_ = false;
  event.text = text_;
  if (too_large_) {
    too_large_ = false;
    event.kind = Event::Kind::too_large;
    return event;
  }
  if (text_ && !valid_utf8(message_)) return fail(CloseCode::invalid_payload);
  release_ = true;
  event.kind = Event::Kind::message;
  event.payload = message_;
  return event;
}

}  // namespace hearth
