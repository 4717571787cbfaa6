#!lua
-- finish.lua: settle one batch atomically.
-- KEYS: processing, delayed, dead, reaped, stats.
-- ARGV: n (jobs in the batch: the oldest n of processing), done, retried,
-- dead, deferred (counts for stats), then a flat list of records:
--   'z' score member   ZADD delayed (retry, deferral or redo copy)
--   'd' record         LPUSH dead (an encoded dead-letter record)
--   'h' job            HDEL reaped sha1hex(job)
-- Every key (and every stats counter it adds to) is checked before the
-- first write, and the batch is trimmed off processing last: a script that
-- fails changes nothing, and the worker keeps the batch.
local names = { 'done', 'retried', 'dead', 'deferred' }
local adding = {}
for k = 1, 4 do
  if tonumber(ARGV[k + 1]) > 0 then
    adding[#adding + 1] = names[k]
  end
end
local bad = queue_check(KEYS, { 'list', 'zset', 'list', 'hash', 'hash' }, KEYS[5], adding)
if bad then
  return bad
end
local argc = #ARGV
local i = 6
while i <= argc do
  local kind = ARGV[i]
  if kind == 'z' then
    i = i + 3
  elseif kind == 'd' or kind == 'h' then
    i = i + 2
  else
    return redis.error_reply('ERR finish.lua: bad record kind at ' .. i)
  end
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
for k = 1, 4 do
  local v = tonumber(ARGV[k + 1])
  if v > 0 then
    redis.call('HINCRBY', KEYS[5], names[k], v)
  end
end
local n = tonumber(ARGV[1])
if n > 0 then
  redis.call('LTRIM', KEYS[1], 0, -(n + 1))
end
return n
