// Frames to messages and back, in both wire encodings: protobuf in binary
// WebSocket frames, the proto3 JSON mapping in text frames.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "error.hpp"
#include "hearth/v1/protocol.pb.h"

namespace hearth {

enum class Encoding : unsigned char { binary, json };

// Bytes that many sessions send unchanged: encoded once, shared, immutable.
using SharedBytes = std::shared_ptr<const std::string>;

// Decodes one client frame. On failure returns MALFORMED or INVALID_UTF8
// with a message that names no user content, and leaves `out` unspecified.
std::optional<Failure> decode_client_message(std::string_view frame, Encoding encoding, v1::ClientMessage& out);

std::string encode(const google::protobuf::Message& message, Encoding encoding);

inline SharedBytes encode_shared(const google::protobuf::Message& message, Encoding encoding) {
  return std::make_shared<const std::string>(encode(message, encoding));
}

// Routes protobuf's own log lines (it logs on invalid UTF-8, for example)
// away from stderr; they name fields, never content. Call once at start-up.
void quiet_protobuf_logging();

}  // namespace hearth

namespace hearth {

// The reply to request `request_id`.
v1::ServerMessage error_reply(std::uint32_t request_id, const Failure& failure);
v1::ServerMessage ok_reply(std::uint32_t request_id, v1::Ok ok);

}  // namespace hearth
