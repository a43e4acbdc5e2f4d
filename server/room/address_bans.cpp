#include "room/address_bans.hpp"

#include "base/budgets.hpp"  // budget_key: the HMAC that names an address
#include "base/log.hpp"

namespace hearth {

AddressBans::AddressBans(Marks& marks, std::string secret, std::chrono::seconds ttl)
    : marks_(marks), secret_(std::move(secret)), ttl_(ttl) {}

std::string AddressBans::key(const std::string& address) const {
  return budget_key(secret_, "ban:address", address);
}

void AddressBans::mark(const std::string& room_id, const std::string& user_id, const std::string& address) {
  if (!enabled() || address.empty()) return;
  marks_.mark_address(room_id, user_id, key(address), ttl_, [](std::error_code error) {
    if (error) log::warn("a banned address could not be marked: ", error.message());
  });
}

void AddressBans::lift(const std::string& room_id, const std::string& user_id) {
  if (!enabled()) return;
  marks_.lift_addresses(room_id, user_id, [](std::error_code error) {
    if (error) log::warn("a lifted ban's addresses could not be unmarked: ", error.message());
  });
}

void AddressBans::check(const std::string& room_id, const std::string& address,
                        Engine::MarkedHandler handler) {
  if (!enabled() || address.empty()) return handler({}, false);
  marks_.address_marked(room_id, key(address), std::move(handler));
}

}  // namespace hearth
