#!lua flags=no-writes
-- sample.lua: queue depths and lifetime counters for the metrics sampler.
-- KEYS: pending, delayed, dead, consumers, stats.
-- ARGV: the processing-list prefix ("<ns>:{<q>}:processing:"); the lists of
-- registered consumers share the queue's hash tag, so they live in its slot.
-- Returns { pending, delayed, dead, processing (sum), stats as a flat list },
-- or the error naming a queue key of the wrong type.
local bad = queue_check_types(KEYS, { 'list', 'zset', 'list', 'zset', 'hash' })
if bad then
  return bad
end
local processing = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  local key = ARGV[1] .. id
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= 'list' then
    return redis.error_reply('QUEUEKEY queue key ' .. key .. ' has type ' .. t .. ', expected list')
  end
  processing = processing + redis.call('LLEN', key)
end
return {
  redis.call('LLEN', KEYS[1]),
  redis.call('ZCARD', KEYS[2]),
  redis.call('LLEN', KEYS[3]),
  processing,
  redis.call('HGETALL', KEYS[5]),
}
