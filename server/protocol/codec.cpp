#include "protocol/codec.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/json_util.h>

#include "protocol/ws_frames.hpp"

namespace hearth {
namespace {

void on_protobuf_log(google::protobuf::LogLevel, const char*, int, const std::string&) {}

// Whether `bytes`, a `type` message on the wire, has a string field (at any
// depth) that is not valid UTF-8: read as fields without a schema, which
// checks nothing, and matched against `type`'s descriptor. Only for frames
// the real parser refused, to tell INVALID_UTF8 from MALFORMED by what the
// frame holds rather than by what protobuf logs.
bool has_invalid_utf8(std::string_view bytes, const google::protobuf::Descriptor& type, int depth = 0) {
  google::protobuf::UnknownFieldSet fields;
  if (depth > 32 || !fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  for (int i = 0; i < fields.field_count(); ++i) {
    const auto& field = fields.field(i);
    if (field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const auto* described = type.FindFieldByNumber(field.number());
    if (described == nullptr) continue;
    if (described->type() == google::protobuf::FieldDescriptor::TYPE_STRING && !valid_utf8(field.length_delimited())) {
      return true;
    }
    if (described->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE &&
        has_invalid_utf8(field.length_delimited(), *described->message_type(), depth + 1)) {
      return true;
    }
  }
  return false;
}

}  // namespace

void quiet_protobuf_logging() { google::protobuf::SetLogHandler(&on_protobuf_log); }

std::optional<Failure> decode_client_message(std::string_view frame, Encoding encoding, v1::ClientMessage& out) {
  if (encoding == Encoding::binary) {
    if (out.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) return std::nullopt;
    if (has_invalid_utf8(frame, *v1::ClientMessage::descriptor())) {
      return Failure{v1::INVALID_UTF8, "a text field is not valid UTF-8"};
    }
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
