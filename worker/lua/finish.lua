#!lua
-- finish.lua: settle one batch atomically.
-- KEYS: processing, delayed, dead, reaped, stats.
-- ARGV: n (jobs in the batch: the oldest n of processing), done, retried,
-- dead, deferred (counts for stats), then a flat list of records:
--   'z' score member   ZADD delayed (retry, deferral or redo copy)
--   'd' record         LPUSH dead (an encoded dead-letter record)
--   'h' job            HDEL reaped sha1hex(job)
-- Every key is checked before the first write, the stats counters are the
-- first write (taken back if one is not a number), and the batch is trimmed
-- off processing last: a script that fails changes nothing, and the worker
-- keeps the batch.
local argc = #ARGV
local has = {}
local i = 6
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
-- the keys this batch writes (stats: by queue_count below)
local keys, types = { KEYS[1] }, { 'list' }
if has.z then
  keys[#keys + 1], types[#types + 1] = KEYS[2], 'zset'
end
if has.d then
  keys[#keys + 1], types[#types + 1] = KEYS[3], 'list'
end
if has.h then
  keys[#keys + 1], types[#types + 1] = KEYS[4], 'hash'
end
local bad = queue_check_types(keys, types)
if bad then
  return bad
end
bad = queue_count(KEYS[5], { 'done', 'retried', 'dead', 'deferred' },
                  { tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]) })
if bad then
  return bad
end
i = 6
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
local n = tonumber(ARGV[1])
if n > 0 then
  redis.call('LTRIM', KEYS[1], 0, -(n + 1))
end
return n
