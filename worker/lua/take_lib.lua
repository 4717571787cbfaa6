-- take_lib.lua: taking jobs from pending onto a consumer's processing list,
-- shared by fetch.lua and finish.lua (embed.py places it after queue_lib.lua).

-- How many of pending's len jobs a take of at most max moves: all of them,
-- or all but the newest with leave set (it stays for the BLMOVE), and never
-- more than max.
local function queue_take_count(len, max, leave)
  local k = len
  if leave then
    k = len - 1
  end
  if k > max then
    k = max
  end
  if k < 0 then
    k = 0
  end
  return k
end

-- Reads (writes nothing) up to max of the oldest jobs of pending, oldest
-- first. With leave set, the newest job of pending stays there for the
-- BLMOVE the consumer pipelines behind the script: when pending holds k <=
-- max jobs, k - 1 are read. Returns the table, or nil and the error reply
-- naming pending when it is not a list.
local function queue_take_read(pending, max, leave)
  if max <= 0 then
    return {}
  end
  if leave then
    local len, bad = queue_read(pending, 'list')
    if bad then
      return nil, bad
    end
    max = queue_take_count(len, max, true)
    if max == 0 then
      return {}
    end
  end
  local got = redis.pcall('LRANGE', pending, -max, -1)
  if queue_failed(got) then
    return nil, queue_type_error(pending, 'list')
  end
  -- got is newest..oldest: reverse it in place, oldest first
  local n = #got
  for i = 1, math.floor(n / 2) do
    got[i], got[n + 1 - i] = got[n + 1 - i], got[i]
  end
  return got
end

-- Moves got (queue_take_read's table) off pending: jobs over ctx.limit
-- bytes aside (queue_divert: their stats counters must already be counted),
-- the others onto the head of processing, oldest first, so the newest ends
-- at the head; every write comes before the trim of pending. Returns the
-- jobs taken and the flat { key, size, ... } of the diverted.
local function queue_take_write(pending, processing, got, big, ctx)
  local n = #got
  if n == 0 then
    return {}, {}
  end
  local jobs, diverted = got, {}
  if big > 0 then
    jobs, diverted = queue_sift(got, ctx)
  end
  local k = #jobs
  for i = 1, k, 1000 do
    redis.call('LPUSH', processing, unpack(jobs, i, math.min(i + 999, k)))
  end
  redis.call('LTRIM', pending, 0, -(n + 1))
  return jobs, diverted
end

-- The reap counts (reaped: field sha1hex(job) -> count) of the jobs of
-- ARGV[from..] followed by those of jobs, or {} when nreaped (HLEN of
-- reaped) is 0: no HGET at all when nothing was ever reaped.
local function queue_reap_counts(reaped, nreaped, from, jobs)
  local counts = {}
  if nreaped == 0 then
    return counts
  end
  local k = 0
  for i = from, #ARGV do
    k = k + 1
    counts[k] = tonumber(redis.call('HGET', reaped, redis.sha1hex(ARGV[i])) or 0)
  end
  for i = 1, #jobs do
    k = k + 1
    counts[k] = tonumber(redis.call('HGET', reaped, redis.sha1hex(jobs[i])) or 0)
  end
  return counts
end

-- How many jobs queue_take_store may move (writes nothing): up to max of
-- the oldest of pending, leaving its newest for the BLMOVE when leave is
-- set (as queue_take_read). Returns k (-1 when the caller may not run
-- SORT: the worker's ACL predates it), nil and pending's length; or nil
-- and the error reply naming pending when it is not a list.
local function queue_store_plan(pending, max, leave)
  local len, bad = queue_read(pending, 'list')
  if bad then
    return nil, bad
  end
  local k = queue_take_count(len, max, leave)
  if k == 0 then
    return 0, nil, len
  end
  if queue_failed(redis.pcall('SORT', pending, 'BY', 'nosort', 'LIMIT', 0, 0)) then
    return -1, nil, len
  end
  return k, nil, len
end

-- Moves the k oldest jobs of pending (len long, queue_store_plan) onto
-- processing without reading them into Lua: SORT BY nosort copies that
-- range in pending's order (the newest at the head) and STORE replaces
-- processing with it, so processing must hold nothing the consumer still
-- needs (the batch being finished, trimmed by the replacement); then the
-- range is trimmed off pending. The worker reads the jobs with the LRANGE
-- it pipelines right behind the script.
local function queue_take_store(pending, processing, k, len)
  redis.call('SORT', pending, 'BY', 'nosort', 'LIMIT', len - k, k, 'STORE', processing)
  redis.call('LTRIM', pending, 0, -(k + 1))
end
