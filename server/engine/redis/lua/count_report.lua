-- Sets (0: drops) and renews this node's counts: KEYS the keys, ARGV[1]
-- this node, ARGV[2] how long a count lasts (ms), then one count per key.
--#include set_count.lua
--#include now.lua
for i, key in ipairs(KEYS) do set_count(key, ARGV[1], tonumber(ARGV[i + 2]), tonumber(ARGV[2]), now) end
return 1
