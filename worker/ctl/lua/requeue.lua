#!lua
-- invqctl dlq requeue, one entry, atomically.
-- KEYS[1] dead list, KEYS[2] pending list, KEYS[3] stats hash, KEYS[4] reaped hash
-- ARGV[1] the exact dead-letter record bytes, ARGV[2] the job bytes it holds
-- Removes one copy of the record (searching from the oldest end) and, only
-- when that removed it, pushes the job back to pending (attempts reset: the
-- job bytes are the producer's own, and its reap count is cleared).
-- Returns 1 when moved, 0 when the record was already gone.
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[4], redis.sha1hex(ARGV[2]))
  redis.call('HINCRBY', KEYS[3], 'requeued', 1)
  return 1
end
return 0
