-- reap.lua: return a dead consumer's processing list to pending and count
-- the delivery as an attempt for each job.
-- KEYS: consumers, processing (of the dead consumer), pending, reaped, stats.
-- ARGV: consumer id, cutoff ms (reap only if its heartbeat is still older).
-- Returns the number of jobs returned, or -1 when it was not dead after all.
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if seen and tonumber(seen) > tonumber(ARGV[2]) then
  return -1
end
local jobs = redis.call('LRANGE', KEYS[2], 0, -1)
local n = #jobs
-- jobs is newest..oldest: pushing in this order leaves the oldest at the tail
for i = 1, n, 1000 do
  local last = math.min(i + 999, n)
  redis.call('RPUSH', KEYS[3], unpack(jobs, i, last))
end
for i = 1, n do
  redis.call('HINCRBY', KEYS[4], redis.sha1hex(jobs[i]), 1)
end
if n > 0 then
  redis.call('HINCRBY', KEYS[5], 'reaped', n)
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return n
