#include "protocol/codec.hpp"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

namespace hearth {
namespace {

v1::ClientMessage ask_message() {
  v1::ClientMessage message;
  message.set_request_id(7);
  message.set_room_id("room-1");
  message.mutable_ask_question()->set_text("Is it normal to feel this way? ✓");
  message.mutable_ask_question()->set_anonymous(true);
  return message;
}

TEST(Codec, BinaryRoundTrip) {
  const auto message = ask_message();
  v1::ClientMessage decoded;
  ASSERT_FALSE(decode_client_message(encode(message, Encoding::binary), Encoding::binary, decoded));
  EXPECT_EQ(decoded.SerializeAsString(), message.SerializeAsString());
}

TEST(Codec, JsonRoundTripUsesProto3Mapping) {
  const auto message = ask_message();
  const std::string json = encode(message, Encoding::json);
  EXPECT_NE(json.find(R"("requestId":7)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("askQuestion")"), std::string::npos) << json;
  v1::ClientMessage decoded;
  ASSERT_FALSE(decode_client_message(json, Encoding::json, decoded));
  EXPECT_EQ(decoded.ask_question().text(), message.ask_question().text());
  EXPECT_TRUE(decoded.ask_question().anonymous());
}

TEST(Codec, JsonPrintsZerosAndEnumNames) {
  v1::ServerMessage message;
  auto* question = message.mutable_event()->mutable_question_asked();
  question->set_id(42);
  question->set_state(v1::QUESTION_STATE_OPEN);
  const std::string json = encode(message, Encoding::json);
  EXPECT_NE(json.find(R"("votes":0)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("id":"42")"), std::string::npos) << "uint64 is a JSON string: " << json;
  EXPECT_NE(json.find(R"("QUESTION_STATE_OPEN")"), std::string::npos) << json;
}

TEST(Codec, JsonAcceptsNumbersForIdsAndSkipsUnknownFields) {
  v1::ClientMessage decoded;
  ASSERT_FALSE(decode_client_message(R"({"requestId":1,"roomId":"r","voteQuestion":{"questionId":12,"up":true},"future":1})",
                                     Encoding::json, decoded));
  EXPECT_EQ(decoded.vote_question().question_id(), 12u);
}

TEST(Codec, UnknownCommandDecodesAsNoCommand) {
  v1::ClientMessage decoded;
  ASSERT_FALSE(decode_client_message(R"({"requestId":3,"teleport":{}})", Encoding::json, decoded));
  EXPECT_EQ(decoded.command_case(), v1::ClientMessage::COMMAND_NOT_SET);
}

TEST(Codec, MalformedFramesAreMalformed) {
  v1::ClientMessage decoded;
  EXPECT_EQ(decode_client_message("{not json", Encoding::json, decoded)->code, v1::MALFORMED);
  EXPECT_EQ(decode_client_message(R"({"requestId":"x"})", Encoding::json, decoded)->code, v1::MALFORMED);
  EXPECT_EQ(decode_client_message(std::string("\xff\xff\xff\xff", 4), Encoding::binary, decoded)->code, v1::MALFORMED);
}

// Told by what the frame holds, not by what protobuf logs: the same whether
// or not anyone routed protobuf's log, and at any depth.
TEST(Codec, InvalidUtf8InABinaryStringFieldIsInvalidUtf8) {
  google::protobuf::SetLogHandler(nullptr);
  // Field 2 (room_id), length 2, bytes C3 28: not UTF-8.
  const std::string frame("\x12\x02\xc3\x28", 4);
  v1::ClientMessage decoded;
  const auto failure = decode_client_message(frame, Encoding::binary, decoded);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, v1::INVALID_UTF8);
  quiet_protobuf_logging();
  // sendMessage (a message field) whose text is cut in the middle of a
  // character.
  const auto varint = [](std::uint64_t value) {
    std::string out;
    for (; value >= 0x80; value >>= 7) out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    out.push_back(static_cast<char>(value));
    return out;
  };
  const auto length_delimited = [&](int number, const std::string& bytes) {
    return varint(static_cast<std::uint64_t>(number) << 3 | 2) + varint(bytes.size()) + bytes;
  };
  const auto* send = v1::ClientMessage::descriptor()->FindFieldByName("send_message");
  const auto* text = send->message_type()->FindFieldByName("text");
  const std::string nested = length_delimited(send->number(), length_delimited(text->number(), "caf\xc3"));
  EXPECT_EQ(decode_client_message(nested, Encoding::binary, decoded)->code, v1::INVALID_UTF8);
  const std::string fine = length_delimited(send->number(), length_delimited(text->number(), "caf\xc3\xa9"));
  EXPECT_FALSE(decode_client_message(fine, Encoding::binary, decoded));
  // The next malformed frame is not mistaken for a UTF-8 one.
  EXPECT_EQ(decode_client_message(std::string("\xff", 1), Encoding::binary, decoded)->code, v1::MALFORMED);
}

TEST(Codec, RepliesCarryTheRequestId) {
  const auto error = error_reply(9, Failure{v1::NOT_IN_ROOM, "join first"});
  EXPECT_EQ(error.reply().request_id(), 9u);
  EXPECT_EQ(error.reply().error().code(), v1::NOT_IN_ROOM);
  v1::Ok ok;
  ok.mutable_pong();
  EXPECT_TRUE(ok_reply(4, ok).reply().ok().has_pong());
}

TEST(Codec, FramesAreWholeUnmaskedWebSocketFramesWithTheShortestLength) {
  // RFC 6455 5.2: FIN and the opcode (0x2 binary, 0x1 text), no mask bit,
  // then the length in 7 bits, or 126 and 16 bits, or 127 and 64 bits.
  auto with_text = [](std::size_t chars) {
    v1::ServerMessage message;
    message.mutable_event()->mutable_message_posted()->set_text(std::string(chars, 'x'));
    return message;
  };
  for (const std::size_t chars : {10ul, 200ul, 70000ul}) {
    for (const auto encoding : {Encoding::binary, Encoding::json}) {
      const auto message = with_text(chars);
      const std::string payload = encode(message, encoding);
      const auto frame = encode_frame(message, encoding);
      const auto byte = [&](std::size_t i) { return static_cast<unsigned char>((*frame)[i]); };
      EXPECT_EQ(byte(0), encoding == Encoding::binary ? 0x82 : 0x81);
      std::size_t header = 2;
      std::uint64_t length = byte(1);
      if (length == 126) {
        header = 4;
        length = (std::uint64_t{byte(2)} << 8) | byte(3);
      } else if (length == 127) {
        header = 10;
        length = 0;
        for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | byte(i);
      }
      EXPECT_EQ(length, payload.size()) << chars;
      EXPECT_EQ(header, payload.size() < 126 ? 2u : payload.size() <= 0xFFFF ? 4u : 10u) << chars;
      EXPECT_EQ(frame->substr(header), payload) << chars;
    }
  }
}

}  // namespace
}  // namespace hearth
