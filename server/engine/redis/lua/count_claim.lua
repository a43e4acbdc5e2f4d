-- Counts every node shares (budgets.hpp, SharedCounts): a hash per key,
-- whose fields are node ids and values "COUNT:EXPIRY_MS". KEYS[1] the key,
-- ARGV[1] this node, ARGV[2] its count, ARGV[3] the most all nodes may
-- hold, ARGV[4] how long a count lasts (ms). Sets this node's count unless
-- the other nodes' live counts and it are more than the most: 1 set, 0 not.
-- A dead node's field is dropped once past its expiry.
--#include set_count.lua
--#include now.lua
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
