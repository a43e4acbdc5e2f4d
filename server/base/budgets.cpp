#include "base/budgets.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cmath>
#include <span>

#include "base/identity.hpp"  // to_hex

namespace hearth {

std::int64_t gcra_interval(const Budget& budget) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(1000.0 / budget.rate)));
}

GcraGrant gcra_take_up_to(std::int64_t tat, std::int64_t now, const Budget& budget, std::int64_t want) {
  const std::int64_t interval = gcra_interval(budget);
  const auto burst = static_cast<std::int64_t>(std::max(1.0, budget.burst));
  // Taking one moves the "full again" time one interval on; the bucket holds
  // `burst` intervals, so as many fit as there are whole intervals between
  // that time and `burst` intervals from now.
  const std::int64_t from = std::max(tat, now);
  const std::int64_t left = (now + burst * interval - from) / interval;
  GcraGrant grant;
  if (left < 1) {
    grant.new_tat = tat;
    grant.wait = from + interval - now - burst * interval;
    return grant;
  }
  grant.granted = std::min(left, std::max<std::int64_t>(1, want));
  grant.new_tat = from + grant.granted * interval;
  return grant;
}

GcraStep gcra_step(std::int64_t tat, std::int64_t now, const Budget& budget) {
  const auto grant = gcra_take_up_to(tat, now, budget, 1);
  return {grant.new_tat, grant.wait};
}

std::string budget_key(std::string_view secret, std::string_view kind, std::string_view value) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(value.data()),
       value.size(), digest, &length);
  return "hearth:budget:" + std::string(kind) + ":" + to_hex(std::span(digest, std::min(length, 16u)));
}

namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void LocalBudgets::give_back(std::vector<Budget> budgets, std::int64_t count) {
  const std::int64_t now = steady_ms();
  std::lock_guard lock(mutex_);
  for (const auto& budget : budgets) {
    const auto it = tats_.find(budget.key);
    if (it == tats_.end()) continue;
    it->second -= gcra_interval(budget) * count;
    if (it->second <= now) tats_.erase(it);
  }
}

void LocalBudgets::sweep(std::int64_t now) {
  if (++takes_since_sweep_ < 1024) return;
  takes_since_sweep_ = 0;
  std::erase_if(tats_, [now](const auto& item) { return item.second <= now; });
  // A turn taken a day ago is over for any interval that matters.
  std::erase_if(turns_, [now](const auto& item) { return item.second + 86'400'000 <= now; });
}

void LocalBudgets::take_up_to(Budget budget, std::int64_t want, GrantHandler handler) {
  const std::int64_t now = steady_ms();
  GcraGrant grant;
  {
    std::lock_guard lock(mutex_);
    sweep(now);
    const auto it = tats_.find(budget.key);
    grant = gcra_take_up_to(it == tats_.end() ? 0 : it->second, now, budget, want);
    if (grant.granted > 0) tats_[budget.key] = grant.new_tat;
  }
  handler({}, Grant{grant.granted, std::chrono::milliseconds(grant.wait),
                    std::chrono::milliseconds(grant.granted > 0 ? grant.new_tat - now : 0)});
}

void LocalBudgets::take(std::vector<Budget> budgets, Handler handler) {
  const std::int64_t now = steady_ms();
  std::int64_t wait = 0;
  {
    std::lock_guard lock(mutex_);
    sweep(now);
    std::vector<std::int64_t> tats;
    for (const auto& budget : budgets) {
      const auto it = tats_.find(budget.key);
      const auto step = gcra_step(it == tats_.end() ? 0 : it->second, now, budget);
      wait = std::max(wait, step.wait);
      tats.push_back(step.new_tat);
    }
    if (wait == 0) {
      for (std::size_t i = 0; i < budgets.size(); ++i) tats_[budgets[i].key] = tats[i];
    }
  }
  if (wait > 0) return handler({}, std::chrono::milliseconds(wait));
  handler({}, std::nullopt);
}

void LocalBudgets::take_turn(std::string key, std::chrono::milliseconds every, Handler handler) {
  const std::int64_t now = steady_ms();
  std::optional<std::chrono::milliseconds> wait;
  {
    std::lock_guard lock(mutex_);
    auto [it, added] = turns_.try_emplace(std::move(key), now);
    if (!added) {
      if (it->second + every.count() > now)
        wait = std::chrono::milliseconds(it->second + every.count() - now);
      else
        it->second = now;
    }
  }
  handler({}, wait);
}

std::size_t LocalBudgets::size() const {
  std::lock_guard lock(mutex_);
  return tats_.size();
}

// ---------------------------------------------------------------------------
// LeasedBudgets
// ---------------------------------------------------------------------------

LeasedBudgets::LeasedBudgets(SharedBudgets& shared, std::function<std::string(const std::string&)> key_of,
                             double rate, double burst)
    : shared_(shared),
      key_of_(std::move(key_of)),
      rate_(rate),
      burst_(burst),
      lease_(std::max<std::int64_t>(1, static_cast<std::int64_t>(burst / 8))),
      interval_(gcra_interval(Budget{{}, rate, burst})),
      fallback_(rate, burst) {}

LeasedBudgets::Stripe& LeasedBudgets::stripe_of(const std::string& key) {
  return stripes_[std::hash<std::string>{}(key) % stripes_.size()];
}

std::int64_t LeasedBudgets::held(const Entry& entry, Clock::time_point now) const {
  if (entry.tokens == 0 || entry.full_at <= now) return 0;
  return std::min<std::int64_t>(entry.tokens, (entry.full_at - now) / interval_);
}

std::vector<std::pair<Budget, std::int64_t>> LeasedBudgets::sweep(Stripe& stripe, Clock::time_point now) {
  std::vector<std::pair<Budget, std::int64_t>> unspent;
  std::erase_if(stripe.entries, [&](auto& item) {
    const Entry& entry = item.second;
    if (entry.asking || !entry.waiting.empty() || now - entry.last_used < kLeaseIdle) return false;
    // What lapsed is not given back: the budget has refilled it already.
    if (const auto unspent_here = held(entry, now); unspent_here > 0) {
      unspent.emplace_back(Budget{key_of_(item.first), rate_, burst_}, unspent_here);
    }
    return true;
  });
  return unspent;
}

void LeasedBudgets::sweep() {
  const auto now = Clock::now();
  for (auto& stripe : stripes_) {
    std::vector<std::pair<Budget, std::int64_t>> unspent;
    {
      std::lock_guard lock(stripe.mutex);
      unspent = sweep(stripe, now);
    }
    for (auto& [budget, count] : unspent) shared_.give_back({std::move(budget)}, count);
  }
}

LeasedBudgets::Answer LeasedBudgets::take(const std::string& key, Handler then) {
  const auto now = Clock::now();
  Stripe& stripe = stripe_of(key);
  Answer answer;
  bool ask_now = false;
  std::vector<std::pair<Budget, std::int64_t>> unspent;
  {
    std::lock_guard lock(stripe.mutex);
    if (++stripe.takes_since_sweep >= 256) {
      stripe.takes_since_sweep = 0;
      unspent = sweep(stripe, now);
    }
    Entry& entry = stripe.entries[key];
    entry.last_used = now;
    entry.tokens = held(entry, now);
    if (entry.tokens > 0) {
      --entry.tokens;
      // Half spent: the next lease, in the background.
      if (entry.tokens * 2 <= lease_ && !entry.asking && now >= entry.refused_until) ask_now = entry.asking = true;
    } else if (now < entry.refused_until) {
      answer.kind = Answer::Kind::refused;
      answer.wait = std::chrono::ceil<std::chrono::milliseconds>(entry.refused_until - now);
    } else {
      answer.kind = Answer::Kind::later;
      entry.waiting.push_back(std::move(then));
      if (!entry.asking) ask_now = entry.asking = true;
    }
  }
  for (auto& [budget, count] : unspent) shared_.give_back({std::move(budget)}, count);
  if (ask_now) ask(key);
  return answer;
}

void LeasedBudgets::ask(const std::string& key) {
  shared_.take_up_to(Budget{key_of_(key), rate_, burst_}, lease_,
                     [self = std::weak_ptr(self_), key](std::error_code error, SharedBudgets::Grant grant) {
                       if (const auto alive = self.lock()) (*alive)->answered(key, error, grant);
                     });
}

void LeasedBudgets::answered(const std::string& key, std::error_code error, SharedBudgets::Grant grant) {
  const auto now = Clock::now();
  std::vector<std::pair<Handler, Wait>> answers;
  bool ask_again = false;
  {
    Stripe& stripe = stripe_of(key);
    std::lock_guard lock(stripe.mutex);
    const auto it = stripe.entries.find(key);
    if (it == stripe.entries.end()) return;  // not swept while asking: cannot happen
    Entry& entry = it->second;
    entry.asking = false;
    if (error) {
      // Storage unavailable: this node's own count decides meanwhile.
      for (auto& handler : entry.waiting) answers.emplace_back(std::move(handler), fallback_.take(key, now));
      entry.waiting.clear();
    } else if (grant.granted > 0) {
      entry.tokens = held(entry, now) + grant.granted;
      entry.full_at = now + grant.full_in;
      std::size_t served = 0;
      for (; served < entry.waiting.size() && entry.tokens > 0; ++served) {
        --entry.tokens;
        answers.emplace_back(std::move(entry.waiting[served]), std::nullopt);
      }
      entry.waiting.erase(entry.waiting.begin(), entry.waiting.begin() + static_cast<std::ptrdiff_t>(served));
      if (!entry.waiting.empty()) ask_again = entry.asking = true;  // more waiting than the lease held
    } else {
      entry.refused_until = now + grant.wait;
      for (auto& handler : entry.waiting) answers.emplace_back(std::move(handler), grant.wait);
      entry.waiting.clear();
    }
  }
  if (ask_again) ask(key);
  for (auto& [handler, wait] : answers) handler(wait);
}

std::size_t LeasedBudgets::size() const {
  std::size_t total = 0;
  for (const auto& stripe : stripes_) {
    std::lock_guard lock(stripe.mutex);
    total += stripe.entries.size();
  }
  return total;
}

// ---------------------------------------------------------------------------
// ConnectionCap
// ---------------------------------------------------------------------------

ConnectionCap::ConnectionCap(SharedCounts* shared, std::size_t max,
                             std::function<std::string(const std::string&)> key_of)
    : shared_(max == 0 ? nullptr : shared), max_(max), key_of_(std::move(key_of)) {}

void ConnectionCap::try_add(const std::string& address, std::function<void(bool admitted)> admitted) {
  bool decided = false;  // by this node alone
  bool room = false;
  {
    std::lock_guard lock(mutex_);
    auto [it, added] = open_.try_emplace(address);
    Open& open = it->second;
    if (max_ != 0 && open.count >= max_) {  // at least one open: nothing added
      decided = true;
    } else {
      ++open.count;
      room = true;
      if (shared_ == nullptr) {
        decided = true;
      } else {
        if (added) open.key = key_of_(address);
        // Sent under the lock, as every change of a count is: they reach
        // the shared counts in the order they happened here.
        shared_->claim(open.key, open.count, max_,
                       [self = std::weak_ptr(self_), address, admitted = std::move(admitted)](std::error_code error,
                                                                                                bool ok) {
                         const auto alive = self.lock();
                         if (!alive) return;
                         if (!error && !ok) {
                           std::lock_guard relock((*alive)->mutex_);
                           (*alive)->lower(address);
                         }
                         admitted(error || ok);  // unavailable: this node's count decided
                       });
      }
    }
  }
  if (decided) admitted(room);
}

void ConnectionCap::remove(const std::string& address) {
  std::lock_guard lock(mutex_);
  lower(address);
}

ReportMeter::ReportMeter(SharedBudgets& budgets, std::string secret, std::uint32_t per_hour)
    : budgets_(budgets), secret_(std::move(secret)), per_hour_(per_hour) {}

void ReportMeter::take(const std::string& room_id, const std::string& address, const std::string& user_id,
                       SharedBudgets::Handler handler) {
  if (per_hour_ == 0) return handler({}, std::nullopt);
  const double burst = per_hour_;
  const double rate = burst / 3600;
  // The room id ends each name: a room's reports are its own.
  budgets_.take({{budget_key(secret_, "report:identity", user_id + '\n' + room_id), rate, burst},
                 {budget_key(secret_, "report:address", address + '\n' + room_id), 3 * rate, 3 * burst}},
                std::move(handler));
}

void ConnectionCap::lower(const std::string& address) {
  const auto it = open_.find(address);
  if (it == open_.end()) return;
  const std::size_t count = --it->second.count;
  if (shared_ != nullptr) shared_->report({{it->second.key, count}});
  if (count == 0) open_.erase(it);
}

void ConnectionCap::renew() {
  if (shared_ == nullptr) return;
  std::lock_guard lock(mutex_);
  // A few hundred keys a call, so that Redis is never busy with one for long.
  constexpr std::size_t kPerCall = 256;
  std::vector<std::pair<std::string, std::size_t>> counts;
  for (const auto& [address, open] : open_) {
    counts.emplace_back(open.key, open.count);
    if (counts.size() == kPerCall) shared_->report(std::exchange(counts, {}));
  }
  if (!counts.empty()) shared_->report(std::move(counts));
}

std::size_t ConnectionCap::count(const std::string& address) const {
  std::lock_guard lock(mutex_);
  const auto it = open_.find(address);
  return it == open_.end() ? 0 : it->second.count;
}

}  // namespace hearth
