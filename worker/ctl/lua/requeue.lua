#!lua
-- invqctl dlq requeue, one entry, atomically.
-- KEYS[1] dead list, KEYS[2] pending list, KEYS[3] stats hash, KEYS[4] reaped hash
-- ARGV[1] the exact dead-letter record bytes, ARGV[2] the job bytes it holds,
-- ARGV[3] for an oversized job the key that holds its bytes instead ('' for
-- none), ARGV[4] the prefix such keys must have ("<ns>:{<q>}:oversized:").
-- Removes one copy of the record (searching from the oldest end) and, only
-- when that removed it, pushes the job back to pending (attempts reset: the
-- job bytes are the producer's own, and its reap count is cleared); an
-- oversized job's bytes come from its key, which is then deleted.
-- Returns 1 when moved, 0 when the record was already gone. Every key is
-- checked before anything is written and the counter is the first write
-- (a wrong-typed key or a counter that is not a number fails it whole).
local bad = queue_check_types(KEYS, { 'list', 'list', 'hash', 'hash' })
if bad then
  return bad
end
local key = ARGV[3]
if key == '' then
  bad = queue_count(KEYS[3], { 'requeued' }, { 1 })
  if bad then
    return bad
  end
  if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 1 then
    redis.call('LPUSH', KEYS[2], ARGV[2])
    redis.call('HDEL', KEYS[4], redis.sha1hex(ARGV[2]))
    return 1
  end
  redis.call('HINCRBY', KEYS[3], 'requeued', -1) -- nothing moved after all
  return 0
end
if string.sub(key, 1, #ARGV[4]) ~= ARGV[4] then
  return redis.error_reply('QUEUEKEY record names ' .. key .. ', not a key under ' .. ARGV[4])
end
if not redis.call('LPOS', KEYS[1], ARGV[1]) then
  return 0
end
local t = redis.call('TYPE', key)['ok']
if t ~= 'string' then
  return redis.error_reply('QUEUEKEY oversized job key ' .. key .. ' has type ' .. t .. ', expected string')
end
bad = queue_count(KEYS[3], { 'requeued' }, { 1 })
if bad then
  return bad
end
redis.call('LPUSH', KEYS[2], redis.call('GET', key))
redis.call('DEL', key)
redis.call('LREM', KEYS[1], -1, ARGV[1])
return 1
