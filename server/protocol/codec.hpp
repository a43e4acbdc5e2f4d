// Frames to messages and back, in both wire encodings: protobuf in binary
// WebSocket frames, the proto3 JSON mapping in text frames.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "hearth/v1/protocol.pb.h"
#include "protocol/error.hpp"

namespace hearth {

enum class Encoding : unsigned char { binary, json };

// One whole server-to-client WebSocket frame (RFC 6455 §5.2: FIN, the opcode
// for its encoding, the unmasked length, then the message): encoded and framed
// once, shared, immutable, and written unchanged to every member that gets it.
// Many of them can go out in one gather-write.
using SharedFrame = std::shared_ptr<const std::string>;

// Decodes one client frame. On failure returns MALFORMED or INVALID_UTF8
// with a message that names no user content, and leaves `out` unspecified.
std::optional<Failure> decode_client_message(std::string_view frame, Encoding encoding, v1::ClientMessage& out);

std::string encode(const google::protobuf::Message& message, Encoding encoding);

// `message` encoded as one WebSocket frame: binary for protobuf, text for JSON.
SharedFrame encode_frame(const google::protobuf::Message& message, Encoding encoding);

// Drops protobuf's own log lines (it logs on invalid UTF-8, for example):
// they would go to stderr unstructured. Call once at start-up.
void quiet_protobuf_logging();

}  // namespace hearth

namespace hearth {

// The reply to request `request_id`.
v1::ServerMessage error_reply(std::uint32_t request_id, const Failure& failure);
v1::ServerMessage ok_reply(std::uint32_t request_id, v1::Ok ok);

}  // namespace hearth
