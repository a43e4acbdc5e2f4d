#include "domain/token.hpp"

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

TEST(Token, ResumeTokensAreForOneRoomAndNoOtherKindOfToken) {
  const ResumeClaims claims{"anon:0123456789abcdef", "r1", 1'000'000'000, host_claims().exp};
  const std::string token = mint_resume(claims, secret);
  EXPECT_TRUE(looks_like_resume(token));
  const auto verified = verify_resume(token, secret, now);
  ASSERT_TRUE(verified);
  EXPECT_EQ(verified->user_id, claims.user_id);
  EXPECT_EQ(verified->room, "r1");
  EXPECT_EQ(verified->since, claims.since);
  EXPECT_EQ(verified->exp, claims.exp);
  EXPECT_FALSE(verify_token(token, secret, now)) << "no identity token";
  EXPECT_FALSE(verify_invite(token, secret, now)) << "no invite";
  const std::string host = mint_token(host_claims(), secret);
  EXPECT_FALSE(looks_like_resume(host));
  EXPECT_EQ(verify_resume(host, secret, now).error(), TokenError::malformed);
  EXPECT_EQ(verify_resume(token, "another-secret-0123456789abcdef", now).error(), TokenError::bad_signature);
  auto named = claims;
  named.user_id = "ada";
  EXPECT_EQ(verify_resume(mint_resume(named, secret), secret, now).error(), TokenError::malformed)
      << "resume tokens carry server-made anonymous ids only";
  auto spent = claims;
  spent.exp = seconds_since_epoch(now);
  EXPECT_EQ(verify_resume(mint_resume(spent, secret), secret, now).error(), TokenError::expired);
}

TEST(Token, AnAnonymousConnectionHasAnUnrelatedIdInEachRoom) {
  const auto in_a = room_member_id("anon:0123456789abcdef", "a", secret);
  EXPECT_TRUE(in_a.starts_with("anon:"));
  EXPECT_EQ(in_a.size(), 21u);
  EXPECT_EQ(room_member_id("anon:0123456789abcdef", "a", secret), in_a) << "stable";
  EXPECT_NE(room_member_id("anon:0123456789abcdef", "b", secret), in_a);
  EXPECT_NE(room_member_id("anon:0123456789abcdee", "a", secret), in_a);
  EXPECT_NE(room_member_id("anon:0123456789abcdef", "a", "another-secret-0123456789abcdef"), in_a);
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
