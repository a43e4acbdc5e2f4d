// What every node shares through Redis apart from the logs: the rate
// budgets (GCRA, budget*.lua and turn.lua), the counts of connections per
// address over every node (count_*.lua), and the marks a room keeps for a
// while (banned addresses, forgotten identities).
#include <boost/asio/post.hpp>

#include "engine/redis/engine_redis.hpp"
#include "redis_scripts.hpp"  // generated from lua/*.lua

namespace hearth {

namespace asio = boost::asio;

namespace {

// `times`: how many intervals each argument stands for (give_back's count).
std::vector<std::string> budget_args(const char* script, const std::vector<Budget>& budgets,
                                     std::int64_t times = 1) {
  std::vector<std::string> args{"EVAL", script, std::to_string(budgets.size())};
  for (const auto& budget : budgets) args.push_back(budget.key);
  for (const auto& budget : budgets) {
    args.push_back(std::to_string(gcra_interval(budget) * times));
    args.push_back(std::to_string(static_cast<long long>(std::max(1.0, budget.burst))));
  }
  return args;
}

}  // namespace

void RedisEngine::give_back(std::vector<Budget> budgets, std::int64_t count) {
  asio::post(strand_, [this, args = budget_args(lua::budget_give_back, budgets, count)]() mutable {
    commands_->command(std::move(args), [](std::error_code, RedisReply) {});
  });
}

void RedisEngine::take_turn(std::string key, std::chrono::milliseconds every,
                            SharedBudgets::Handler handler) {
  run_budget_script({"EVAL", lua::turn, "1", std::move(key), std::to_string(every.count())},
                    std::move(handler));
}

void RedisEngine::take_up_to(Budget budget, std::int64_t want, GrantHandler handler) {
  std::vector<std::string> args = budget_args(lua::budget_up_to, {budget});
  args.push_back(std::to_string(want));
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(
        std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
          // {granted, wait in ms, refill in ms}
          const auto grant = reply_as<std::tuple<long long, long long, long long>>(reply);
          if (!error && !grant) error = EngineError::unavailable;
          if (error) return handler(error, {});
          const auto [granted, wait, refill] = *grant;
          handler({}, Grant{granted, std::chrono::milliseconds(wait), std::chrono::milliseconds(refill)});
        });
  });
}

void RedisEngine::take(std::vector<Budget> budgets, SharedBudgets::Handler handler) {
  run_budget_script(budget_args(lua::budget, budgets), std::move(handler));
}

void RedisEngine::run_budget_script(std::vector<std::string> args, SharedBudgets::Handler handler) {
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args),
                       [handler = std::move(handler)](std::error_code error, RedisReply reply) {
                         const auto wait = reply_as<long long>(reply);  // ms to wait; 0: taken
                         if (!error && !wait) error = EngineError::unavailable;
                         if (error) return handler(error, std::nullopt);
                         if (*wait > 0) return handler({}, std::chrono::milliseconds(*wait));
                         handler({}, std::nullopt);
                       });
  });
}

void RedisEngine::claim(const std::string& key, std::size_t count, std::size_t max,
                        SharedCounts::Handler handler) {
  std::vector<std::string> args{"EVAL",
                                lua::count_claim,
                                "1",
                                key,
                                node_id_,
                                std::to_string(count),
                                std::to_string(max),
                                std::to_string(presence_ttl_.count())};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args),
                       [handler = std::move(handler)](std::error_code error, RedisReply reply) {
                         const auto claimed = reply_as<long long>(reply);
                         if (!error && !claimed) error = EngineError::unavailable;
                         handler(error, !error && *claimed == 1);
                       });
  });
}

void RedisEngine::report(std::vector<std::pair<std::string, std::size_t>> counts) {
  std::vector<std::string> args{"EVAL", lua::count_report, std::to_string(counts.size())};
  for (auto& [key, count] : counts) args.push_back(std::move(key));
  args.push_back(node_id_);
  args.push_back(std::to_string(presence_ttl_.count()));
  for (const auto& [key, count] : counts) args.push_back(std::to_string(count));
  asio::post(strand_, [this, args = std::move(args)]() mutable {
    commands_->command(std::move(args), [](std::error_code, RedisReply) {});
  });
}

void RedisEngine::run_for_error(std::vector<std::string> args, ErrorHandler handler) {
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args),
                       [handler = std::move(handler)](std::error_code error, RedisReply reply) {
                         if (!error && reply.is_error()) error = EngineError::unavailable;
                         handler(error);
                       });
  });
}

void RedisEngine::mark_address(const std::string& room_id, const std::string& user_id,
                               const std::string& address_key, std::chrono::seconds ttl,
                               ErrorHandler handler) {
  run_for_error(
      {"EVAL", lua::mark_address, "2", redis_keys::banned_address(room_id, address_key),
       redis_keys::banned_addresses_of(room_id, user_id), user_id, std::to_string(ttl.count()), address_key},
      std::move(handler));
}

void RedisEngine::lift_addresses(const std::string& room_id, const std::string& user_id,
                                 ErrorHandler handler) {
  run_for_error({"EVAL", lua::lift_addresses, "1", redis_keys::banned_addresses_of(room_id, user_id),
                 redis_keys::banned_address(room_id, ""), user_id},
                std::move(handler));
}

void RedisEngine::address_marked(const std::string& room_id, const std::string& address_key,
                                 MarkedHandler handler) {
  exists(redis_keys::banned_address(room_id, address_key), std::move(handler));
}

void RedisEngine::forget_identity(const std::string& room_id, const std::string& user_id,
                                  std::chrono::seconds ttl, ErrorHandler handler) {
  run_for_error({"SET", redis_keys::forgotten(room_id, user_id), "1", "EX",
                 std::to_string(std::max<std::int64_t>(1, ttl.count()))},
                std::move(handler));
}

void RedisEngine::identity_forgotten(const std::string& room_id, const std::string& user_id,
                                     MarkedHandler handler) {
  exists(redis_keys::forgotten(room_id, user_id), std::move(handler));
}

void RedisEngine::exists(std::string key, MarkedHandler handler) {
  std::vector<std::string> args{"EXISTS", std::move(key)};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args),
                       [handler = std::move(handler)](std::error_code error, RedisReply reply) {
                         if (error) return handler(error, false);
                         const auto count = reply_as<long long>(reply);
                         if (!count) return handler(EngineError::unavailable, false);
                         handler({}, *count != 0);
                       });
  });
}

}  // namespace hearth
