#!lua
-- invqctl dlq purge, one entry, atomically.
-- KEYS[1] dead list, KEYS[2] stats hash
-- ARGV[1] the exact dead-letter record bytes, ARGV[2] for an oversized job
-- the key that holds its bytes ('' for none), ARGV[3] the prefix such keys
-- must have ("<ns>:{<q>}:oversized:").
-- Removes one copy of the record (searching from the oldest end), and the
-- oversized job's key with it. Returns 1 when removed, 0 when it was already
-- gone. Both keys are checked before anything is written, and the counter
-- is the first write.
local bad = queue_check_types(KEYS, { 'list', 'hash' })
if bad then
  return bad
end
bad = queue_count(KEYS[2], { 'purged' }, { 1 })
if bad then
  return bad
end
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 1 then
  local key = ARGV[2]
  if key ~= '' and string.sub(key, 1, #ARGV[3]) == ARGV[3] then
    redis.call('DEL', key)
  end
  return 1
end
redis.call('HINCRBY', KEYS[2], 'purged', -1) -- nothing removed after all
return 0
