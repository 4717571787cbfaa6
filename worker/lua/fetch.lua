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
-- Every key is checked before the first write (a wrong-typed one fails the
-- script whole, changing nothing); the stats counters of moved-aside jobs
-- are its first write.
-- processing, reaped and pending are checked by the reads the script makes
-- anyway, before any write; dead and stats only when a job is moved aside
local have, bad = queue_read(KEYS[2], 'list')
if bad then
  return bad
end
if have ~= tonumber(ARGV[2]) then
  return { {}, {}, {}, 1 }
end
local nreaped
nreaped, bad = queue_read(KEYS[3], 'hash')
if bad then
  return bad
end
local max = tonumber(ARGV[1])
local ctx = { dead = KEYS[4], prefix = ARGV[6], consumer = ARGV[4], now = ARGV[5], limit = tonumber(ARGV[3]),
              seq = 0 }
local jobs, diverted = {}, {}
if max > 0 then
  local got = redis.pcall('LRANGE', KEYS[1], -max, -1)
  if queue_failed(got) then
    return queue_type_error(KEYS[1], 'list')
  end
  local n = #got
  if n > 0 then
    -- got is newest..oldest: reverse it in place, oldest first
    for i = 1, math.floor(n / 2) do
      got[i], got[n + 1 - i] = got[n + 1 - i], got[i]
    end
    local big = queue_count_over(got, ctx.limit)
    jobs = got
    if big > 0 then
      bad = queue_check_types({ KEYS[4] }, { 'list' }) or
            queue_count(KEYS[5], { 'dead', 'oversized' }, { big, big })
      if bad then
        return bad
      end
      jobs, diverted = queue_sift(got, ctx)
    end
    -- pushed oldest first, so the newest ends at the head of processing;
    -- every write comes before the trim of pending
    local k = #jobs
    for i = 1, k, 1000 do
      redis.call('LPUSH', KEYS[2], unpack(jobs, i, math.min(i + 999, k)))
    end
    redis.call('LTRIM', KEYS[1], 0, -(n + 1))
  end
end
local counts = {}
if nreaped > 0 then
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
