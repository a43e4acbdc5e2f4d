-- Ends a rewrite: KEYS[1] log stream, KEYS[2] epoch key, KEYS[3]
-- checkpoint hash, KEYS[4] the scratch stream, KEYS[5] a name for the old
-- log on its way out. ARGV[1] channel, ARGV[2] epoch, ARGV[3] the new entry,
-- ARGV[4] the last seq the copy has, ARGV[5] the stored checkpoint's seq
-- ("0": none), ARGV[6] its stand-in ("": keep), ARGV[7] the generation,
-- ARGV[8] the entries copied, ARGV[9] the user id being erased, ARGV[10]
-- the most entries appended since the copy that it takes as they are (if
-- none holds the user id's bytes; all of them if the user id is ""). Every check comes before every write.
-- The swap is two RENAMEs; the old log is freed by UNLINK, off Redis' main
-- thread. Then the entry is appended and published as by append.lua.
--#include last_seq.lua
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return redis.error_reply('HEARTH_EPOCH') end
local known, last = tonumber(ARGV[4]), last_seq(KEYS[1])
if last < known or last - known > tonumber(ARGV[10]) then return redis.error_reply('HEARTH_CONFLICT') end
local tail = {}
if last > known then tail = redis.call('XRANGE', KEYS[1], '(0-' .. ARGV[4], '+') end
for _, item in ipairs(tail) do
  if ARGV[9] ~= '' and string.find(item[2][2], ARGV[9], 1, true) then
    return redis.error_reply('HEARTH_CONFLICT')
  end
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
