--[[
  Renews a lease for its holder. A lease that expired while nobody took it
  (its holder could not reach Redis for longer than its time to live) is
  taken back: the holder never lost it to anyone. Compare and renew happen
  in one step, so a renewal can never mistake the holder's own lease for
  another's.

  KEYS[1] the lease key

  ARGV[1] the holder renewing it
  ARGV[2] time to live (ms)

  Returns {1, ARGV[1]} when renewed; {2, ARGV[1]} when it had expired and is
  taken back; {0, holder} when another holder has it (nothing changed).
]]
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, current}
end
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {2, ARGV[1]}
end
return {0, current}
