#!lua
-- release.lua: give back every job of this consumer's processing list to the
-- tail of pending (no attempt counted): on shutdown, and after a lost queue
-- connection whose in-flight batches were abandoned. A job longer than
-- ARGV[3] bytes (one that a BLMOVE brought here, whose reply the worker
-- refused to read) is moved aside and dead-lettered instead (queue_divert).
-- KEYS: processing, pending, consumers, dead, stats.
-- ARGV: consumer id, '1' to deregister, the byte limit, now (ms), the
-- prefix of oversized keys.
-- Returns { jobs returned, diverted as { key, size, ... } }. Every key is
-- checked first, the stats counters are the first write (taken back if one
-- is not a number), and the list is deleted last.
local bad = queue_check_types(KEYS, { 'list', 'list', 'zset', 'list', 'hash' })
if bad then
  return bad
end
local ctx = { dead = KEYS[4], prefix = ARGV[5], consumer = ARGV[1], now = ARGV[4], limit = tonumber(ARGV[3]),
              seq = 0 }
local all = redis.call('LRANGE', KEYS[1], 0, -1)
local big = queue_count_over(all, ctx.limit)
bad = queue_count(KEYS[5], { 'dead', 'oversized' }, { big, big })
if bad then
  return bad
end
local jobs, diverted = queue_sift(all, ctx)
local n = #jobs
for i = 1, n, 1000 do
  local last = math.min(i + 999, n)
  redis.call('RPUSH', KEYS[2], unpack(jobs, i, last))
end
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[3], ARGV[1])
end
redis.call('DEL', KEYS[1])
return { n, diverted }
