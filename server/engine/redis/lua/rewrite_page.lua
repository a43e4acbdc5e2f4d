-- A rewrite of the log ("erase my data", retention), page by page
-- (Engine::rewrite_page). Streams cannot change an entry in place, so each
-- page of the log is copied, with its stand-ins, to a scratch stream, which
-- rewrite_finish.lua renames over the log.
-- KEYS[1] log stream, KEYS[2] checkpoint hash, KEYS[3] the scratch stream.
-- ARGV[1] the generation the first page saw ("": this is the first),
-- ARGV[2] and ARGV[3] the seqs after and up to which to copy, ARGV[4] how
-- long the scratch stream lives without another page (ms), then pairs of seq
-- and stand-in entry. Answers the log's generation (the checkpoint hash's
-- field "rewrites": every rewrite and every stored checkpoint adds one).
local generation = redis.call('HGET', KEYS[2], 'rewrites') or '0'
if ARGV[1] ~= '' and ARGV[1] ~= generation then return redis.error_reply('HEARTH_CONFLICT') end
if tonumber(ARGV[3]) > tonumber(ARGV[2]) then
  local stand_ins = {}
  for i = 5, #ARGV, 2 do stand_ins['0-' .. ARGV[i]] = ARGV[i + 1] end
  local page = redis.call('XRANGE', KEYS[1], '(0-' .. ARGV[2], '0-' .. ARGV[3])
  for _, item in ipairs(page) do
    redis.call('XADD', KEYS[3], item[1], 'e', stand_ins[item[1]] or item[2][2])
  end
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
return tonumber(generation)
