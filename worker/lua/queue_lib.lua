-- queue_lib.lua: helpers shared by the worker's and invqctl's queue scripts;
-- embed.py places this text at the top of each script that names it (after
-- its #! line), so every script checks keys and moves oversized jobs aside
-- the same way.

-- Returns nil when every key has the wanted type (or does not exist), else
-- the error reply that names the first one that does not. A script calls it
-- before its first write, so a wrong-typed key costs no side effect.
-- keys and types are parallel tables: { key, ... }, { 'list', ... }.
local function queue_check_types(keys, types)
  for i = 1, #keys do
    local t = redis.call('TYPE', keys[i])['ok']
    if t ~= 'none' and t ~= types[i] then
      return redis.error_reply('QUEUEKEY queue key ' .. keys[i] .. ' has type ' .. t .. ', expected ' .. types[i])
    end
  end
  return nil
end

-- Returns nil when every named counter of the stats hash `key` is absent or
-- an integer, else the error reply naming the first that is not (HINCRBY on
-- it would fail after the script's earlier writes).
local function queue_check_counters(key, names)
  for _, name in ipairs(names) do
    local v = redis.call('HGET', key, name)
    if v and not string.match(v, '^%-?%d+$') then
      return redis.error_reply('QUEUEKEY queue key ' .. key .. ' field ' .. name .. ' is not an integer')
    end
  end
  return nil
end

-- Both checks at once: the keys' types, then the counters of the stats hash
-- `stats` (nil: none) that the script adds to. Returns nil or the error.
local function queue_check(keys, types, stats, counters)
  local bad = queue_check_types(keys, types)
  if not bad and stats then
    bad = queue_check_counters(stats, counters)
  end
  return bad
end

-- msgpack in the smallest formats, as the C encoder writes it.
local function mp_be(v, nbytes)
  local out = {}
  for i = nbytes, 1, -1 do
    out[i] = string.char(v % 256)
    v = math.floor(v / 256)
  end
  return table.concat(out)
end

local function mp_uint(v)
  if v < 128 then return string.char(v) end
  if v < 256 then return '\204' .. mp_be(v, 1) end
  if v < 65536 then return '\205' .. mp_be(v, 2) end
  if v < 4294967296 then return '\206' .. mp_be(v, 4) end
  return '\207' .. mp_be(v, 8)
end

local function mp_str(s)
  local n = #s
  if n < 32 then return string.char(160 + n) .. s end
  if n < 256 then return '\217' .. mp_be(n, 1) .. s end
  if n < 65536 then return '\218' .. mp_be(n, 2) .. s end
  return '\219' .. mp_be(n, 4) .. s
end

-- A job longer than the limit never reaches a worker (job-v1.md §7, §8):
-- its exact bytes go to a new STRING key <prefix><consumer>:<now>:<n> and a
-- dead-letter record that names that key (with an empty `job`) goes to the
-- head of dead. ctx: { dead, prefix, consumer, now (string, ms), limit,
-- seq (per script run) }. Returns the key.
local function queue_divert(job, ctx)
  local key
  repeat
    ctx.seq = ctx.seq + 1
    key = ctx.prefix .. ctx.consumer .. ':' .. ctx.now .. ':' .. ctx.seq
  until redis.call('EXISTS', key) == 0
  redis.call('SET', key, job)
  local now = tonumber(ctx.now)
  local reason = 'too_large: (payload): payload is ' .. #job .. ' bytes, limit ' .. ctx.limit
  local record = '\137' ..
    mp_str('job') .. '\196\000' ..
    mp_str('reason') .. mp_str(reason) ..
    mp_str('attempts') .. mp_uint(1) ..
    mp_str('first_failed_ms') .. mp_uint(now) ..
    mp_str('last_failed_ms') .. mp_uint(now) ..
    mp_str('consumer') .. mp_str(ctx.consumer) ..
    mp_str('errs') .. '\145' .. mp_str(reason) ..
    mp_str('job_size') .. mp_uint(#job) ..
    mp_str('job_key') .. mp_str(key)
  redis.call('LPUSH', ctx.dead, record)
  return key
end

-- Splits jobs (a table) into the ones within ctx.limit bytes, kept in order,
-- and the others, diverted by queue_divert(). Returns the kept table and a
-- flat { key, size, ... } of what was diverted.
local function queue_sift(jobs, ctx)
  local kept, diverted = {}, {}
  for i = 1, #jobs do
    local job = jobs[i]
    if #job > ctx.limit then
      diverted[#diverted + 1] = queue_divert(job, ctx)
      diverted[#diverted + 1] = #job
    else
      kept[#kept + 1] = job
    end
  end
  return kept, diverted
end
