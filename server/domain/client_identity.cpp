#include "domain/client_identity.hpp"

#include <algorithm>

#include "base/identity.hpp"
#include "domain/command.hpp"

namespace hearth {
namespace {

// Rooms whose anonymous identities a connection keeps for rejoins.
constexpr std::size_t kRoomIdentitiesKept = 64;

std::chrono::system_clock::time_point now() {
  return std::chrono::system_clock::now();
}

}  // namespace

Failure token_failure(std::error_code error) {
  switch (static_cast<TokenError>(error.value())) {
    case TokenError::expired:
      return {v1::TOKEN_EXPIRED, "the token has expired"};
    case TokenError::wrong_room:
      return {v1::TOKEN_WRONG_ROOM, "the token is for another room"};
    default:
      return {v1::TOKEN_INVALID, "the token is not valid"};
  }
}

ClientIdentity::ClientIdentity(std::string_view secret, std::size_t max_name_chars,
                               std::optional<Claims> claims)
    : secret_(secret), max_name_chars_(max_name_chars) {
  if (!claims) return;
  // As a Hello with this token: the identity is fixed; a Hello now would be
  // a second one.
  user_id_ = claims->sub;
  display_name_ = !claims->name.empty() ? claims->name : new_pseudonym();
  claims_ = std::make_unique<Claims>(std::move(*claims));
  hello_seen_ = identified_ = true;
}

std::variant<v1::Welcome, Failure> ClientIdentity::hello(const v1::Hello& hello) {
  if (hello_seen_ || identified_)
    return Failure{v1::ALREADY_IDENTIFIED, "hello must come once, before any join"};
  std::string name;
  if (auto failure = clean_display_name(hello.display_name(), max_name_chars_, name)) return *failure;
  if (!hello.token().empty()) {
    if (looks_like_resume(hello.token())) {
      return Failure{v1::TOKEN_INVALID, "a resume token is for one room: send it as joinRoom.token"};
    }
    auto claims = verify_token(hello.token(), secret_, now());
    if (!claims) return token_failure(claims.error());
    user_id_ = claims->sub;
    display_name_ = !name.empty() ? name : !claims->name.empty() ? claims->name : new_pseudonym();
    claims_ = std::make_unique<Claims>(std::move(*claims));
  } else {
    user_id_ = new_anonymous_user_id();
    display_name_ = name;
  }
  hello_seen_ = identified_ = true;
  v1::Welcome welcome;
  welcome.set_user_id(user_id_);
  welcome.set_display_name(!display_name_.empty() ? display_name_ : pseudonym_for(user_id_));
  welcome.set_anonymous(claims_ == nullptr);
  return welcome;
}

void ClientIdentity::ensure_identified() {
  if (identified_) return;
  user_id_ = new_anonymous_user_id();
  display_name_.clear();
  identified_ = true;
}

std::string ClientIdentity::resume_token_for(const std::string& room_id, const Membership& membership) const {
  if (!is_anonymous_id(membership.user_id)) return {};
  const std::int64_t until = seconds_since_epoch(now() + kAnonymousIdentityLifetime);
  const std::int64_t bound =
      membership.identity_since +
      std::chrono::duration_cast<std::chrono::seconds>(kAnonymousIdentityMaxLifetime).count();
  if (bound <= seconds_since_epoch(now())) return {};  // this identity can no longer be resumed
  return mint_resume({membership.user_id, room_id, membership.identity_since, std::min(until, bound)},
                     secret_);
}

std::optional<Failure> ClientIdentity::membership_for(
    const std::string& room_id, const std::string& token, const std::string& display_name, Membership& out,
    const std::function<bool(const std::string&)>& in_room) {
  std::string name;
  if (auto failure = clean_display_name(display_name, max_name_chars_, name)) return failure;
  std::optional<Claims> claims;
  if (claims_) claims = *claims_;
  if (!token.empty() && looks_like_resume(token)) {
    // An anonymous member of this room coming back as themselves.
    if (claims_ || (identified_ && !is_anonymous_id(user_id_))) {
      return Failure{v1::TOKEN_INVALID, "a resume token is for anonymous connections; this one signed in"};
    }
    auto resumed = verify_resume(token, secret_, now());
    if (!resumed) return token_failure(resumed.error());
    if (resumed->room != room_id) return token_failure(TokenError::wrong_room);
    ensure_identified();
    out.role = v1::ROLE_PARTICIPANT;
    out.user_id = resumed->user_id;
    out.identity_since = resumed->since;
    out.resumed = true;
    out.display_name = name_in_room(name, out.user_id);
    return std::nullopt;  // kept for rejoins once the room has let it in (joined)
  }
  if (!token.empty()) {
    auto verified = verify_token(token, secret_, now());
    if (!verified) return token_failure(verified.error());
    // A join token for another identity than the Hello one would make one
    // connection two people.
    if (identified_ && verified->sub != user_id_) {
      return Failure{v1::TOKEN_INVALID, "the token names another user than this connection's"};
    }
    claims = std::move(*verified);
  }
  if (claims) {
    // A Hello token is checked again at every join: it may have expired since.
    if (has_expired(*claims, now())) return token_failure(TokenError::expired);
    if (auto error = check_room(*claims, room_id)) return token_failure(error);
    if (!identified_) {
      // The token's subject becomes the connection's identity; its role
      // stays with this room (claims_ is only ever set by Hello).
      user_id_ = claims->sub;
      display_name_ = !claims->name.empty() ? claims->name : new_pseudonym();
      identified_ = true;
    }
    out.role = claims->role;
    // A token that names this room, or says its bearer is staff, admits to
    // a private room; a generic participant token ("*") does not.
    out.admitted = claims->room == room_id || is_staff(claims->role);
    out.user_id = user_id_;
    out.display_name = name_in_room(name, out.user_id);
    return std::nullopt;
  }
  ensure_identified();
  out.role = v1::ROLE_PARTICIPANT;
  if (!is_anonymous_id(user_id_)) {
    // Named by a join token for another room: the same person here.
    out.user_id = user_id_;
    out.display_name = name_in_room(name, out.user_id);
    return std::nullopt;
  }
  // Anonymous: an identity of this room's own.
  auto kept = room_identities_.find(room_id);
  if (kept == room_identities_.end()) {
    if (room_identities_.size() >= kRoomIdentitiesKept) {
      std::erase_if(room_identities_, [&](const auto& entry) { return !in_room(entry.first); });
    }
    const auto since = seconds_since_epoch(now());
    // After a ForgetMe here, the connection is someone new: another input.
    const auto forgets = forgets_.find(room_id);
    const std::string base =
        forgets == forgets_.end() ? user_id_ : user_id_ + "#" + std::to_string(forgets->second);
    kept =
        room_identities_.emplace(room_id, RoomIdentity{room_member_id(base, room_id, secret_), since}).first;
  }
  out.user_id = kept->second.user_id;
  out.identity_since = kept->second.since;
  out.resumed = kept->second.resumed;
  out.display_name = name_in_room(name, out.user_id);
  return std::nullopt;
}

std::string ClientIdentity::name_in_room(const std::string& chosen, const std::string& user_id) const {
  // Named people always have a display_name_ (their token's, or a
  // pseudonym); anonymous people without a name get their room id's.
  return !chosen.empty() ? chosen : !display_name_.empty() ? display_name_ : pseudonym_for(user_id);
}

void ClientIdentity::joined(const std::string& room_id, const Membership& membership) {
  if (!is_anonymous_id(membership.user_id)) return;
  room_identities_[room_id] = RoomIdentity{membership.user_id, membership.identity_since, true};
}

void ClientIdentity::forget(const std::string& room_id) {
  room_identities_.erase(room_id);
  ++forgets_[room_id];
}

std::chrono::seconds ClientIdentity::forget_for(const Membership& membership,
                                                std::chrono::system_clock::time_point now) {
  // Minted at a join before now, each token lasts a day at most, and never
  // past the identity's bound. A minute more for clocks that differ
  // between nodes.
  const auto bound = std::chrono::system_clock::time_point(std::chrono::seconds(membership.identity_since)) +
                     kAnonymousIdentityMaxLifetime;
  const std::chrono::system_clock::duration longest = kAnonymousIdentityLifetime + std::chrono::minutes(1);
  return std::chrono::ceil<std::chrono::seconds>(std::min(bound - now, longest));
}

}  // namespace hearth
