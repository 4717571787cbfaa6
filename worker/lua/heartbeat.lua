#!lua
-- heartbeat.lua: register or refresh consumers in the consumers ZSET with
-- the queue Redis's own clock (TIME, ms since the epoch), so that the
-- workers' host clocks never decide who is alive (job-v1.md §8).
-- KEYS: consumers. ARGV: consumer ids.
-- Returns the server's time in ms, which the worker uses to follow the
-- server's clock for the times it writes (due times, dead-letter times).
-- The key is checked before the write: a wrong-typed one changes nothing.
local bad = queue_check_types(KEYS, { 'zset' })
if bad then
  return bad
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local args = {}
for i = 1, #ARGV do
  args[2 * i - 1] = now
  args[2 * i] = ARGV[i]
end
if #args > 0 then
  redis.call('ZADD', KEYS[1], unpack(args))
end
return now
