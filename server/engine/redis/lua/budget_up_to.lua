-- KEYS[1] one budget, ARGV its interval (ms) and burst, then how many are
-- wanted. Takes as many as fit, up to that: {taken, 0, ms until the budget
-- is full again}, or {0, wait in ms, 0}.
--#include now.lua
local interval, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), math.max(1, tonumber(ARGV[3]))
local from = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local left = math.floor((now + burst * interval - from) / interval)
if left < 1 then return {0, from + interval - now - burst * interval, 0} end
local taken = math.min(left, want)
local tat = from + taken * interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', string.format('%d', tat - now))
return {taken, 0, tat - now}
