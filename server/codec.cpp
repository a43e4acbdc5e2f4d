#include "codec.hpp"

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include "ws_frames.hpp"

namespace hearth {
namespace {

// Set by the log handler when protobuf's parser rejects a string field for
// invalid UTF-8: the parser reports only "failed", and this is the one way to
// tell that apart from a malformed frame without parsing twice.
thread_local bool saw_invalid_utf8 = false;

void on_protobuf_log(google::protobuf::LogLevel, const char*, int, const std::string& message) {
  if (message.find("invalid UTF-8") != std::string::npos) saw_invalid_utf8 = true;
}

}  // namespace

void quiet_protobuf_logging() { google::protobuf::SetLogHandler(&on_protobuf_log); }

std::optional<Failure> decode_client_message(std::string_view frame, Encoding encoding, v1::ClientMessage& out) {
  if (encoding == Encoding::binary) {
    saw_invalid_utf8 = false;
    if (out.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) return std::nullopt;
    if (saw_invalid_utf8) return Failure{v1::INVALID_UTF8, "a text field is not valid UTF-8"};
    return Failure{v1::MALFORMED, "binary frame is not a hearth.v1.ClientMessage"};
  }
  google::protobuf::util::JsonParseOptions options;
  // Fields this server does not know are skipped, so that newer clients keep
  // working; a command it does not know arrives as "no command" and gets
  // UNKNOWN_COMMAND.
  options.ignore_unknown_fields = true;
  const auto status = google::protobuf::util::JsonStringToMessage(frame, &out, options);
  if (status.ok()) return std::nullopt;
  return Failure{v1::MALFORMED, "text frame is not a hearth.v1.ClientMessage in proto3 JSON"};
}

std::string encode(const google::protobuf::Message& message, Encoding encoding) {
  std::string out;
  if (encoding == Encoding::binary) {
    message.SerializeToString(&out);
    return out;
  }
  google::protobuf::util::JsonPrintOptions options;
  // Zeros and falses are printed too: a reader should not have to know
  // proto3's defaults to see that a question has 0 votes.
  options.always_print_primitive_fields = true;
  google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

SharedFrame encode_frame(const google::protobuf::Message& message, Encoding encoding) {
  return make_ws_frame(encoding == Encoding::binary ? WsOpcode::binary : WsOpcode::text, encode(message, encoding));
}

}  // namespace hearth

namespace hearth {

v1::ServerMessage error_reply(std::uint32_t request_id, const Failure& failure) {
  v1::ServerMessage message;
  auto* reply = message.mutable_reply();
  reply->set_request_id(request_id);
  reply->mutable_error()->set_code(failure.code);
  reply->mutable_error()->set_message(failure.message);
  reply->mutable_error()->set_retry_after_ms(failure.retry_after_ms);
  return message;
}

v1::ServerMessage ok_reply(std::uint32_t request_id, v1::Ok ok) {
  v1::ServerMessage message;
  auto* reply = message.mutable_reply();
  reply->set_request_id(request_id);
  *reply->mutable_ok() = std::move(ok);
  return message;
}

}  // namespace hearth
