#include "engine_redis.hpp"

#include <openssl/sha.h>

#include <boost/asio/post.hpp>
#include <charconv>

#include "identity.hpp"
#include "log.hpp"

namespace hearth {

namespace asio = boost::asio;

namespace {

// The seq of the stream's last entry (0: empty), for the scripts below.
#define HEARTH_LUA_LAST_SEQ \
  "local function last_seq(key)\n" \
  "  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)\n" \
  "  if #last == 0 then return 0 end\n" \
  "  return tonumber(string.sub(last[1][1], 3))\n" \
  "end\n"

// KEYS[1] log stream, KEYS[2] epoch key. ARGV[1] channel, ARGV[2] epoch,
// ARGV[3] the LogEntry bytes, ARGV[4] "1" if the entry creates the room,
// ARGV[5] the sequence the caller has read up to. Refuses a log whose epoch
// differs (lost and recreated) or that is shorter than the caller has read
// (rolled back). Publishes "SEQ EPOCH\n" + the entry; returns "0-SEQ".
constexpr const char* kAppendScript = HEARTH_LUA_LAST_SEQ R"lua(
local current = redis.call('GET', KEYS[2])
if ARGV[4] == '1' then
  if current then return redis.error_reply('HEARTH_EXISTS') end
  redis.call('SET', KEYS[2], ARGV[2])
else
  if current ~= ARGV[2] then return redis.error_reply('HEARTH_EPOCH') end
  if last_seq(KEYS[1]) < tonumber(ARGV[5]) then return redis.error_reply('HEARTH_EPOCH') end
end
local id = redis.call('XADD', KEYS[1], '0-*', 'e', ARGV[3])
redis.call('PUBLISH', ARGV[1], string.sub(id, 3) .. ' ' .. ARGV[2] .. '\n' .. ARGV[3])
return id
)lua";

// `now`: Redis' clock, in milliseconds, for the budgets' scripts.
#define HEARTH_LUA_NOW \
  "local time = redis.call('TIME')\n" \
  "local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)\n"

// Shared budgets (budgets.hpp): gcra_step() for each key, at Redis' clock.
// KEYS: one per budget. ARGV: its interval (ms) and burst, in pairs. Takes
// from every key or none; returns the wait in ms (0: taken).
constexpr const char* kBudgetScript = HEARTH_LUA_NOW R"lua(
local wait, tats = 0, {}
for i, key in ipairs(KEYS) do
  local interval, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = math.max(tonumber(redis.call('GET', key) or '0'), now) + interval
  wait = math.max(wait, tat - now - burst * interval)
  tats[i] = tat
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%d', tats[i]), 'PX', string.format('%d', tats[i] - now))
end
return 0
)lua";

// KEYS[1] one budget, ARGV its interval (ms) and burst, then how many are
// wanted. Takes as many as fit, up to that: {taken, 0, ms until the budget
// is full again}, or {0, wait in ms, 0}.
constexpr const char* kBudgetUpToScript = HEARTH_LUA_NOW R"lua(
local interval, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), math.max(1, tonumber(ARGV[3]))
local from = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local left = math.floor((now + burst * interval - from) / interval)
if left < 1 then return {0, from + interval - now - burst * interval, 0} end
local taken = math.min(left, want)
local tat = from + taken * interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', string.format('%d', tat - now))
return {taken, 0, tat - now}
)lua";

// KEYS[1] a turn (SharedBudgets::take_turn): the time it was last taken.
// ARGV[1] how long since then the caller waits (ms). Takes it (0), or says
// how long until it may (ms).
constexpr const char* kTurnScript = HEARTH_LUA_NOW R"lua(
local every = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if last + every > now then return last + every - now end
redis.call('SET', KEYS[1], string.format('%d', now), 'PX', string.format('%d', math.max(every, 1)))
return 0
)lua";

// Gives back to each key: KEYS and ARGV as kBudgetScript's, each interval
// times the count given back.
constexpr const char* kBudgetGiveBackScript = HEARTH_LUA_NOW R"lua(
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or '0') - tonumber(ARGV[2 * i - 1])
  if tat <= now then redis.call('DEL', key)
  else redis.call('SET', key, string.format('%d', tat), 'PX', string.format('%d', tat - now)) end
end
return 0
)lua";

// Counts every node shares (budgets.hpp, SharedCounts): a hash per key,
// whose fields are node ids and values "COUNT:EXPIRY_MS". KEYS[1] the key,
// ARGV[1] this node, ARGV[2] its count, ARGV[3] the most all nodes may
// hold, ARGV[4] how long a count lasts (ms). Sets this node's count unless
// the other nodes' live counts and it are more than the most: 1 set, 0 not.
// A dead node's field is dropped once past its expiry.
#define HEARTH_LUA_SET_COUNT \
  "local function set_count(key, node, count, ttl, now)\n" \
  "  if count == 0 then redis.call('HDEL', key, node) return end\n" \
  "  redis.call('HSET', key, node, string.format('%d:%d', count, now + ttl))\n" \
  "  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end\n" \
  "end\n" HEARTH_LUA_NOW
constexpr const char* kCountClaimScript = HEARTH_LUA_SET_COUNT R"lua(
local others = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if fields[i] ~= ARGV[1] then
    local count, expiry = string.match(fields[i + 1], '^(%d+):(%d+)$')
    if expiry and tonumber(expiry) > now then others = others + tonumber(count)
    else redis.call('HDEL', KEYS[1], fields[i]) end
  end
end
if others + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return 0 end
set_count(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4]), now)
return 1
)lua";

// Sets (0: drops) and renews this node's counts: KEYS the keys, ARGV[1]
// this node, ARGV[2] how long a count lasts (ms), then one count per key.
constexpr const char* kCountReportScript = HEARTH_LUA_SET_COUNT R"lua(
for i, key in ipairs(KEYS) do set_count(key, ARGV[1], tonumber(ARGV[i + 2]), tonumber(ARGV[2]), now) end
return 1
)lua";
#undef HEARTH_LUA_SET_COUNT

// KEYS: the room's keys. ARGV[1] channel. Deletes them and tells every node
// (sequence 0 on the channel means "deleted").
constexpr const char* kDeleteScript = R"lua(
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('PUBLISH', ARGV[1], '0\n')
return 1
)lua";

// KEYS[1] log stream, KEYS[2] epoch key, KEYS[3] checkpoint hash. ARGV[1]
// epoch, ARGV[2] the checkpoint's seq, ARGV[3] its bytes, ARGV[4] the first
// stream id to keep ("0-" base_seq+1). Stores the checkpoint unless the log
// is another one, a later checkpoint is stored, or the log has grown past
// it; then trims the stream.
constexpr const char* kCheckpointScript = HEARTH_LUA_LAST_SEQ R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('HEARTH_EPOCH') end
local stored = redis.call('HGET', KEYS[3], 'seq')
if stored and tonumber(stored) >= tonumber(ARGV[2]) then return 0 end
if last_seq(KEYS[1]) ~= tonumber(ARGV[2]) then return redis.error_reply('HEARTH_CONFLICT') end
redis.call('HSET', KEYS[3], 'seq', ARGV[2], 'data', ARGV[3])
redis.call('HINCRBY', KEYS[3], 'rewrites', 1)
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[4])
return 1
)lua";

// "Erase my data", page by page (Engine::rewrite_page). Streams cannot
// change an entry in place, so each page of the log is copied, with its
// stand-ins, to a scratch stream, which finish_rewrite renames over the log.
// KEYS[1] log stream, KEYS[2] checkpoint hash, KEYS[3] the scratch stream.
// ARGV[1] the generation the first page saw ("": this is the first),
// ARGV[2] and ARGV[3] the seqs after and up to which to copy, ARGV[4] how
// long the scratch stream lives without another page (ms), then pairs of seq
// and stand-in entry. Answers the log's generation (the checkpoint hash's
// field "rewrites": every rewrite and every stored checkpoint adds one).
// How long a scratch copy outlives its last page: a rewrite whose node died
// leaves nothing behind for long.
constexpr auto kRewriteScratchLife = std::chrono::seconds(60);

constexpr const char* kRewritePageScript = R"lua(
local generation = redis.call('HGET', KEYS[2], 'rewrites') or '0'
if ARGV[1] ~= '' and ARGV[1] ~= generation then return redis.error_reply('HEARTH_CONFLICT') end
if tonumber(ARGV[3]) > tonumber(ARGV[2]) then
  local stand_ins = {}
  for i = 5, #ARGV, 2 do stand_ins['0-' .. ARGV[i]] = ARGV[i + 1] end
  local page = redis.call('XRANGE', KEYS[1], '(0-' .. ARGV[2], '0-' .. ARGV[3])
  for _, item in ipairs(page) do
    redis.call('XADD', KEYS[3], item[1], 'e', stand_ins[item[1]] or item[2][2])
  end
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
return tonumber(generation)
)lua";

// Ends a rewrite: KEYS[1] log stream, KEYS[2] epoch key, KEYS[3]
// checkpoint hash, KEYS[4] the scratch stream, KEYS[5] a name for the old
// log on its way out. ARGV[1] channel, ARGV[2] epoch, ARGV[3] the new entry,
// ARGV[4] the last seq the copy has, ARGV[5] the stored checkpoint's seq
// ("0": none), ARGV[6] its stand-in ("": keep), ARGV[7] the generation,
// ARGV[8] the entries copied, ARGV[9] the user id being erased, ARGV[10]
// the most entries appended since the copy that it takes as they are (if
// none holds the user id's bytes). Every check comes before every write.
// The swap is two RENAMEs; the old log is freed by UNLINK, off Redis' main
// thread. Then the entry is appended and published as by kAppendScript.
constexpr const char* kRewriteFinishScript = HEARTH_LUA_LAST_SEQ R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return redis.error_reply('HEARTH_EPOCH') end
local known, last = tonumber(ARGV[4]), last_seq(KEYS[1])
if last < known or last - known > tonumber(ARGV[10]) then return redis.error_reply('HEARTH_CONFLICT') end
local tail = {}
if last > known then tail = redis.call('XRANGE', KEYS[1], '(0-' .. ARGV[4], '+') end
for _, item in ipairs(tail) do
  if string.find(item[2][2], ARGV[9], 1, true) then return redis.error_reply('HEARTH_CONFLICT') end
end
if (redis.call('HGET', KEYS[3], 'rewrites') or '0') ~= ARGV[7] then return redis.error_reply('HEARTH_CONFLICT') end
if (redis.call('HGET', KEYS[3], 'seq') or '0') ~= ARGV[5] then return redis.error_reply('HEARTH_CONFLICT') end
local copied = tonumber(ARGV[8])
if redis.call('XLEN', KEYS[1]) ~= copied + #tail or redis.call('XLEN', KEYS[4]) ~= copied then
  return redis.error_reply('HEARTH_CONFLICT')
end
for _, item in ipairs(tail) do redis.call('XADD', KEYS[4], item[1], 'e', item[2][2]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[3], 'data', ARGV[6]) end
if copied + #tail > 0 then
  redis.call('RENAME', KEYS[1], KEYS[5])
  redis.call('RENAME', KEYS[4], KEYS[1])
  redis.call('PERSIST', KEYS[1])
  redis.call('UNLINK', KEYS[5])
end
redis.call('HINCRBY', KEYS[3], 'rewrites', 1)
local id = redis.call('XADD', KEYS[1], '0-*', 'e', ARGV[3])
redis.call('PUBLISH', ARGV[1], string.sub(id, 3) .. ' ' .. ARGV[2] .. '\n' .. ARGV[3])
return id
)lua";

#undef HEARTH_LUA_LAST_SEQ

// A script's refusal as an engine error. A script that fails leaves nothing
// written: every write comes after every check.
std::error_code script_error(const std::string& reply) {
  if (reply.find("HEARTH_EXISTS") != std::string::npos) return EngineError::room_exists;
  if (reply.find("HEARTH_EPOCH") != std::string::npos) return EngineError::epoch_mismatch;
  if (reply.find("HEARTH_CONFLICT") != std::string::npos) return EngineError::conflict;
  log::error("redis script failed: ", reply);
  return EngineError::unavailable;
}

std::string sha1_hex(std::string_view text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return to_hex(digest);
}

// "0-42" or "42" -> 42.
std::optional<std::uint64_t> parse_seq(std::string_view text) {
  if (text.starts_with("0-")) text.remove_prefix(2);
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// What an appending script answered: "0-SEQ", or why it refused.
void finish_append(const RedisReply& reply, const Engine::AppendHandler& handler) {
  if (reply.is_error()) return handler(script_error(reply.str), 0);
  const auto seq = parse_seq(reply.str);
  if (!seq) return handler(EngineError::corrupt, 0);
  handler({}, *seq);
}

constexpr std::string_view kPrefix = "hearth:{room:";
constexpr std::string_view kChannelSuffix = "}:events";
constexpr std::string_view kEpochSuffix = "}:epoch";

}  // namespace

// The room whose events `name` carries; empty for any other channel.
namespace {

// The room id in "hearth:{room:ID}" + `suffix`; empty for any other name.
std::string room_of(std::string_view name, std::string_view suffix) {
  if (!name.starts_with(kPrefix) || !name.ends_with(suffix)) return {};
  return std::string(name.substr(kPrefix.size(), name.size() - kPrefix.size() - suffix.size()));
}

}  // namespace

std::string room_of_channel(std::string_view name) { return room_of(name, kChannelSuffix); }

std::string RedisEngine::log_key(const std::string& room_id) { return std::string(kPrefix) + room_id + "}:log"; }
std::string RedisEngine::epoch_key(const std::string& room_id) {
  return std::string(kPrefix) + room_id + std::string(kEpochSuffix);
}
std::string RedisEngine::rewrite_key(const std::string& room_id, const std::string& rewrite_id) {
  return std::string(kPrefix) + room_id + "}:rewrite:" + rewrite_id;
}

std::string RedisEngine::checkpoint_key(const std::string& room_id) {
  return std::string(kPrefix) + room_id + "}:checkpoint";
}
std::string RedisEngine::banned_address_key(const std::string& room_id, const std::string& address_key) {
  return std::string(kPrefix) + room_id + "}:banned-address:" + address_key;
}
std::string RedisEngine::banned_addresses_key(const std::string& room_id, const std::string& user_id) {
  return std::string(kPrefix) + room_id + "}:banned-addresses-of:" + user_id;
}
std::string RedisEngine::forgotten_key(const std::string& room_id, const std::string& user_id) {
  return std::string(kPrefix) + room_id + "}:forgotten:" + user_id;
}
std::string RedisEngine::channel(const std::string& room_id) {
  return std::string(kPrefix) + room_id + std::string(kChannelSuffix);
}

RedisEngine::RedisEngine(asio::any_io_executor executor, RedisAddress address, std::chrono::milliseconds presence_ttl)
    : strand_(asio::make_strand(executor)),
      commands_(std::make_shared<RedisConnection>(strand_, address, "commands")),
      subscriptions_(std::make_shared<RedisConnection>(strand_, address, "subscriptions")),
      script_sha_(sha1_hex(kAppendScript)),
      node_id_(random_hex(8)),
      presence_ttl_(presence_ttl),
      heartbeat_timer_(strand_) {}

std::string RedisEngine::node_key(const std::string& node_id) { return "hearth:node:" + node_id; }

void RedisEngine::heartbeat() {
  // The value changes with every beat, so that another node can tell a
  // heartbeat refreshed while it watched from one left over from before.
  commands_->command({"SET", node_key(node_id_), std::to_string(++beats_), "PX", std::to_string(presence_ttl_.count())},
                     [](std::error_code, RedisReply) {});
  // The echo proves the subscription connection alive: silent for three
  // rounds, it is dead though TCP has not said so; drop it (it reconnects,
  // resubscribes, and every room resyncs).
  if (subscriptions_up_ && commands_up_) {
    if (std::chrono::steady_clock::now() - last_echo_ > 3 * (presence_ttl_ / 3) + std::chrono::seconds(1)) {
      log::warn("redis subscriptions: own heartbeat echo not heard; reconnecting");
      last_echo_ = std::chrono::steady_clock::now();
      subscriptions_->drop();
    }
    commands_->command({"PUBLISH", echo_channel(), "1"}, [](std::error_code, RedisReply) {});
  }
  heartbeat_timer_.expires_after(presence_ttl_ / 3);
  heartbeat_timer_.async_wait([this](boost::system::error_code error) {
    if (!error) heartbeat();
  });
}

void RedisEngine::dead_nodes(std::vector<std::string> node_ids, DeadNodesHandler handler) {
  asio::post(strand_, [this, node_ids = std::move(node_ids), handler = std::move(handler)]() mutable {
    if (!commands_up_) return handler(EngineError::unavailable, {});
    std::vector<std::string> args{"MGET"};
    for (const auto& id : node_ids) args.push_back(node_key(id));
    commands_->command(std::move(args), [this, node_ids, handler = std::move(handler)](std::error_code error,
                                                                                      RedisReply reply) {
      if (error) return handler(error, {});
      if (reply.type != RedisReply::Type::array || reply.elements.size() != node_ids.size()) {
        return handler(EngineError::unavailable, {});
      }
      // A missing heartbeat proves a death only if it stopped while this
      // node watched: seen refreshed (its value changed) since this node's
      // connection came up, or missing for longer than any live node takes
      // to come back. After an outage of Redis (or of this node's link to
      // it) every heartbeat may have expired, or be about to, and the node
      // back first must not write off the members of nodes still on their
      // way back.
      // (On its first connection a node has no outage behind it.)
      const bool waited_long_enough =
          !reconnected_ || std::chrono::steady_clock::now() - commands_up_since_ >= liveness_grace();
      std::vector<std::string> dead;
      for (std::size_t i = 0; i < node_ids.size(); ++i) {
        auto& watched = watched_[node_ids[i]];
        if (reply.elements[i].type != RedisReply::Type::nil) {
          if (!watched.first_beat) watched.first_beat = reply.elements[i].str;
          else if (*watched.first_beat != reply.elements[i].str) watched.refreshed = true;
        } else if (waited_long_enough || watched.refreshed) {
          dead.push_back(node_ids[i]);
          watched_.erase(node_ids[i]);
        }
      }
      handler({}, std::move(dead));
    });
  });
}

RedisEngine::~RedisEngine() = default;

void RedisEngine::check_first_ready() {
  if (ready() && on_first_ready_) std::exchange(on_first_ready_, nullptr)();
}

void RedisEngine::start(std::function<void()> on_first_ready) {
  on_first_ready_ = std::move(on_first_ready);
  asio::post(strand_, [this] {
    commands_->start([this](bool up) {
      commands_up_ = up;
      // The heartbeat first, so that this node is alive before any join of
      // its names it; then on, at a third of the expiry.
      if (up) {
        reconnected_ = commands_up_since_ != std::chrono::steady_clock::time_point{};
        commands_up_since_ = std::chrono::steady_clock::now();
        watched_.clear();
        heartbeat_timer_.cancel();
        heartbeat();
      }
      check_first_ready();
      // Load the script ahead of the first append; a Redis restarted without
      // it answers NOSCRIPT, and run_append falls back to EVAL.
      if (up) commands_->command({"SCRIPT", "LOAD", kAppendScript}, [](std::error_code, RedisReply) {});
    });
    subscriptions_->set_message_handler(
        [this](const std::string& name, const std::string& payload) { on_message(name, payload); });
    subscriptions_->set_subscribed_handler([this](const std::string& name) { on_subscribed(name); });
    subscriptions_->start([this](bool up) {
      subscriptions_up_ = up;
      check_first_ready();
      if (!up) return;
      last_echo_ = std::chrono::steady_clock::now();
      subscriptions_->subscribe(echo_channel());
      for (const auto& [room_id, subscribers] : subscribers_) subscriptions_->subscribe(channel(room_id));
    });
  });
}

void RedisEngine::say_goodbye(std::function<void()> done) {
  asio::post(strand_, [this, done = std::move(done)]() mutable {
    heartbeat_timer_.cancel();
    commands_->command({"DEL", node_key(node_id_)}, [done = std::move(done)](std::error_code, RedisReply) { done(); });
  });
}

void RedisEngine::stop() {
  asio::post(strand_, [this] {
    commands_->stop();
    subscriptions_->stop();
  });
}

// ---------------------------------------------------------------------------
// Appending and reading
// ---------------------------------------------------------------------------

void RedisEngine::append(const std::string& room_id, const std::string& epoch, std::uint64_t known_seq,
                         v1::LogEntry entry, AppendHandler handler) {
  std::vector<std::string> args{"EVALSHA", script_sha_, "2", log_key(room_id), epoch_key(room_id), channel(room_id),
                                epoch, entry.SerializeAsString(), entry.has_room_created() ? "1" : "0",
                                std::to_string(known_seq)};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    run_append(std::move(args), std::move(handler), true);
  });
}

void RedisEngine::run_append(std::vector<std::string> args, AppendHandler handler, bool by_sha) {
  auto retry_args = args;
  commands_->command(std::move(args), [this, handler = std::move(handler), retry_args = std::move(retry_args),
                                       by_sha](std::error_code error, RedisReply reply) mutable {
    if (error) return handler(error, 0);
    if (by_sha && reply.is_error() && reply.str.starts_with("NOSCRIPT")) {
      retry_args[0] = "EVAL";
      retry_args[1] = kAppendScript;
      return run_append(std::move(retry_args), std::move(handler), false);
    }
    finish_append(reply, handler);
  });
}

namespace {

// `times`: how many intervals each argument stands for (give_back's count).
std::vector<std::string> budget_args(const char* script, const std::vector<Budget>& budgets, std::int64_t times = 1) {
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
  asio::post(strand_, [this, args = budget_args(kBudgetGiveBackScript, budgets, count)]() mutable {
    commands_->command(std::move(args), [](std::error_code, RedisReply) {});
  });
}

void RedisEngine::take_turn(std::string key, std::chrono::milliseconds every,
                            SharedBudgets::Handler handler) {
  run_budget_script({"EVAL", kTurnScript, "1", std::move(key), std::to_string(every.count())},
                    std::move(handler));
}

void RedisEngine::take_up_to(Budget budget, std::int64_t want, GrantHandler handler) {
  std::vector<std::string> args = budget_args(kBudgetUpToScript, {budget});
  args.push_back(std::to_string(want));
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (!error && (reply.type != RedisReply::Type::array || reply.elements.size() != 3)) {
        error = EngineError::unavailable;
      }
      if (error) return handler(error, {});
      handler({}, Grant{reply.elements[0].integer, std::chrono::milliseconds(reply.elements[1].integer),
                        std::chrono::milliseconds(reply.elements[2].integer)});
    });
  });
}

void RedisEngine::take(std::vector<Budget> budgets, SharedBudgets::Handler handler) {
  run_budget_script(budget_args(kBudgetScript, budgets), std::move(handler));
}

void RedisEngine::run_budget_script(std::vector<std::string> args, SharedBudgets::Handler handler) {
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (!error && reply.type != RedisReply::Type::integer) error = EngineError::unavailable;
      if (error) return handler(error, std::nullopt);
      if (reply.integer > 0) return handler({}, std::chrono::milliseconds(reply.integer));
      handler({}, std::nullopt);
    });
  });
}

void RedisEngine::claim(const std::string& key, std::size_t count, std::size_t max, SharedCounts::Handler handler) {
  std::vector<std::string> args{"EVAL",         kCountClaimScript,     "1", key, node_id_, std::to_string(count),
                                std::to_string(max), std::to_string(presence_ttl_.count())};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (!error && reply.type != RedisReply::Type::integer) error = EngineError::unavailable;
      handler(error, !error && reply.integer == 1);
    });
  });
}

void RedisEngine::report(std::vector<std::pair<std::string, std::size_t>> counts) {
  std::vector<std::string> args{"EVAL", kCountReportScript, std::to_string(counts.size())};
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
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (!error && reply.is_error()) error = EngineError::unavailable;
      handler(error);
    });
  });
}

void RedisEngine::delete_room(const std::string& room_id, std::function<void(std::error_code)> handler) {
  run_for_error({"EVAL", kDeleteScript, "3", log_key(room_id), epoch_key(room_id), checkpoint_key(room_id),
                 channel(room_id)},
                std::move(handler));
}

// A mark and its place in the person's set, with the same expiry, in one
// step; lifting deletes every mark the set names (keys in the room's hash
// slot, named from ARGV[1]: the set holds only the HMACs).
constexpr const char* kMarkAddressScript = R"lua(
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
)lua";
constexpr const char* kLiftAddressesScript = R"lua(
local marks = redis.call('SMEMBERS', KEYS[1])
for _, mark in ipairs(marks) do
  -- Another banned person's since (one address, two people): theirs stays.
  if redis.call('GET', ARGV[1] .. mark) == ARGV[2] then redis.call('DEL', ARGV[1] .. mark) end
end
redis.call('DEL', KEYS[1])
return #marks
)lua";

void RedisEngine::mark_address(const std::string& room_id, const std::string& user_id,
                               const std::string& address_key, std::chrono::seconds ttl,
                               ErrorHandler handler) {
  run_for_error({"EVAL", kMarkAddressScript, "2", banned_address_key(room_id, address_key),
                 banned_addresses_key(room_id, user_id), user_id, std::to_string(ttl.count()), address_key},
                std::move(handler));
}

void RedisEngine::lift_addresses(const std::string& room_id, const std::string& user_id,
                                 ErrorHandler handler) {
  run_for_error({"EVAL", kLiftAddressesScript, "1", banned_addresses_key(room_id, user_id),
                 banned_address_key(room_id, ""), user_id},
                std::move(handler));
}

void RedisEngine::address_marked(const std::string& room_id, const std::string& address_key,
                                 MarkedHandler handler) {
  exists(banned_address_key(room_id, address_key), std::move(handler));
}

void RedisEngine::forget_identity(const std::string& room_id, const std::string& user_id,
                                  std::chrono::seconds ttl, ErrorHandler handler) {
  run_for_error({"SET", forgotten_key(room_id, user_id), "1", "EX",
                 std::to_string(std::max<std::int64_t>(1, ttl.count()))},
                std::move(handler));
}

void RedisEngine::identity_forgotten(const std::string& room_id, const std::string& user_id,
                                     MarkedHandler handler) {
  exists(forgotten_key(room_id, user_id), std::move(handler));
}

void RedisEngine::exists(std::string key, MarkedHandler handler) {
  std::vector<std::string> args{"EXISTS", std::move(key)};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args),
                       [handler = std::move(handler)](std::error_code error, RedisReply reply) {
                         if (error) return handler(error, false);
                         if (reply.type != RedisReply::Type::integer)
                           return handler(EngineError::unavailable, false);
                         handler({}, reply.integer != 0);
                       });
  });
}

void RedisEngine::read(const std::string& room_id, std::uint64_t after_seq, std::size_t limit, ReadHandler handler) {
  std::vector<std::string> args{"XRANGE", log_key(room_id), "(0-" + std::to_string(after_seq), "+", "COUNT",
                                std::to_string(limit)};
  if (after_seq == 0) args[2] = "-";
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (error) return handler(error, {});
      if (reply.is_error() || reply.type != RedisReply::Type::array) return handler(EngineError::unavailable, {});
      std::vector<SequencedEntry> entries;
      entries.reserve(reply.elements.size());
      for (const auto& item : reply.elements) {
        // [id, [field, value, ...]]
        if (item.elements.size() != 2 || item.elements[1].elements.size() < 2) return handler(EngineError::corrupt, {});
        const auto seq = parse_seq(item.elements[0].str);
        auto entry = std::make_shared<v1::LogEntry>();
        if (!seq || !entry->ParseFromString(item.elements[1].elements[1].str)) {
          return handler(EngineError::corrupt, {});
        }
        entries.push_back(SequencedEntry{*seq, std::move(entry), {}});
      }
      handler({}, std::move(entries));
    });
  });
}

// ---------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------

void RedisEngine::load_checkpoint(const std::string& room_id, CheckpointHandler handler) {
  std::vector<std::string> args{"HGET", checkpoint_key(room_id), "data"};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (error) return handler(error, std::nullopt);
      if (reply.type == RedisReply::Type::nil) return handler({}, std::nullopt);
      v1::RoomCheckpoint checkpoint;
      if (reply.type != RedisReply::Type::string || !checkpoint.ParseFromString(reply.str)) {
        return handler(EngineError::corrupt, std::nullopt);
      }
      handler({}, std::move(checkpoint));
    });
  });
}

void RedisEngine::store_checkpoint(const std::string& room_id, const std::string& epoch,
                                   v1::RoomCheckpoint checkpoint, std::function<void(std::error_code)> handler) {
  // Rare (a sweep at most), so plain EVAL: no script cache to keep.
  std::vector<std::string> args{"EVAL",
                                kCheckpointScript,
                                "3",
                                log_key(room_id),
                                epoch_key(room_id),
                                checkpoint_key(room_id),
                                epoch,
                                std::to_string(checkpoint.seq()),
                                checkpoint.SerializeAsString(),
                                "0-" + std::to_string(checkpoint.base_seq() + 1)};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (!error && reply.is_error()) error = script_error(reply.str);
      handler(error);
    });
  });
}

void RedisEngine::rewrite_page(const std::string& room_id, const Rewrite& rewrite, std::uint64_t after_seq,
                               std::uint64_t up_to_seq, std::vector<SequencedEntry> stand_ins,
                               RewritePageHandler handler) {
  std::vector<std::string> args{"EVAL",
                                kRewritePageScript,
                                "3",
                                log_key(room_id),
                                checkpoint_key(room_id),
                                rewrite_key(room_id, rewrite.id),
                                rewrite.generation ? std::to_string(*rewrite.generation) : std::string(),
                                std::to_string(after_seq),
                                std::to_string(up_to_seq),
                                std::to_string(std::chrono::milliseconds(kRewriteScratchLife).count())};
  for (const auto& stand_in : stand_ins) {
    args.push_back(std::to_string(stand_in.seq));
    args.push_back(stand_in.entry->SerializeAsString());
  }
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args),
                       [handler = std::move(handler)](std::error_code error, RedisReply reply) {
                         if (!error && reply.is_error()) error = script_error(reply.str);
                         if (!error && reply.type != RedisReply::Type::integer) error = EngineError::corrupt;
                         handler(error, error ? 0 : static_cast<std::uint64_t>(reply.integer));
                       });
  });
}

void RedisEngine::finish_rewrite(const std::string& room_id, const std::string& epoch, const Rewrite& rewrite,
                                 std::uint64_t last_seq, std::uint64_t checkpoint_seq,
                                 std::optional<v1::RoomCheckpoint> checkpoint, v1::LogEntry entry,
                                 AppendHandler handler) {
  std::vector<std::string> args{"EVAL",
                                kRewriteFinishScript,
                                "5",
                                log_key(room_id),
                                epoch_key(room_id),
                                checkpoint_key(room_id),
                                rewrite_key(room_id, rewrite.id),
                                std::string(kPrefix) + room_id + "}:rewrite-old",
                                channel(room_id),
                                epoch,
                                entry.SerializeAsString(),
                                std::to_string(last_seq),
                                std::to_string(checkpoint_seq),
                                checkpoint ? checkpoint->SerializeAsString() : std::string(),
                                std::to_string(rewrite.generation.value_or(0)),
                                std::to_string(rewrite.copied),
                                rewrite.user_id,
                                std::to_string(kRewriteTail)};
  asio::post(strand_, [this, args = std::move(args), handler = std::move(handler)]() mutable {
    commands_->command(std::move(args), [handler = std::move(handler)](std::error_code error, RedisReply reply) {
      if (error) return handler(error, 0);
      finish_append(reply, handler);
    });
  });
}

void RedisEngine::list_rooms(RoomsHandler handler) {
  asio::post(strand_, [this, handler = std::move(handler)]() mutable {
    scan_rooms("0", {}, std::move(handler));
  });
}

void RedisEngine::scan_rooms(std::string cursor, std::vector<std::string> found, RoomsHandler handler) {
  // Every created room has an epoch key; SCAN walks them a page at a time
  // without blocking Redis.
  commands_->command({"SCAN", std::move(cursor), "MATCH", std::string(kPrefix) + "*" + std::string(kEpochSuffix),
                      "COUNT", "1000"},
                     [this, found = std::move(found), handler = std::move(handler)](std::error_code error,
                                                                                    RedisReply reply) mutable {
                       if (error) return handler(error, {});
                       if (reply.type != RedisReply::Type::array || reply.elements.size() != 2) {
                         return handler(EngineError::unavailable, {});
                       }
                       for (const auto& key : reply.elements[1].elements) {
                         if (auto room_id = room_of(key.str, kEpochSuffix); !room_id.empty()) {
                           found.push_back(std::move(room_id));
                         }
                       }
                       if (reply.elements[0].str == "0") return handler({}, std::move(found));
                       scan_rooms(reply.elements[0].str, std::move(found), std::move(handler));
                     });
}

// ---------------------------------------------------------------------------
// Fan-out
// ---------------------------------------------------------------------------

void RedisEngine::subscribe(const std::string& room_id, std::weak_ptr<EngineSubscriber> subscriber) {
  asio::post(strand_, [this, room_id, subscriber = std::move(subscriber)]() mutable {
    auto& list = subscribers_[room_id];
    const auto* raw = subscriber.lock().get();
    for (const auto& weak : list) {
      if (weak.lock().get() == raw) return;
    }
    list.push_back(std::move(subscriber));
    if (list.size() == 1) subscriptions_->subscribe(channel(room_id));
  });
}

void RedisEngine::unsubscribe(const std::string& room_id, const EngineSubscriber* subscriber) {
  asio::post(strand_, [this, room_id, subscriber] {
    const auto it = subscribers_.find(room_id);
    if (it == subscribers_.end()) return;
    std::erase_if(it->second, [subscriber](const auto& weak) {
      const auto locked = weak.lock();
      return !locked || locked.get() == subscriber;
    });
    if (it->second.empty()) {
      subscribers_.erase(it);
      subscriptions_->unsubscribe(channel(room_id));
    }
  });
}

void RedisEngine::on_subscribed(const std::string& name) {
  // Anything published before the subscription took effect is only in the
  // log: every subscriber reads from where it is.
  const std::string room_id = room_of_channel(name);
  const auto it = subscribers_.find(room_id);
  if (it == subscribers_.end()) return;
  for (const auto& weak : it->second) {
    if (auto subscriber = weak.lock()) subscriber->on_resync(room_id);
  }
}

void RedisEngine::on_message(const std::string& name, const std::string& payload) {
  if (name == echo_channel()) {
    last_echo_ = std::chrono::steady_clock::now();
    return;
  }
  const std::string room_id = room_of_channel(name);
  const auto it = subscribers_.find(room_id);
  if (it == subscribers_.end()) return;
  // "SEQ EPOCH\n" + entry, or "0\n" for a deleted room.
  const auto newline = payload.find('\n');
  const auto undecodable = [] {
    log::error("redis: undecodable message on a room channel; skipping it (the log fills the gap)");
  };
  if (newline == std::string::npos) return undecodable();
  const std::string_view head = std::string_view(payload).substr(0, newline);
  const auto space = head.find(' ');
  const auto parsed = parse_seq(head.substr(0, space));
  if (!parsed) return undecodable();
  const std::uint64_t seq = parsed.value_or(0);
  if (seq == 0) {
    for (const auto& weak : it->second) {
      if (auto subscriber = weak.lock()) subscriber->on_deleted(room_id);
    }
    return;
  }
  const std::string epoch(space == std::string_view::npos ? std::string_view() : head.substr(space + 1));
  auto entry = std::make_shared<v1::LogEntry>();
  if (!entry->ParseFromArray(payload.data() + newline + 1, static_cast<int>(payload.size() - newline - 1))) {
    return undecodable();
  }
  // Decoded once per node, shared by every subscriber.
  const SequencedEntry sequenced{seq, std::move(entry), epoch};
  for (const auto& weak : it->second) {
    if (auto subscriber = weak.lock()) subscriber->on_entry(room_id, sequenced);
  }
}

}  // namespace hearth
