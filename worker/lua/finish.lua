#!lua
-- finish.lua: settle one batch atomically and, in the same call, take the
-- next one (what fetch.lua does; the two share take_lib.lua).
-- KEYS: processing, delayed, dead, reaped, stats, pending.
-- ARGV: n (jobs in the batch: the oldest n of processing), done, retried,
-- dead, deferred (counts for stats), max (jobs to take next; 0: none), the
-- byte limit, consumer id, now (ms), the prefix of oversized keys, '1' to
-- leave the newest job of pending for the BLMOVE pipelined behind, '1' to
-- store the next jobs rather than return them (below), then a flat list of
-- records:
--   'z' score member   ZADD delayed (retry, deferral or redo copy)
--   'd' record         LPUSH dead (an encoded dead-letter record)
--   'h' job            HDEL reaped sha1hex(job)
-- The next jobs are taken only when processing holds exactly the batch
-- (anything else: a job a BLMOVE brought after a failed finish; the
-- consumer then fetches it with fetch.lua). Returns { n, jobs taken oldest
-- first, their reap counts ({} when nothing was ever reaped), diverted as
-- { key, size, ... }, stored, 1 when SORT was refused else 0 }.
-- Stored: with store set, nothing ever reaped and SORT allowed, the next
-- jobs go from pending to processing in one SORT ... STORE that replaces
-- the batch (queue_take_store), none is read into Lua or returned, and
-- stored is how many: the worker reads them, newest first, from the
-- `LRANGE processing 0 -1` it sends right behind. Otherwise stored is -1
-- and the jobs are returned as before (a job over the byte limit cannot be
-- moved aside without being read: one that is stored reaches the worker's
-- reply limit, which drops the connection, and release.lua moves it aside).
-- Every key is checked and pending is read before the first write, the
-- stats counters (those of moved-aside jobs included) are the first write
-- (taken back if one is not a number), and the batch is trimmed off
-- processing last: a script that fails changes nothing, and the worker
-- keeps the batch.
local FIRST = 13
local argc = #ARGV
local has = {}
local i = FIRST
while i <= argc do
  local kind = ARGV[i]
  has[kind] = true
  if kind == 'z' then
    i = i + 3
  elseif kind == 'd' or kind == 'h' then
    i = i + 2
  else
    return redis.error_reply('ERR finish.lua: bad record kind at ' .. i)
  end
end
local n = tonumber(ARGV[1])
local max = tonumber(ARGV[6])
-- the keys this batch writes (stats: by queue_count below)
local have, bad = queue_read(KEYS[1], 'list')
if bad then
  return bad
end
local keys, types = {}, {}
if has.z then
  keys[#keys + 1], types[#types + 1] = KEYS[2], 'zset'
end
if has.d then
  keys[#keys + 1], types[#types + 1] = KEYS[3], 'list'
end
if has.h then
  keys[#keys + 1], types[#types + 1] = KEYS[4], 'hash'
end
bad = queue_check_types(keys, types)
if bad then
  return bad
end
local ctx = { dead = KEYS[3], prefix = ARGV[10], consumer = ARGV[8], now = ARGV[9], limit = tonumber(ARGV[7]),
              seq = 0 }
local got, nreaped, big, stored, plen, refused = {}, 0, 0, -1, 0, 0
if max > 0 and have == n then
  nreaped, bad = queue_read(KEYS[4], 'hash')
  if bad then
    return bad
  end
  if ARGV[12] == '1' and nreaped == 0 then
    stored, bad, plen = queue_store_plan(KEYS[6], max, ARGV[11] == '1')
    if bad then
      return bad
    end
    if stored < 0 then
      refused = 1
    end
  end
  if stored < 0 then
    got, bad = queue_take_read(KEYS[6], max, ARGV[11] == '1')
    if bad then
      return bad
    end
    big = queue_count_over(got, ctx.limit)
    if big > 0 and not has.d then
      bad = queue_check_types({ KEYS[3] }, { 'list' })
      if bad then
        return bad
      end
    end
  end
end
bad = queue_count(KEYS[5], { 'done', 'retried', 'dead', 'deferred', 'oversized' },
                  { tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]) + big, tonumber(ARGV[5]), big })
if bad then
  return bad
end
i = FIRST
while i <= argc do
  local kind = ARGV[i]
  if kind == 'z' then
    redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif kind == 'd' then
    redis.call('LPUSH', KEYS[3], ARGV[i + 1])
    i = i + 2
  else
    redis.call('HDEL', KEYS[4], redis.sha1hex(ARGV[i + 1]))
    i = i + 2
  end
end
if stored > 0 then
  -- processing holds exactly the batch (have == n): replaced, not trimmed
  queue_take_store(KEYS[6], KEYS[1], stored, plen)
  return { n, {}, {}, {}, stored, 0 }
end
local jobs, diverted = queue_take_write(KEYS[6], KEYS[1], got, big, ctx)
if n > 0 then
  redis.call('LTRIM', KEYS[1], 0, -(n + 1))
end
return { n, jobs, queue_reap_counts(KEYS[4], nreaped, argc + 1, jobs), diverted, stored, refused }
