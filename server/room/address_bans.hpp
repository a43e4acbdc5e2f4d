// Bans of anonymous people that hold when they come back as someone new
// (docs/protocol.md 2.22, docs/privacy.md). An anonymous identity costs
// nothing, so a ban by user id alone is undone by opening a new tab. When a
// room bans an anonymous member, each node holding one of their connections
// marks that connection's client address in storage (Engine::mark_address)
// for `ttl`, named only by its HMAC under the server's secret; an anonymous
// join from a marked address is refused as BANNED. Lifting the ban lifts the
// marks. Addresses change hands (mobile networks, shared Wi-Fi), hence the
// expiry, and signed-in people are never refused by address.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <system_error>

#include "engine/engine.hpp"

namespace hearth {

class AddressBans {
 public:
  // `ttl` 0: no bans by address.
  AddressBans(Marks& marks, std::string secret, std::chrono::seconds ttl);

  bool enabled() const { return ttl_.count() > 0; }
  // Fire and forget: a failure is logged (without the address).
  void mark(const std::string& room_id, const std::string& user_id, const std::string& address);
  void lift(const std::string& room_id, const std::string& user_id);
  void check(const std::string& room_id, const std::string& address, Engine::MarkedHandler handler);

 private:
  std::string key(const std::string& address) const;

  Marks& marks_;
  std::string secret_;
  std::chrono::seconds ttl_;
};

}  // namespace hearth
