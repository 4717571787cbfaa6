-- release.lua: give back every job of this consumer's processing list to the
-- tail of pending (no attempt counted): on shutdown, and after a lost queue
-- connection whose in-flight batches were abandoned.
-- KEYS: processing, pending, consumers.  ARGV: consumer id, '1' to deregister.
-- Returns the number of jobs returned.
local jobs = redis.call('LRANGE', KEYS[1], 0, -1)
local n = #jobs
for i = 1, n, 1000 do
  local last = math.min(i + 999, n)
  redis.call('RPUSH', KEYS[2], unpack(jobs, i, last))
end
redis.call('DEL', KEYS[1])
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return n
