--[[
  Gives a lease up: deletes it only while it is still the given holder's
  (compare and delete), so a holder that lost its lease never removes the
  new holder's.

  KEYS[1] the lease key

  ARGV[1] the holder giving it up

  Returns 1 when deleted; 0 when the lease was another holder's or gone.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
