-- Shared budgets (budgets.hpp): gcra_step() for each key, at Redis' clock.
-- KEYS: one per budget. ARGV: its interval (ms) and burst, in pairs. Takes
-- from every key or none; returns the wait in ms (0: taken).
--#include now.lua
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
