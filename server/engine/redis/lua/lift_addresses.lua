-- Lifts a person's marks: deletes every mark their set names (keys in the
-- room's hash slot, named from ARGV[1]: the set holds only the HMACs).
local marks = redis.call('SMEMBERS', KEYS[1])
for _, mark in ipairs(marks) do
  -- Another banned person's since (one address, two people): theirs stays.
  if redis.call('GET', ARGV[1] .. mark) == ARGV[2] then redis.call('DEL', ARGV[1] .. mark) end
end
redis.call('DEL', KEYS[1])
return #marks
