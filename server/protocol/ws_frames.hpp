// RFC 6455's framing after the handshake, both ways, without I/O: a reader
// that turns a client's bytes into messages and control frames, and the
// server's frames (never masked).
//
// Written by hand rather than kept in Beast's websocket::stream: that stream
// costs 2.5 KB a connection however idle (its state, with a 1.5 KB read
// buffer fixed inside it), which alone is most of the 4 KB a connection may
// take (docs/performance.md). This reader keeps about 100 bytes while a
// connection is idle: it works in the buffer it is given (the shard's, shared
// by every connection there) and copies only a message that arrives in pieces.
// Beast still does the handshake (http_session.cpp, ws_connection.cpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/codec.hpp"
#include "protocol/error.hpp"

namespace hearth {

enum class WsOpcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// One whole server frame: FIN, `opcode`, the length, `payload`.
SharedFrame make_ws_frame(WsOpcode opcode, std::string_view payload);
// A close frame with `code` and no reason.
SharedFrame make_close_frame(std::uint16_t code);

bool valid_utf8(std::string_view text) noexcept;

class WsReader {
 public:
  struct Event {
    enum class Kind : std::uint8_t {
      need_more,  // every byte given was used: give more
      message,    // a whole data message: `payload`, `text`
      too_large,  // a data message over the soft limit, drained: `text`
      ping,       // `payload` to answer with a pong
      pong,
      close,      // the peer's close frame; `code` 0 if it had none
      failed,     // a broken rule: close with `close_code`; read no more
    };
    Kind kind = Kind::need_more;
    std::string_view payload;  // valid until the next call to next()
    bool text = false;
    std::uint16_t code = 0;
    CloseCode close_code = CloseCode::normal;
  };

  // Messages over `soft_limit` bytes are drained and reported as too_large;
  // one over `hard_limit` fails the connection with 1009.
  WsReader(std::size_t soft_limit, std::size_t hard_limit) : soft_limit_(soft_limit), hard_limit_(hard_limit) {}

  // The next event from `in`, whose bytes it uses from the front (and
  // unmasks in place); call until need_more. A failure uses all of `in`, and
  // every call after it returns failed.
  Event next(std::span<char>& in);

  // Whether a message or a frame has begun and not ended.
  bool mid_message() const noexcept { return in_message_ || in_frame_ || head_size_ > 0; }

 private:
  Event fail(CloseCode code) {
    failed_ = code;
    return event_failed();
  }
  Event event_failed() const {
    Event event;
    event.kind = Event::Kind::failed;
    event.close_code = failed_;
    return event;
  }
  // The frame header in head_ is whole: check it and start the frame.
  std::optional<Event> begin_frame();
  // The frame being read has no more bytes to come.
  Event end_frame();
  void unmask(char* data, std::size_t size) noexcept;

  const std::size_t soft_limit_;
  const std::size_t hard_limit_;
  std::string message_;  // a message that came in pieces, once it is whole
  std::string control_;  // a control frame's payload
  std::uint64_t message_size_ = 0;
  std::uint64_t frame_left_ = 0;
  std::array<char, 14> head_{};
  std::array<unsigned char, 4> mask_{};
  std::uint8_t head_size_ = 0;
  std::uint8_t mask_at_ = 0;
  WsOpcode opcode_ = WsOpcode::continuation;  // of the frame being read
  bool fin_ = false;
  bool in_frame_ = false;
  bool in_message_ = false;
  bool text_ = false;
  bool too_large_ = false;
  bool release_ = false;  // message_ was handed out: free it on the next call
  CloseCode failed_ = CloseCode::normal;  // normal: not failed
};

}  // namespace hearth
