-- set_count(): sets (0: drops) and renews this node's count in a shared
-- count's hash, as "COUNT:EXPIRY_MS" (count_claim.lua).
local function set_count(key, node, count, ttl, now)
  if count == 0 then redis.call('HDEL', key, node) return end
  redis.call('HSET', key, node, string.format('%d:%d', count, now + ttl))
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
