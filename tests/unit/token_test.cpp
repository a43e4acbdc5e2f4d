#include "token.hpp"

#include <gtest/gtest.h>

namespace hearth {
namespace {

using namespace std::chrono_literals;
const std::string secret = "a-test-secret-of-at-least-32-bytes!!";
const auto now = std::chrono::system_clock::now();

Claims host_claims() {
  Claims claims;
  claims.sub = "ada";
  claims.name = "Dr. Ada";
  claims.role = v1::ROLE_HOST;
  claims.room = "room-1";
  claims.exp = std::chrono::duration_cast<std::chrono::seconds>((now + 1h).time_since_epoch()).count();
  return claims;
}

TEST(Token, GoodTokenVerifies) {
  const auto verified = verify_token(mint_token(host_claims(), secret), secret, now);
  ASSERT_TRUE(verified);
  EXPECT_EQ(verified->sub, "ada");
  EXPECT_EQ(verified->name, "Dr. Ada");
  EXPECT_EQ(verified->role, v1::ROLE_HOST);
  EXPECT_EQ(verified->room, "room-1");
  EXPECT_FALSE(check_room(*verified, "room-1"));
}

TEST(Token, TamperedPayloadFailsTheSignature) {
  std::string token = mint_token(host_claims(), secret);
  auto forged_claims = host_claims();
  forged_claims.role = v1::ROLE_ADMIN;
  const std::string forged = mint_token(forged_claims, "another-secret-of-at-least-32-bytes");
  // The forged payload with the original signature.
  const auto payload_begin = forged.find('.') + 1;
  const auto payload = forged.substr(payload_begin, forged.rfind('.') - payload_begin);
  token = token.substr(0, token.find('.') + 1) + payload + token.substr(token.rfind('.'));
  EXPECT_EQ(verify_token(token, secret, now).error(), TokenError::bad_signature);
}

TEST(Token, TamperedSignatureFails) {
  std::string token = mint_token(host_claims(), secret);
  token.back() = token.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(verify_token(token, secret, now).error(), TokenError::bad_signature);
}

TEST(Token, WrongSecretFails) {
  EXPECT_EQ(verify_token(mint_token(host_claims(), secret), "x" + secret, now).error(), TokenError::bad_signature);
}

TEST(Token, ExpiredTokenFails) {
  const auto token = mint_token(host_claims(), secret);
  EXPECT_TRUE(verify_token(token, secret, now + 59min));
  EXPECT_EQ(verify_token(token, secret, now + 61min).error(), TokenError::expired);
}

TEST(Token, WrongRoomIsRefusedAndStarMeansEveryRoom) {
  const auto claims = *verify_token(mint_token(host_claims(), secret), secret, now);
  EXPECT_EQ(check_room(claims, "room-2"), TokenError::wrong_room);
  auto everywhere = host_claims();
  everywhere.room = "*";
  EXPECT_FALSE(check_room(*verify_token(mint_token(everywhere, secret), secret, now), "room-2"));
}

TEST(Token, AlgorithmNoneIsRefused) {
  // {"alg":"none"} . payload . (empty signature)
  const std::string token = mint_token(host_claims(), secret);
  const std::string unsigned_token = "eyJhbGciOiJub25lIn0" + token.substr(token.find('.'), token.rfind('.') - token.find('.')) + ".";
  EXPECT_EQ(verify_token(unsigned_token, secret, now).error(), TokenError::bad_algorithm);
}

TEST(Token, MalformedTokensAreRefused) {
  for (const std::string bad : {"", "abc", "a.b", "a.b.c", "!!!.???.***", "eyJhbGciOiJIUzI1NiJ9..", "...."}) {
    const auto verified = verify_token(bad, secret, now);
    EXPECT_FALSE(verified) << bad;
  }
  auto claims = host_claims();
  claims.sub = "anon:spoof";
  EXPECT_EQ(verify_token(mint_token(claims, secret), secret, now).error(), TokenError::malformed)
      << "anon: ids are the server's";
}

TEST(Token, AnonymousIdentitiesComeBackOnlyAsTheServerMintedThem) {
  Claims anonymous;
  anonymous.sub = "anon:0123456789abcdef";
  anonymous.name = "Guest-1234";
  anonymous.room = "*";
  anonymous.anonymous = true;
  anonymous.exp = host_claims().exp;
  const auto verified = verify_token(mint_token(anonymous, secret), secret, now);
  ASSERT_TRUE(verified);
  EXPECT_TRUE(verified->anonymous);
  EXPECT_EQ(verified->sub, anonymous.sub);
  EXPECT_EQ(verified->name, "Guest-1234");

  auto named = host_claims();
  named.anonymous = true;  // "anon" claim on a named user
  EXPECT_EQ(verify_token(mint_token(named, secret), secret, now).error(), TokenError::malformed);
  auto promoted = anonymous;
  promoted.role = v1::ROLE_HOST;
  EXPECT_EQ(verify_token(mint_token(promoted, secret), secret, now).error(), TokenError::malformed)
      << "an anonymous identity is a participant";
  auto one_room = anonymous;
  one_room.room = "r1";
  EXPECT_EQ(verify_token(mint_token(one_room, secret), secret, now).error(), TokenError::malformed);
}

TEST(Token, InvitesNameARoomAndNobody) {
  const auto invite = mint_invite("group", host_claims().exp, secret);
  const auto room = verify_invite(invite, secret, now);
  ASSERT_TRUE(room);
  EXPECT_EQ(*room, "group");
  EXPECT_EQ(verify_token(invite, secret, now).error(), TokenError::malformed) << "an invite is no identity";
  EXPECT_EQ(verify_invite(mint_token(host_claims(), secret), secret, now).error(), TokenError::malformed)
      << "an identity token is no invite";
  EXPECT_EQ(verify_invite(mint_invite("group", 1000, secret), secret, now).error(), TokenError::expired);
  EXPECT_EQ(verify_invite(invite, "another-secret-of-enough-length-0123456789", now).error(), TokenError::bad_signature);
}

TEST(Token, ErrorsHaveACategoryAndMessages) {
  const std::error_code error = TokenError::expired;
  EXPECT_STREQ(error.category().name(), "hearth.token");
  EXPECT_EQ(error.message(), "token has expired");
}

}  // namespace
}  // namespace hearth
