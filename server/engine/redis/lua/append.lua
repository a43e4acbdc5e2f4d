-- KEYS[1] log stream, KEYS[2] epoch key. ARGV[1] channel, ARGV[2] epoch,
-- ARGV[3] the LogEntry bytes, ARGV[4] "1" if the entry creates the room,
-- ARGV[5] the sequence the caller has read up to. Refuses a log whose epoch
-- differs (lost and recreated) or that is shorter than the caller has read
-- (rolled back). Publishes "SEQ EPOCH\n" + the entry; returns "0-SEQ".
--#include last_seq.lua
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
