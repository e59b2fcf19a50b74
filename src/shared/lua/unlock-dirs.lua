--[[
  Releases node directory locks that are still held with the given values,
  and tells waiting runs (one message on the dirs-released channel) when any
  of them was waited for (its `<key>:waited` marker, set by lock-dirs.lua).

  KEYS[1..n] node directory lock keys
  ARGV[1..n] the value each lock must still have
  ARGV[n+1] the dirs-released channel (<prefix>:fg:dirs-released)

  Returns the number of locks released.
]]
local released = 0
local waited = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then
    redis.call('DEL', KEYS[i])
    released = released + 1
    waited = waited + redis.call('DEL', KEYS[i] .. ':waited')
  end
end
if waited > 0 then redis.call('PUBLISH', ARGV[#KEYS + 1], '{"type":"dirs-released"}') end
return released
