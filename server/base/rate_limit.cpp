#include "base/rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace hearth {

void TokenBucket::refill(Clock::time_point now) {
  if (last_ != Clock::time_point{} && now > last_) {
    const double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + seconds * rate_);
  }
  last_ = std::max(last_, now);
}

std::optional<std::chrono::milliseconds> TokenBucket::take(Clock::time_point now) {
  refill(now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::nullopt;
  }
  const double wait = rate_ > 0 ? (1.0 - tokens_) / rate_ : 3600.0;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(wait * 1000.0)));
}

bool TokenBucket::full(Clock::time_point now) const {
  if (last_ == Clock::time_point{}) return true;
  const double seconds = std::chrono::duration<double>(now - last_).count();
  return tokens_ + seconds * rate_ >= burst_;
}

std::optional<std::chrono::milliseconds> KeyedBuckets::take(const std::string& key, Clock::time_point now) {
  Stripe& stripe = stripes_[std::hash<std::string>{}(key) % kStripes];
  std::lock_guard lock(stripe.mutex);
  if (++stripe.takes_since_sweep >= 1024) {
    stripe.takes_since_sweep = 0;
    std::erase_if(stripe.buckets, [now](const auto& item) { return item.second.full(now); });
  }
  auto it = stripe.buckets.try_emplace(key, rate_, burst_).first;
  return it->second.take(now);
}

std::size_t KeyedBuckets::size() const {
  std::size_t count = 0;
  for (const auto& stripe : stripes_) {
    std::lock_guard lock(stripe.mutex);
    count += stripe.buckets.size();
  }
  return count;
}

bool ConnectionCounter::try_add(const std::string& address, std::size_t max) {
  std::lock_guard lock(mutex_);
  std::size_t& open = open_[address];
  if (max != 0 && open >= max) return false;  // at least one open: nothing added
  ++open;
  return true;
}

void ConnectionCounter::remove(const std::string& address) {
  std::lock_guard lock(mutex_);
  const auto it = open_.find(address);
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);
}

std::size_t ConnectionCounter::count(const std::string& address) const {
  std::lock_guard lock(mutex_);
  const auto it = open_.find(address);
  return it == open_.end() ? 0 : it->second;
}

}  // namespace hearth
