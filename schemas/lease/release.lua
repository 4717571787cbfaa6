-- release.lua (lease-v1 §4.4): give up a lease without a value (the loader
-- failed, or found no row and negative caching is off), so waiting readers
-- need not wait for the lease to expire.
-- KEYS[1]: the data key.  ARGV[1]: the lease marker.
-- Returns 1 when the marker was deleted, 0 when the key no longer held it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
