--[[
  Takes or renews node directory locks for one run. A run holds a node's
  directory from the moment the node is ready until its attempt's process
  tree has exited; another run that reaches the same node waits.

  KEYS[1..n] node directory lock keys (<prefix>:fg:dirlock:<hash of the path>)

  ARGV[1] lock time-to-live (ms): the holder renews it
  ARGV[2] the run id
  ARGV[3..n+2] the lock value for each key: `<run id>|<node index>|<path>`
  ARGV[n+3] mode: `take` (take free locks, renew this run's own) or `renew`
           (renew this run's own only)

  Returns one entry per key: '' when the lock is this run's now, else the
  value of the lock held by another run (or, with renew, '-' when it is gone).

  A lock another run holds when `take` finds it is marked as waited for
  (`<key>:waited`, with the lock's lifetime; a waiting run marks it again at
  each try, and the holder's renewals keep the mark as long as the lock):
  its release is announced on the dirs-released channel. Locks
  nobody waits for are released without a message, so schedulers are not
  woken once per node.
]]
local ttl = tonumber(ARGV[1])
local run = ARGV[2]
local n = #KEYS
local mode = ARGV[n + 3]
local out = {}
for i = 1, n do
  local current = redis.call('GET', KEYS[i])
  if current and string.sub(current, 1, #run + 1) == run .. '|' then
    redis.call('SET', KEYS[i], ARGV[i + 2], 'PX', ttl)
    -- A waiting run's mark lives as long as the lock it waits for.
    redis.call('PEXPIRE', KEYS[i] .. ':waited', ttl)
    out[i] = ''
  elseif current then
    if mode == 'take' then redis.call('SET', KEYS[i] .. ':waited', '1', 'PX', ttl) end
    out[i] = current
  elseif mode == 'take' then
    redis.call('SET', KEYS[i], ARGV[i + 2], 'PX', ttl)
    out[i] = ''
  else
    out[i] = '-'
  end
end
return out
