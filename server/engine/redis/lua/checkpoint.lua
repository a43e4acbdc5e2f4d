-- KEYS[1] log stream, KEYS[2] epoch key, KEYS[3] checkpoint hash. ARGV[1]
-- epoch, ARGV[2] the checkpoint's seq, ARGV[3] its bytes, ARGV[4] the first
-- stream id to keep ("0-" base_seq+1). Stores the checkpoint unless the log
-- is another one, a later checkpoint is stored, or the log has grown past
-- it; then trims the stream.
--#include last_seq.lua
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return redis.error_reply('HEARTH_EPOCH') end
local stored = redis.call('HGET', KEYS[3], 'seq')
if stored and tonumber(stored) >= tonumber(ARGV[2]) then return 0 end
if last_seq(KEYS[1]) ~= tonumber(ARGV[2]) then return redis.error_reply('HEARTH_CONFLICT') end
redis.call('HSET', KEYS[3], 'seq', ARGV[2], 'data', ARGV[3])
redis.call('HINCRBY', KEYS[3], 'rewrites', 1)
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[4])
return 1
