-- finish.lua: settle one batch atomically.
-- KEYS: processing, delayed, dead, reaped, stats.
-- ARGV: n (jobs in the batch: the oldest n of processing), done, retried,
-- dead, deferred (counts for stats), then a flat list of records:
--   'z' score member   ZADD delayed (retry, deferral or redo copy)
--   'd' record         LPUSH dead (an encoded dead-letter record)
--   'h' job            HDEL reaped sha1hex(job)
local n = tonumber(ARGV[1])
if n > 0 then
  redis.call('LTRIM', KEYS[1], 0, -(n + 1))
end
local i = 6
local argc = #ARGV
while i <= argc do
  local kind = ARGV[i]
  if kind == 'z' then
    redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif kind == 'd' then
    redis.call('LPUSH', KEYS[3], ARGV[i + 1])
    i = i + 2
  elseif kind == 'h' then
    redis.call('HDEL', KEYS[4], redis.sha1hex(ARGV[i + 1]))
    i = i + 2
  else
    return redis.error_reply('ERR finish.lua: bad record kind at ' .. i)
  end
end
local names = { 'done', 'retried', 'dead', 'deferred' }
for k = 1, 4 do
  local v = tonumber(ARGV[k + 1])
  if v > 0 then
    redis.call('HINCRBY', KEYS[5], names[k], v)
  end
end
return n
