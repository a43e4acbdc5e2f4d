// The wire catalogue of failures: reply error codes (the ErrorCode enum in
// protocol.proto) and WebSocket close codes. docs/protocol.md lists both;
// keep the three in step.
#pragma once

#include <cstdint>
#include <string>

#include "hearth/v1/protocol.pb.h"

namespace hearth {

// A command that could not be carried out: a stable code for programs and a
// message for people. Messages never quote what the user sent.
struct Failure {
  v1::ErrorCode code = v1::INTERNAL;
  std::string message;
  std::uint32_t retry_after_ms = 0;  // limits: when trying again can succeed
};

// WebSocket close codes the server sends. 1000-2999 are RFC 6455's; 4000-4999
// are Hearth's own.
enum class CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,        // the server is shutting down
  protocol_error = 1002,    // RFC 6455 framing violation (WsReader)
  invalid_payload = 1007,   // a text message or close reason that is not UTF-8 (WsReader)
  policy_violation = 1008,  // too many frames that could not be decoded (limits.hpp)
  message_too_big = 1009,   // above the hard frame limit (WsReader)
  internal_error = 1011,    // the server failed while reading this connection (server/base/fault.hpp)
  slow_consumer = 4001,     // the send queue passed its bound
};

}  // namespace hearth
