#!lua
-- rate.lua: the fleet-wide rate limit of the families of one batch
-- (families-v1.md §8), one call per batch, shared by every worker of the
-- queue: GCRA on the queue Redis's clock (TIME).
-- KEYS: one rate key per rate-limited family of the batch
--   (<ns>:{<q>}:rate:<family>, a STRING: the family's theoretical arrival
--   time, TAT, in microseconds of the server's clock).
-- ARGV: per key, three numbers: the keys the batch would invalidate in that
--   family, the family's interval (microseconds per key) and its tolerance
--   (microseconds: how far ahead of now the TAT may run).
-- A family has room when its TAT is at most tolerance − interval ahead of
-- now. When every family of the batch has room, each TAT moves on by
-- keys × interval (a large batch may overdraw: the batches after it wait
-- longer), and the reply is { 0 }. Otherwise nothing is written and the
-- reply is { wait_ms, i, ... }: the time until every family has room, and
-- the 1-based indices of the families without room. A limited batch is
-- never dropped: the worker asks again.
-- Every key is read (and its type checked) before the first write, and
-- writes happen only once the whole batch is granted, so a script that
-- fails has changed nothing; #!lua makes Redis refuse it whole when it is
-- out of memory.
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local tats, limited, wait = {}, {}, 0
for i = 1, #KEYS do
  local v = redis.pcall('GET', KEYS[i])
  if queue_failed(v) then
    return queue_type_error(KEYS[i], 'string')
  end
  local tat = now
  if v then
    tat = tonumber(v)
    if not tat then
      return redis.error_reply('QUEUEKEY queue key ' .. KEYS[i] .. ' does not hold a number')
    end
    if tat < now then
      tat = now
    end
  end
  local keys = tonumber(ARGV[3 * i - 2])
  local interval = tonumber(ARGV[3 * i - 1])
  local tolerance = tonumber(ARGV[3 * i])
  local over = tat - now - (tolerance - interval)
  if over > 0 then
    limited[#limited + 1] = i
    if over > wait then
      wait = over
    end
  end
  tats[i] = tat + keys * interval
end
if #limited > 0 then
  local reply = { math.ceil(wait / 1000) }
  for j = 1, #limited do
    reply[j + 1] = limited[j]
  end
  return reply
end
for i = 1, #KEYS do
  local ttl = math.ceil((tats[i] - now) / 1000) + 1000
  redis.call('SET', KEYS[i], string.format('%.0f', math.ceil(tats[i])), 'PX', ttl)
end
return { 0 }
