-- Gives back to each key: KEYS and ARGV as budget.lua's, each interval
-- times the count given back.
--#include now.lua
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or '0') - tonumber(ARGV[2 * i - 1])
  if tat <= now then redis.call('DEL', key)
  else redis.call('SET', key, string.format('%d', tat), 'PX', string.format('%d', tat - now)) end
end
return 0
