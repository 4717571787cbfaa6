#!lua
-- reap.lua: return a dead consumer's processing list to pending and count
-- the delivery as an attempt for each job; a job longer than ARGV[3] bytes
-- is moved aside and dead-lettered instead (queue_divert).
-- KEYS: consumers, processing (of the dead consumer), pending, reaped, stats, dead.
-- ARGV: consumer id, reap-after ms (reap only if its heartbeat is still
-- older than that on the queue Redis's clock, TIME),
-- the byte limit, the reaping worker's id, now (ms), the prefix of
-- oversized keys.
-- Returns { jobs returned, diverted as { key, size, ... } }, or -1 when it
-- was not dead after all. Every key is checked first, the stats counters
-- are the first write (taken back if one is not a number), and the list is
-- deleted last.
local bad = queue_check_types(KEYS, { 'zset', 'list', 'list', 'hash', 'hash', 'list' })
if bad then
  return bad
end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[2])
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if seen and tonumber(seen) > cutoff then
  return -1
end
local ctx = { dead = KEYS[6], prefix = ARGV[6], consumer = ARGV[4], now = ARGV[5], limit = tonumber(ARGV[3]),
              seq = 0 }
-- newest..oldest: pushing in this order leaves the oldest at the tail
local all = redis.call('LRANGE', KEYS[2], 0, -1)
local big = queue_count_over(all, ctx.limit)
bad = queue_count(KEYS[5], { 'reaped', 'dead', 'oversized' }, { #all - big, big, big })
if bad then
  return bad
end
local jobs, diverted = queue_sift(all, ctx)
local n = #jobs
for i = 1, n, 1000 do
  local last = math.min(i + 999, n)
  redis.call('RPUSH', KEYS[3], unpack(jobs, i, last))
end
for i = 1, n do
  redis.call('HINCRBY', KEYS[4], redis.sha1hex(jobs[i]), 1)
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return { n, diverted }
