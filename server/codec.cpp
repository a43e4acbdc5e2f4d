#include "codec.hpp"

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

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
  const std::string payload = encode(message, encoding);
  const std::size_t size = payload.size();
  auto frame = std::make_shared<std::string>();
  frame->reserve(size + 10);
  // FIN with opcode 0x2 (binary) or 0x1 (text); a server's frames are not
  // masked; the length in 7 bits, or 126 and 16 bits, or 127 and 64 bits.
  frame->push_back(static_cast<char>(encoding == Encoding::binary ? 0x82 : 0x81));
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
