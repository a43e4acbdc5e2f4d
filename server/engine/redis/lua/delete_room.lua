-- KEYS: the room's keys. ARGV[1] channel. Deletes them and tells every node
-- (sequence 0 on the channel means "deleted").
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('PUBLISH', ARGV[1], '0\n')
return 1
