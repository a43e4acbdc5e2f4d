#include "codec.hpp"

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

TEST(Codec, InvalidUtf8InABinaryStringFieldIsInvalidUtf8) {
  quiet_protobuf_logging();
  // Field 2 (room_id), length 2, bytes C3 28: not UTF-8.
  const std::string frame("\x12\x02\xc3\x28", 4);
  v1::ClientMessage decoded;
  const auto failure = decode_client_message(frame, Encoding::binary, decoded);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, v1::INVALID_UTF8);
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

}  // namespace
}  // namespace hearth
