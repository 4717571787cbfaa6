#!lua
-- fetch.lua: atomically take up to ARGV[1] of the oldest jobs from the tail
-- of pending and push them onto the head of this consumer's processing list.
-- A job longer than ARGV[3] bytes is not taken: it is moved aside and
-- dead-lettered here (queue_divert), so it never reaches the worker.
-- KEYS: pending, processing, reaped, dead, stats.
-- ARGV: max, the length processing must have (jobs this consumer already
-- moved there by BLMOVE; anything else means an earlier finish failed and
-- nothing is taken), the byte limit, consumer id, now (ms), the prefix of
-- oversized keys ("<ns>:{<q>}:oversized:"), then the jobs already moved by
-- BLMOVE whose reap counts the consumer also wants.
-- Returns { jobs taken oldest first, reap counts of (ARGV[7..] .. jobs),
-- diverted as { key, size, ... }, 0 } or, when processing did not have the
-- length it must have, { {}, {}, {}, 1 } with nothing changed. The reap
-- counts are empty when no job was ever reaped.
-- Every key is checked first: a wrong-typed one fails the script whole.
local bad = queue_check(KEYS, { 'list', 'list', 'hash', 'list', 'hash' }, KEYS[5], { 'dead', 'oversized' })
if bad then
  return bad
end
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[2]) then
  return { {}, {}, {}, 1 }
end
local max = tonumber(ARGV[1])
local ctx = { dead = KEYS[4], prefix = ARGV[6], consumer = ARGV[4], now = ARGV[5], limit = tonumber(ARGV[3]),
              seq = 0 }
local jobs, diverted = {}, {}
if max > 0 then
  local got = redis.call('LRANGE', KEYS[1], -max, -1)
  local n = #got
  if n > 0 then
    -- got is newest..oldest: reverse it in place, oldest first
    for i = 1, math.floor(n / 2) do
      got[i], got[n + 1 - i] = got[n + 1 - i], got[i]
    end
    jobs, diverted = queue_sift(got, ctx)
    -- pushed oldest first, so the newest ends at the head of processing;
    -- every write comes before the trim of pending
    local k = #jobs
    for i = 1, k, 1000 do
      redis.call('LPUSH', KEYS[2], unpack(jobs, i, math.min(i + 999, k)))
    end
    if #diverted > 0 then
      redis.call('HINCRBY', KEYS[5], 'dead', #diverted / 2)
      redis.call('HINCRBY', KEYS[5], 'oversized', #diverted / 2)
    end
    redis.call('LTRIM', KEYS[1], 0, -(n + 1))
  end
end
local counts = {}
if redis.call('HLEN', KEYS[3]) > 0 then
  local k = 0
  for i = 7, #ARGV do
    k = k + 1
    counts[k] = tonumber(redis.call('HGET', KEYS[3], redis.sha1hex(ARGV[i])) or 0)
  end
  for i = 1, #jobs do
    k = k + 1
    counts[k] = tonumber(redis.call('HGET', KEYS[3], redis.sha1hex(jobs[i])) or 0)
  end
end
return { jobs, counts, diverted, 0 }
