#!lua
-- fetch.lua: atomically take up to ARGV[1] of the oldest jobs from the tail
-- of pending and push them onto the head of this consumer's processing list
-- (when the consumer has no batch to settle; with one, finish.lua settles it
-- and takes the next in the same call).
-- A job longer than ARGV[3] bytes is not taken: it is moved aside and
-- dead-lettered here (queue_divert), so it never reaches the worker.
-- KEYS: pending, processing, reaped, dead, stats.
-- ARGV: max, the length processing must have (jobs this consumer already
-- holds there; anything else means an earlier finish failed and nothing is
-- taken), the byte limit, consumer id, now (ms), the prefix of oversized
-- keys ("<ns>:{<q>}:oversized:"), '1' to leave the newest job of pending
-- for the BLMOVE pipelined behind (take_lib.lua), then the jobs already held
-- whose reap counts the consumer also wants.
-- Returns { jobs taken oldest first, reap counts of (ARGV[8..] .. jobs),
-- diverted as { key, size, ... }, 0, HLEN reaped } or, when processing did
-- not have the length it must have, { {}, {}, {}, 1, 0 } with nothing
-- changed. The reap counts are empty when no job was ever reaped.
-- Every key is checked before the first write (a wrong-typed one fails the
-- script whole, changing nothing); the stats counters of moved-aside jobs
-- are its first write.
local have, bad = queue_read(KEYS[2], 'list')
if bad then
  return bad
end
if have ~= tonumber(ARGV[2]) then
  return { {}, {}, {}, 1, 0 }
end
local nreaped
nreaped, bad = queue_read(KEYS[3], 'hash')
if bad then
  return bad
end
local ctx = { dead = KEYS[4], prefix = ARGV[6], consumer = ARGV[4], now = ARGV[5], limit = tonumber(ARGV[3]),
              seq = 0 }
local got
got, bad = queue_take_read(KEYS[1], tonumber(ARGV[1]), ARGV[7] == '1')
if bad then
  return bad
end
local big = queue_count_over(got, ctx.limit)
if big > 0 then
  bad = queue_check_types({ KEYS[4] }, { 'list' }) or
        queue_count(KEYS[5], { 'dead', 'oversized' }, { big, big })
  if bad then
    return bad
  end
end
local jobs, diverted = queue_take_write(KEYS[1], KEYS[2], got, big, ctx)
return { jobs, queue_reap_counts(KEYS[3], nreaped, 8, jobs), diverted, 0, nreaped }
