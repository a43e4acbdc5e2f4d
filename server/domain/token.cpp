#include "domain/token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <boost/json.hpp>
#include <optional>
#include <span>

#include "base/identity.hpp"

namespace hearth {
namespace {

class TokenCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "hearth.token"; }
  std::string message(int value) const override {
    switch (static_cast<TokenError>(value)) {
      case TokenError::malformed: return "token is malformed";
      case TokenError::bad_algorithm: return "token algorithm is not HS256";
      case TokenError::bad_signature: return "token signature does not verify";
      case TokenError::expired: return "token has expired";
      case TokenError::wrong_room: return "token is for another room";
    }
    return "unknown token error";
  }
};

// base64url without padding (RFC 7515 section 2). Hand-written over OpenSSL's
// plain base64 because OpenSSL 3.0 has no url-safe variant and Boost has no
// public base64.
std::string base64url_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  if (text.size() % 4 == 1) return false;
  std::string standard(text);
  for (char& c : standard) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (c == '+' || c == '/' || c == '=') return false;
  }
  const std::size_t padding = (4 - standard.size() % 4) % 4;
  standard.append(padding, '=');
  out.assign(3 * standard.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(standard.data()),
                                static_cast<int>(standard.size()));
  if (n < 0) return false;
  out.resize(static_cast<std::size_t>(n) - padding);
  return true;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), digest.data(), &length);
  return std::string(reinterpret_cast<const char*>(digest.data()), length);
}

const boost::json::string* string_field(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  return value ? value->if_string() : nullptr;
}

}  // namespace

const std::error_category& token_category() noexcept {
  static const TokenCategory category;
  return category;
}

v1::Role role_from_name(std::string_view name) {
  if (name == "participant") return v1::ROLE_PARTICIPANT;
  if (name == "moderator") return v1::ROLE_MODERATOR;
  if (name == "host") return v1::ROLE_HOST;
  if (name == "admin") return v1::ROLE_ADMIN;
  return v1::ROLE_UNSPECIFIED;
}

std::string_view role_name(v1::Role role) {
  switch (role) {
    case v1::ROLE_PARTICIPANT: return "participant";
    case v1::ROLE_MODERATOR: return "moderator";
    case v1::ROLE_HOST: return "host";
    case v1::ROLE_ADMIN: return "admin";
    default: return "unknown";
  }
}

namespace {

std::string sign(const boost::json::object& payload, std::string_view secret) {
  const std::string header = base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  std::string signing_input = header + "." + base64url_encode(boost::json::serialize(payload));
  const std::string signature = base64url_encode(hmac_sha256(secret, signing_input));
  return signing_input + "." + signature;
}

// The payload of a well-formed HS256 token signed with `secret`.
boost::system::result<boost::json::object, std::error_code> signed_payload(std::string_view token,
                                                                           std::string_view secret) {
  const auto first_dot = token.find('.');
  const auto last_dot = token.rfind('.');
  if (first_dot == std::string_view::npos || first_dot == last_dot) return TokenError::malformed;
  const std::string_view signing_input = token.substr(0, last_dot);

  std::string header_json, payload_json;
  if (!base64url_decode(token.substr(0, first_dot), header_json) ||
      !base64url_decode(token.substr(first_dot + 1, last_dot - first_dot - 1), payload_json)) {
    return TokenError::malformed;
  }

  boost::system::error_code json_error;
  const boost::json::value header = boost::json::parse(header_json, json_error);
  if (json_error || !header.is_object()) return TokenError::malformed;
  const auto* alg = string_field(header.get_object(), "alg");
  // Checked before the signature so that "alg":"none" can never pass.
  if (alg == nullptr || *alg != "HS256") return TokenError::bad_algorithm;

  // Compared as text, in constant time: comparing decoded bytes would accept
  // other spellings of the same signature (base64's unused low bits).
  const std::string expected = base64url_encode(hmac_sha256(secret, signing_input));
  const std::string_view given = token.substr(last_dot + 1);
  if (given.size() != expected.size() || CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    return TokenError::bad_signature;
  }

  boost::json::value payload = boost::json::parse(payload_json, json_error);
  if (json_error || !payload.is_object()) return TokenError::malformed;
  return std::move(payload.get_object());
}

std::optional<std::int64_t> exp_of(const boost::json::object& object) {
  const auto* exp = object.if_contains("exp");
  if (exp == nullptr) return std::nullopt;
  if (exp->is_int64()) return exp->get_int64();
  if (exp->is_uint64() && exp->get_uint64() <= INT64_MAX) return static_cast<std::int64_t>(exp->get_uint64());
  return std::nullopt;
}

}  // namespace

std::int64_t seconds_since_epoch(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

std::string mint_token(const Claims& claims, std::string_view secret) {
  boost::json::object payload{{"sub", claims.sub}, {"role", role_name(claims.role)},
                              {"room", claims.room}, {"exp", claims.exp}};
  if (!claims.name.empty()) payload["name"] = claims.name;
  return sign(payload, secret);
}

boost::system::result<Claims, std::error_code> verify_token(std::string_view token, std::string_view secret,
                                                            std::chrono::system_clock::time_point now) {
  auto verified = signed_payload(token, secret);
  if (!verified) return verified.error();
  const auto& object = *verified;
  const auto* sub = string_field(object, "sub");
  const auto* role = string_field(object, "role");
  const auto* room = string_field(object, "room");
  const auto* name = string_field(object, "name");
  const auto exp = exp_of(object);
  if (sub == nullptr || sub->empty() || role == nullptr || room == nullptr || room->empty() || !exp) {
    return TokenError::malformed;
  }
  // "anon:" is the namespace of server-assigned anonymous identities, which
  // only resume tokens carry (verify_resume). Tokens of the old kind, with
  // "anon": true and every room, are refused too.
  if (sub->starts_with("anon:") || object.contains("anon")) return TokenError::malformed;
  Claims claims;
  claims.sub = std::string(*sub);
  claims.role = role_from_name(*role);
  if (claims.role == v1::ROLE_UNSPECIFIED) return TokenError::malformed;
  claims.room = std::string(*room);
  if (name != nullptr) claims.name = std::string(*name);
  claims.exp = *exp;
  if (has_expired(claims, now)) return TokenError::expired;
  return claims;
}

std::string mint_resume(const ResumeClaims& claims, std::string_view secret) {
  return sign(
      boost::json::object{
          {"rsm", claims.user_id}, {"room", claims.room}, {"since", claims.since}, {"exp", claims.exp}},
      secret);
}

bool looks_like_resume(std::string_view token) {
  const auto first_dot = token.find('.');
  const auto second_dot = first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos) return false;
  std::string payload_json;
  if (!base64url_decode(token.substr(first_dot + 1, second_dot - first_dot - 1), payload_json)) return false;
  boost::system::error_code json_error;
  const boost::json::value payload = boost::json::parse(payload_json, json_error);
  return !json_error && payload.is_object() && payload.get_object().contains("rsm");
}

boost::system::result<ResumeClaims, std::error_code> verify_resume(
    std::string_view token, std::string_view secret, std::chrono::system_clock::time_point now) {
  auto verified = signed_payload(token, secret);
  if (!verified) return verified.error();
  const auto* user_id = string_field(*verified, "rsm");
  const auto* room = string_field(*verified, "room");
  const auto* since = verified->if_contains("since");
  const auto exp = exp_of(*verified);
  if (user_id == nullptr || !user_id->starts_with("anon:") || room == nullptr || room->empty() ||
      since == nullptr || !since->is_int64() || !exp || verified->contains("sub")) {
    return TokenError::malformed;
  }
  if (seconds_since_epoch(now) >= *exp) return TokenError::expired;
  return ResumeClaims{std::string(*user_id), std::string(*room), since->get_int64(), *exp};
}

std::string room_member_id(std::string_view connection_user_id, std::string_view room_id,
                           std::string_view secret) {
  std::string input = "room-member";
  input.push_back('\0');
  input.append(connection_user_id);
  input.push_back('\0');
  input.append(room_id);
  const std::string digest = hmac_sha256(secret, input);
  const auto* bytes = reinterpret_cast<const unsigned char*>(digest.data());
  return "anon:" + to_hex(std::span(bytes, 8));
}

std::string mint_invite(const std::string& room_id, std::int64_t exp, std::string_view secret) {
  return sign(boost::json::object{{"inv", room_id}, {"exp", exp}}, secret);
}

boost::system::result<std::string, std::error_code> verify_invite(std::string_view token, std::string_view secret,
                                                                  std::chrono::system_clock::time_point now) {
  auto verified = signed_payload(token, secret);
  if (!verified) return verified.error();
  const auto* room = string_field(*verified, "inv");
  const auto exp = exp_of(*verified);
  // An invite names a room and no one: it is never an identity token.
  if (room == nullptr || room->empty() || !exp || verified->contains("sub")) return TokenError::malformed;
  if (seconds_since_epoch(now) >= *exp) return TokenError::expired;
  return std::string(*room);
}

bool has_expired(const Claims& claims, std::chrono::system_clock::time_point now) {
  return seconds_since_epoch(now) >= claims.exp;
}

std::error_code check_room(const Claims& claims, std::string_view room_id) {
  if (claims.room == "*" || claims.room == room_id) return {};
  return TokenError::wrong_room;
}

}  // namespace hearth
