-- The seq of the stream's last entry (0: empty), for the scripts that include it.
local function last_seq(key)
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if #last == 0 then return 0 end
  return tonumber(string.sub(last[1][1], 3))
end
