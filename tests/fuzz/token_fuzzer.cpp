// libFuzzer target: identity tokens and invites (server/domain/token.cpp), the only
// input that decides who someone is. Whatever comes in must be refused or
// accepted without a crash, and what is accepted must make sense:
//   * a token that verifies has a subject, a known role, a room and an
//     expiry in the future, keeps the "anon:" namespace to server-made
//     anonymous identities, and minted again from its claims verifies to the
//     same claims; an invite likewise names a room and round-trips;
//   * a token signed with another secret, or changed in any byte after
//     signing, never verifies;
//   * claims minted by the server verify exactly when the rules say they
//     should (verify_token's rules, restated here independently).
//
// The first byte picks one of four ways to use the rest: a raw token; a
// header and payload of the fuzzer's choosing, correctly signed (the only way
// random bytes get past the signature to the claim checks); claims to mint;
// a minted token changed in a few places.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "domain/token.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace hearth;
using hearth::fuzz::expect;
using hearth::fuzz::FuzzInput;

constexpr std::string_view kSecret = "fuzz-secret-fuzz-secret-fuzz-secret-32";
constexpr std::string_view kOtherSecret = "another-secret-another-secret-another";
// A fixed "now", so that an input does the same on every run.
const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'900'000'000));
const std::int64_t kNowSeconds = 1'900'000'000;

enum Mode : unsigned { kRaw, kSigned, kMint, kMutate, kModes };

// RFC 3629 UTF-8, as a JSON parser must accept it.
bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    const std::uint32_t smallest[] = {0, 0x80, 0x800, 0x10000};
    if (code < smallest[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

std::string base64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// header.payload signed with `secret`, as an issuer would.
std::string sign(std::string_view header, std::string_view payload, std::string_view secret) {
  const std::string input = base64url(header) + "." + base64url(payload);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest, &length);
  return input + "." + base64url(std::string_view(reinterpret_cast<const char*>(digest), length));
}

bool same_claims(const Claims& a, const Claims& b) {
  return a.sub == b.sub && a.name == b.name && a.role == b.role && a.room == b.room && a.exp == b.exp;
}

// Every check on a token that `secret` signed, whatever it holds.
void check_token(std::string_view token) {
  const auto claims = verify_token(token, kSecret, kNow);
  if (claims) {
    expect(!claims->sub.empty() && !claims->room.empty(), "accepted a token without subject or room");
    expect(claims->role >= v1::ROLE_PARTICIPANT && claims->role <= v1::ROLE_ADMIN,
           "accepted an unknown role");
    expect(claims->exp > kNowSeconds && !has_expired(*claims, kNow), "accepted an expired token");
    expect(!claims->sub.starts_with("anon:"), "an identity token for a server-made anonymous id");
    expect(!check_room(*claims, claims->room), "a token is not valid for its own room");
    // Minted again, the same claims come back.
    const auto again = verify_token(mint_token(*claims, kSecret), kSecret, kNow);
    expect(again && same_claims(*again, *claims), "claims do not round-trip");
    // Never under another secret.
    expect(!verify_token(token, kOtherSecret, kNow), "verified under another secret");
  }
  const auto invite = verify_invite(token, kSecret, kNow);
  if (invite) {
    expect(!invite->empty(), "an invite for no room");
    // An invite is never an identity, nor the other way round.
    expect(!claims, "one token is both an identity and an invite");
    const auto again = verify_invite(mint_invite(*invite, kNowSeconds + 60, kSecret), kSecret, kNow);
    expect(again && *again == *invite, "an invite does not round-trip");
    expect(!verify_invite(token, kOtherSecret, kNow), "an invite verified under another secret");
  }
  const auto resume = verify_resume(token, kSecret, kNow);
  if (resume) {
    expect(resume->user_id.starts_with("anon:") && !resume->room.empty() && resume->exp > kNowSeconds,
           "accepted a resume token without an anonymous id, a room, or time left");
    expect(!claims && !invite, "a resume token is also another kind of token");
    const auto again = verify_resume(mint_resume(*resume, kSecret), kSecret, kNow);
    expect(again && again->user_id == resume->user_id && again->room == resume->room &&
               again->since == resume->since && again->exp == resume->exp,
           "a resume token does not round-trip");
    expect(!verify_resume(token, kOtherSecret, kNow), "a resume token verified under another secret");
  }
}

void mint_and_check(FuzzInput& in) {
  Claims claims;
  claims.sub = std::string(in.bytes(24));
  claims.name = std::string(in.bytes(24));
  claims.room = std::string(in.bytes(24));
  claims.role = static_cast<v1::Role>(in.pick(6));
  const bool resume = in.flag();
  if (in.flag()) claims.sub = "anon:" + claims.sub;
  if (in.flag()) claims.room = "*";
  const std::int64_t exps[] = {
      kNowSeconds - 1, kNowSeconds, kNowSeconds + 1, kNowSeconds + 86400, INT64_MAX, INT64_MIN, 0, -1};
  claims.exp = exps[in.pick(8)];

  const bool should_verify = !claims.sub.empty() && !claims.room.empty() && valid_utf8(claims.sub) &&
                             valid_utf8(claims.name) && valid_utf8(claims.room) &&
                             claims.role >= v1::ROLE_PARTICIPANT && claims.role <= v1::ROLE_ADMIN &&
                             !claims.sub.starts_with("anon:") && claims.exp > kNowSeconds;
  const std::string token = mint_token(claims, kSecret);
  const auto verified = verify_token(token, kSecret, kNow);
  expect(static_cast<bool>(verified) == should_verify, "minted claims verify against the rules");
  if (verified) expect(same_claims(*verified, claims), "minted claims come back changed");
  check_token(token);

  const std::string invite = mint_invite(claims.room, claims.exp, kSecret);
  const auto room = verify_invite(invite, kSecret, kNow);
  const bool invite_should = !claims.room.empty() && valid_utf8(claims.room) && claims.exp > kNowSeconds;
  expect(static_cast<bool>(room) == invite_should, "a minted invite verifies against the rules");
  if (room) expect(*room == claims.room, "an invite comes back for another room");
  expect(!verify_token(invite, kSecret, kNow), "an invite passed as an identity token");

  if (resume) {
    const std::string resume_token =
        mint_resume({claims.sub, claims.room, claims.exp / 2, claims.exp}, kSecret);
    const auto resumed = verify_resume(resume_token, kSecret, kNow);
    const bool resume_should = claims.sub.starts_with("anon:") && valid_utf8(claims.sub) &&
                               !claims.room.empty() && valid_utf8(claims.room) && claims.exp > kNowSeconds;
    expect(static_cast<bool>(resumed) == resume_should, "a minted resume token verifies against the rules");
    // (Text that is not UTF-8 makes no JSON a parser reads back, as the
    // server never mints: room ids and member ids are ASCII.)
    if (valid_utf8(claims.sub) && valid_utf8(claims.room)) {
      expect(looks_like_resume(resume_token), "a resume token not seen as one");
    }
    check_token(resume_token);
  }
}

void mutate_and_check(FuzzInput& in) {
  Claims claims;
  claims.sub = "user-1";
  claims.name = "Ada";
  claims.role = in.flag() ? v1::ROLE_HOST : v1::ROLE_PARTICIPANT;
  claims.room = in.flag() ? "*" : "room-1";
  claims.exp = kNowSeconds + 3600;
  const std::string original =
      in.flag() ? mint_invite("room-1", claims.exp, kSecret) : mint_token(claims, kSecret);
  std::string token = original;
  for (unsigned edits = 1 + in.pick(4); edits > 0 && !token.empty(); --edits) {
    const std::size_t at = in.byte() % token.size();
    const char c = static_cast<char>(in.byte());
    switch (in.pick(4)) {
      case 0:
        token[at] = c;
        break;
      case 1:
        token.erase(at, 1);
        break;
      case 2:
        token.insert(token.begin() + static_cast<std::ptrdiff_t>(at), c);
        break;
      default:
        token[at] = static_cast<char>(token[at] ^ 0x20);
        break;
    }
  }
  check_token(token);
  if (token != original) {
    // Every byte is covered by the signature, compared as text.
    expect(!verify_token(token, kSecret, kNow) && !verify_invite(token, kSecret, kNow),
           "a changed token verified");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  for (const auto role : {v1::ROLE_PARTICIPANT, v1::ROLE_MODERATOR, v1::ROLE_HOST, v1::ROLE_ADMIN}) {
    expect(role_from_name(role_name(role)) == role, "role names do not round-trip");
  }
  switch (in.pick(kModes)) {
    case kRaw:
      check_token(in.rest());
      break;
    case kSigned: {
      const std::string header =
          in.flag() ? std::string(R"({"alg":"HS256","typ":"JWT"})") : std::string(in.bytes(48));
      check_token(sign(header, in.rest(), kSecret));
      break;
    }
    case kMint:
      mint_and_check(in);
      break;
    default:
      mutate_and_check(in);
      break;
  }
  return 0;
}

namespace hearth::fuzz {

std::vector<Seed> fuzz_seeds() {
  std::vector<Seed> seeds;
  auto add = [&seeds](std::string name, const SeedWriter& writer) {
    seeds.push_back({std::move(name), writer.str()});
  };
  Claims host{"host-1", "Dr. Ada", v1::ROLE_HOST, "*", kNowSeconds + 3600};
  add("seed-raw-resume-token", SeedWriter().byte(kRaw).rest(mint_resume(
                                   {"anon:00ff", "room-1", kNowSeconds, kNowSeconds + 3600}, kSecret)));
  add("seed-raw-host-token", SeedWriter().byte(kRaw).rest(mint_token(host, kSecret)));
  add("seed-raw-invite", SeedWriter().byte(kRaw).rest(mint_invite("room-1", kNowSeconds + 60, kSecret)));
  add("seed-raw-alg-none",
      SeedWriter().byte(kRaw).rest(base64url(R"({"alg":"none"})") + "." +
                                   base64url(R"({"sub":"x","role":"admin","room":"*","exp":1e12})") + "."));
  add("seed-raw-garbage", SeedWriter().byte(kRaw).rest("a.b.c"));
  const auto signed_payload = [&](std::string name, std::string_view payload) {
    add(std::move(name), SeedWriter().byte(kSigned).byte(1).rest(payload));
  };
  signed_payload("seed-signed-participant",
                 R"({"sub":"p-1","role":"participant","room":"room-1","exp":1900003600,"name":"Sam"})");
  signed_payload("seed-signed-anonymous",
                 R"({"sub":"anon:00ff","role":"participant","room":"*","exp":1900003600,"anon":true})");
  signed_payload("seed-signed-anon-host",
                 R"({"sub":"anon:00ff","role":"host","room":"*","exp":1900003600,"anon":true})");
  signed_payload("seed-signed-unmarked-anon",
                 R"({"sub":"anon:00ff","role":"participant","room":"*","exp":1900003600})");
  signed_payload("seed-signed-expired", R"({"sub":"p-1","role":"participant","room":"*","exp":1899999999})");
  signed_payload("seed-signed-exp-float", R"({"sub":"p-1","role":"participant","room":"*","exp":1.9e9})");
  signed_payload("seed-signed-exp-huge",
                 R"({"sub":"p-1","role":"participant","room":"*","exp":18446744073709551615})");
  signed_payload("seed-signed-invite", R"({"inv":"room-1","exp":1900003600})");
  signed_payload("seed-signed-invite-with-sub", R"({"inv":"room-1","sub":"p-1","exp":1900003600})");
  signed_payload("seed-signed-not-object", R"(["sub","p-1"])");
  add("seed-signed-header-none", SeedWriter()
                                     .byte(kSigned)
                                     .byte(0)
                                     .bytes(R"({"alg":"none"})")
                                     .rest(R"({"sub":"p","role":"host","room":"*","exp":1900003600})"));
  add("seed-mint-host", SeedWriter()
                            .byte(kMint)
                            .bytes("host-1")
                            .bytes("Ada")
                            .bytes("room-1")
                            .byte(3)
                            .byte(0)
                            .byte(0)
                            .byte(0)
                            .byte(3));
  add("seed-mint-anonymous",
      SeedWriter().byte(kMint).bytes("00ff").bytes("").bytes("").byte(1).byte(1).byte(1).byte(1).byte(3));
  add("seed-mint-bad-utf8",
      SeedWriter().byte(kMint).bytes("p\xff").bytes("\xc3").bytes("r").byte(1).byte(0).byte(0).byte(0).byte(
          3));
  add("seed-mutate-token",
      SeedWriter().byte(kMutate).byte(1).byte(0).byte(0).byte(0).byte(10).byte('A').byte(0));
  add("seed-mutate-invite",
      SeedWriter().byte(kMutate).byte(0).byte(1).byte(1).byte(2).byte(200).byte('=').byte(2));
  return seeds;
}

}  // namespace hearth::fuzz
