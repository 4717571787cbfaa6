-- sample.lua: queue depths and lifetime counters for the metrics sampler.
-- KEYS: pending, delayed, dead, consumers, stats.
-- ARGV: the processing-list prefix ("<ns>:{<q>}:processing:"); the lists of
-- registered consumers share the queue's hash tag, so they live in its slot.
-- Returns { pending, delayed, dead, processing (sum), stats as a flat list }.
local processing = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  processing = processing + redis.call('LLEN', ARGV[1] .. id)
end
return {
  redis.call('LLEN', KEYS[1]),
  redis.call('ZCARD', KEYS[2]),
  redis.call('LLEN', KEYS[3]),
  processing,
  redis.call('HGETALL', KEYS[5]),
}
