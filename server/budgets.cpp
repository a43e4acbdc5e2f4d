#include "budgets.hpp"

#include <algorithm>
#include <cmath>

namespace hearth {

std::int64_t gcra_interval(const Budget& budget) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(1000.0 / budget.rate)));
}

GcraStep gcra_step(std::int64_t tat, std::int64_t now, const Budget& budget) {
  const std::int64_t interval = gcra_interval(budget);
  const auto burst = static_cast<std::int64_t>(std::max(1.0, budget.burst));
  // Taking one moves the "full again" time one interval on; the bucket holds
  // `burst` intervals.
  GcraStep step;
  step.new_tat = std::max(tat, now) + interval;
  step.wait = std::max<std::int64_t>(0, step.new_tat - now - burst * interval);
  return step;
}

namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void LocalBudgets::give_back(std::vector<Budget> budgets) {
  const std::int64_t now = steady_ms();
  std::lock_guard lock(mutex_);
  for (const auto& budget : budgets) {
    const auto it = tats_.find(budget.key);
    if (it == tats_.end()) continue;
    it->second -= gcra_interval(budget);
    if (it->second <= now) tats_.erase(it);
  }
}

void LocalBudgets::take(std::vector<Budget> budgets, Handler handler) {
  const std::int64_t now = steady_ms();
  std::int64_t wait = 0;
  {
    std::lock_guard lock(mutex_);
    if (++takes_since_sweep_ >= 1024) {
      takes_since_sweep_ = 0;
      std::erase_if(tats_, [now](const auto& item) { return item.second <= now; });
    }
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

std::size_t LocalBudgets::size() const {
  std::lock_guard lock(mutex_);
  return tats_.size();
}

}  // namespace hearth
