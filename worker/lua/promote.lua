#!lua
-- promote.lua: move up to ARGV[2] due members of delayed (score <= now, the
-- queue Redis's clock: TIME; ARGV[1], the worker's clock, is not used) to
-- the tail of pending, the end consumers take next, earliest due first.
-- KEYS: delayed, pending.  Returns the number moved. Both keys are checked
-- first, and each chunk is pushed before it is removed from delayed.
local bad = queue_check_types(KEYS, { 'zset', 'list' })
if bad then
  return bad
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local n = #due
if n == 0 then
  return 0
end
for i = 1, n, 1000 do
  local last = math.min(i + 999, n)
  -- RPUSH puts each argument after the previous one; the last ends at the
  -- tail and is taken first, so push the latest-due first
  local chunk = {}
  for j = last, i, -1 do
    chunk[#chunk + 1] = due[j]
  end
  redis.call('RPUSH', KEYS[2], unpack(chunk))
  redis.call('ZREM', KEYS[1], unpack(due, i, last))
end
return n
