-- A mark and its place in the person's set, with the same expiry, in one
-- step (lift_addresses.lua lifts them).
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
