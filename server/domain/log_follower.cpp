#include "domain/log_follower.hpp"

namespace hearth {

LogFollower::Actions LogFollower::start() {
  Actions out;
  catch_up(out);
  return out;
}

LogFollower::Actions LogFollower::resync() {
  Actions out;
  if (!reset_) catch_up(out);
  return out;
}

void LogFollower::catch_up(Actions& out) {
  if (reading_) {
    // A read is on its way, but may have started before what prompted this
    // one (a resync, a live entry past a gap): read again after it.
    read_again_ = true;
    return;
  }
  reading_ = true;
  read_again_ = false;
  retrying_ = Retrying::read;
  live_high_at_read_ = live_.empty() ? 0 : live_.rbegin()->first;
  out.emplace_back(std::in_place_type<Read>, Read{position_});
}

void LogFollower::load_checkpoint(Actions& out) {
  reading_ = true;  // live entries wait, as for a read
  retrying_ = Retrying::checkpoint;
  out.emplace_back(std::in_place_type<LoadCheckpoint>);
}

void LogFollower::apply(SequencedEntry entry, Actions& out) {
  position_ = entry.seq;
  out.emplace_back(std::in_place_type<Apply>, Apply{std::move(entry)});
}

LogFollower::Actions LogFollower::live(SequencedEntry entry) {
  Actions out;
  if (reset_ || entry.seq <= position_) return out;  // read already, or delivered twice
  if (ready_ && !reading_ && live_.empty() && entry.seq == position_ + 1) {
    apply(std::move(entry), out);
    return out;
  }
  // Bounded: past max_live_ held entries, drop them all and let the log
  // (which has every one of them) catch up.
  if (live_.size() >= max_live_) live_.clear();
  const std::uint64_t seq = entry.seq;
  live_.emplace(seq, std::move(entry));
  if (ready_) drain_live(out);
  return out;
}

void LogFollower::drain_live(Actions& out) {
  while (!live_.empty() && !reading_) {
    const auto it = live_.begin();
    if (it->first <= position_) {
      live_.erase(it);
    } else if (it->first == position_ + 1) {
      auto entry = std::move(it->second);
      live_.erase(it);
      apply(std::move(entry), out);
    } else {
      catch_up(out);  // the entries before it are in the log by now
    }
  }
}

LogFollower::Actions LogFollower::read_done(std::vector<SequencedEntry> entries) {
  Actions out;
  if (reset_) return out;
  reading_ = false;
  if (!entries.empty() && entries.front().seq > position_ + 1) {
    // Retention trimmed the entries needed next; a checkpoint stands in
    // for them.
    if (ready_) {
      reset_ = true;
      live_.clear();
      out.emplace_back(std::in_place_type<Reset>);
      return out;
    }
    if (!checkpoint_tried_) {
      load_checkpoint(out);
      return out;
    }
    // Nothing stands in for the missing entries: go on from what is there.
    out.emplace_back(std::in_place_type<Skip>, Skip{entries.front().seq - 1, Skip::Why::log_starts_later});
  }
  const bool full = entries.size() == read_page_;
  for (auto& entry : entries) {
    if (entry.seq > position_) apply(std::move(entry), out);
  }
  if (full || read_again_) {
    catch_up(out);
    return out;
  }
  // A gap the log cannot fill: only a read issued after the entry beyond
  // the gap arrived can say so.
  if (entries.empty() && !live_.empty() && live_.begin()->first > position_ + 1 &&
      live_.begin()->first <= live_high_at_read_) {
    out.emplace_back(std::in_place_type<Skip>, Skip{live_.begin()->first - 1, Skip::Why::gap_not_in_log});
    auto next = std::move(live_.begin()->second);
    live_.erase(live_.begin());
    apply(std::move(next), out);
  }
  drain_live(out);
  if (!ready_ && !reading_) {
    ready_ = true;
    out.emplace_back(std::in_place_type<Ready>);
  }
  return out;
}

LogFollower::Actions LogFollower::read_failed() {
  // Try again in a while, one retry at a time: reading_ stays set
  // meanwhile, so live entries just wait.
  Actions out;
  if (!reset_) out.emplace_back(std::in_place_type<RetryLater>);
  return out;
}

LogFollower::Actions LogFollower::checkpoint_loaded(std::optional<std::uint64_t> seq) {
  Actions out;
  if (reset_) return out;
  reading_ = false;
  if (seq && *seq > position_) {
    // Not ready yet: no member has seen anything, so the state may start
    // over from the checkpoint.
    position_ = *seq;
    out.emplace_back(std::in_place_type<AdoptCheckpoint>);
  } else {
    checkpoint_tried_ = true;  // none, or it does not help: the next gap is accepted
  }
  catch_up(out);
  return out;
}

LogFollower::Actions LogFollower::checkpoint_failed() {
  Actions out;
  if (!reset_) out.emplace_back(std::in_place_type<RetryLater>);
  return out;
}

LogFollower::Actions LogFollower::retry() {
  Actions out;
  if (reset_) return out;
  if (retrying_ == Retrying::checkpoint) {
    load_checkpoint(out);
  } else {
    reading_ = false;
    catch_up(out);
  }
  return out;
}

}  // namespace hearth
