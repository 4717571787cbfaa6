#!lua
-- invqctl dlq purge, one entry, atomically.
-- KEYS[1] dead list, KEYS[2] stats hash
-- ARGV[1] the exact dead-letter record bytes
-- Removes one copy of the record (searching from the oldest end).
-- Returns 1 when removed, 0 when it was already gone.
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'purged', 1)
  return 1
end
return 0
