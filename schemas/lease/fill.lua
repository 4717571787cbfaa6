-- fill.lua (lease-v1 §4.3): store a loaded value only while the key still
-- holds this reader's lease marker. A DEL (by invq-worker or anyone), an
-- expired lease or another reader's newer lease all make the fill fail, so
-- a value read before an invalidation is never stored after it.
-- KEYS[1]: the data key.  ARGV[1]: the lease marker.  ARGV[2]: the value to
-- store (data, escaped data or the negative marker).  ARGV[3]: its TTL in ms.
-- Returns 1 when stored, 0 when refused.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
