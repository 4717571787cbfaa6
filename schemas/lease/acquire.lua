-- acquire.lua (lease-v1 §4.2): take the fill lease of a cache key that holds
-- nothing, or say what it holds.
-- KEYS[1]: the data key.  ARGV[1]: this reader's lease marker.
-- ARGV[2]: the lease lifetime in ms.
-- Returns 1 when the lease was taken (the key now holds ARGV[1] with that
-- lifetime), otherwise the key's current value (data, a negative entry or
-- another reader's lease marker), unchanged.
local v = redis.call('GET', KEYS[1])
if v then
  return v
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
