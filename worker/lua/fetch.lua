-- fetch.lua: atomically take up to ARGV[1] of the oldest jobs from the tail
-- of pending and push them onto the head of this consumer's processing list.
-- KEYS: pending, processing, reaped.  ARGV: max, then jobs this consumer has
-- already moved (by BLMOVE) whose reap counts it also wants.
-- Returns { jobs taken oldest first, reap counts of (ARGV[2..] .. jobs) }; the
-- second table is empty when no job was ever reaped.
local max = tonumber(ARGV[1])
local jobs = {}
if max > 0 then
  local got = redis.call('LRANGE', KEYS[1], -max, -1)
  local n = #got
  if n > 0 then
    redis.call('LTRIM', KEYS[1], 0, -(n + 1))
    -- got is newest..oldest: reverse it in place, then push oldest first so
    -- that the newest ends at the head of the processing list
    for i = 1, math.floor(n / 2) do
      got[i], got[n + 1 - i] = got[n + 1 - i], got[i]
    end
    for i = 1, n, 1000 do
      redis.call('LPUSH', KEYS[2], unpack(got, i, math.min(i + 999, n)))
    end
    jobs = got
  end
end
local counts = {}
if redis.call('HLEN', KEYS[3]) > 0 then
  local k = 0
  for i = 2, #ARGV do
    k = k + 1
    counts[k] = tonumber(redis.call('HGET', KEYS[3], redis.sha1hex(ARGV[i])) or 0)
  end
  for i = 1, #jobs do
    k = k + 1
    counts[k] = tonumber(redis.call('HGET', KEYS[3], redis.sha1hex(jobs[i])) or 0)
  end
end
return { jobs, counts }
