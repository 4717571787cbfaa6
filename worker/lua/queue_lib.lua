-- queue_lib.lua: helpers shared by the worker's and invqctl's queue scripts;
-- embed.py places this text at the top of each script that names it (after
-- its #! line), so every script checks keys and moves oversized jobs aside
-- the same way.

-- The error reply naming a queue key whose type is not `want`.
local function queue_type_error(key, want)
  local t = redis.call('TYPE', key)['ok']
  return redis.error_reply('QUEUEKEY queue key ' .. key .. ' has type ' .. t .. ', expected ' .. want)
end

-- True when r, what redis.pcall() returned, is an error.
local function queue_failed(r)
  return type(r) == 'table' and r.err ~= nil
end

-- Reads key with an O(1) command of type `want` (LLEN, ZCARD, HLEN or
-- STRLEN): returns its result (0 when the key does not exist), or nil and
-- the error reply naming the key when it has another type.
local function queue_read(key, want)
  local cmd = 'STRLEN'
  if want == 'list' then
    cmd = 'LLEN'
  elseif want == 'hash' then
    cmd = 'HLEN'
  elseif want == 'zset' then
    cmd = 'ZCARD'
  end
  local r = redis.pcall(cmd, key)
  if queue_failed(r) then
    return nil, queue_type_error(key, want)
  end
  return r, nil
end

-- Returns nil when every key has the wanted type (or does not exist), else
-- the error reply that names the first one that does not. A script calls it
-- before its first write, so a wrong-typed key costs no side effect.
-- keys and types are parallel tables: { key, ... }, { 'list', ... }.
local function queue_check_types(keys, types)
  for i = 1, #keys do
    local _, bad = queue_read(keys[i], types[i])
    if bad then
      return bad
    end
  end
  return nil
end

-- Adds by[i] to counter names[i] of the stats hash `key` (HINCRBY, for each
-- by[i] > 0), as the script's first write: when one fails (the hash has
-- another type, or the counter is not an integer) the ones before are taken
-- back and the error reply naming it is returned, so nothing is left
-- written. Returns nil on success.
local function queue_count(key, names, by)
  for i = 1, #names do
    if by[i] > 0 then
      local r = redis.pcall('HINCRBY', key, names[i], by[i])
      if queue_failed(r) then
        for j = 1, i - 1 do
          if by[j] > 0 then
            redis.call('HINCRBY', key, names[j], -by[j])
          end
        end
        if string.find(r.err, 'WRONGTYPE', 1, true) then
          return queue_type_error(key, 'hash')
        end
        return redis.error_reply('QUEUEKEY queue key ' .. key .. ' field ' .. names[i] .. ' is not an integer')
      end
    end
  end
  return nil
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

-- How many of jobs (a table) are longer than limit bytes.
local function queue_count_over(jobs, limit)
  local n = 0
  for i = 1, #jobs do
    if #jobs[i] > limit then
      n = n + 1
    end
  end
  return n
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
