-- KEYS[1] a turn (SharedBudgets::take_turn): the time it was last taken.
-- ARGV[1] how long since then the caller waits (ms). Takes it (0), or says
-- how long until it may (ms).
--#include now.lua
local every = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if last + every > now then return last + every - now end
redis.call('SET', KEYS[1], string.format('%d', now), 'PX', string.format('%d', math.max(every, 1)))
return 0
