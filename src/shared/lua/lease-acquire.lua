--[[
  Takes a lease: a key whose value names its holder and that expires unless
  the holder renews it. One holder at a time (the scheduler driving a run,
  the service's leader).

  KEYS[1] the lease key   (<prefix>:fg:run:<id>:lease, <prefix>:fg:leader)

  ARGV[1] the holder taking it (`host:pid`)
  ARGV[2] time to live (ms)
  ARGV[3] a holder it may be taken from although its lease has not expired
          (one known to be dead: a process on the caller's host that is
          gone), or '' for none

  Returns {1, ARGV[1], ttl} when the lease is the caller's now: it was free,
  already the caller's (its time to live is reset: a holder names a process,
  and a process does not drive one thing twice), or held by ARGV[3];
  {0, holder, ttl left (ms)} when another holder has it.
]]
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] or (ARGV[3] ~= '' and current == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ARGV[1], tonumber(ARGV[2])}
end
return {0, current, redis.call('PTTL', KEYS[1])}
