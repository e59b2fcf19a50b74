--[[
  Records how a claimed node attempt ended, in the run store, before the
  worker reports to the queue: a result that reaches Redis is never lost,
  even when its job was removed or its completion could not be delivered.

  KEYS[1] claims hash            (<prefix>:fg:run:<id>:claims)
  KEYS[2] outcomes hash          (<prefix>:fg:run:<id>:outcomes)  node index -> outcome JSON, kept as sent
  KEYS[3] the node directory's lock (released when the attempt succeeded or
          failed: its process tree has exited; kept when it was requeued)

  ARGV[1] node index
  ARGV[2] attempt
  ARGV[3] worker name
  ARGV[4] now (epoch ms)
  ARGV[5] how it ended: succeeded | failed | requeued
  ARGV[6] why it was requeued (requeued only; else empty)
  ARGV[7] the outcome JSON (succeeded and failed), else empty
  ARGV[8] the worker's instance id
  ARGV[9] the lock's value while this run holds it
  ARGV[10] the dirs-released channel (<prefix>:fg:dirs-released), told when
           the lock is released and another run waits for it (its
           `<lock key>:waited` marker, set by lock-dirs.lua)

  Returns 1 when recorded; 0 when the claim is no longer this worker's
  (it was taken over after this worker was presumed lost).
]]
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local claim = cjson.decode(current)
if tostring(claim.attempt) ~= ARGV[2] or claim.worker ~= ARGV[3] or claim.instance ~= ARGV[8] or claim.state ~= 'running' then return 0 end
claim.state = ARGV[5]
claim.end_ms = tonumber(ARGV[4])
if ARGV[5] == 'requeued' then claim.ended = ARGV[6] end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(claim))
-- Kept as the worker sent it: decoding and encoding again in Lua would turn
-- empty lists into objects and round numbers.
if ARGV[7] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[7]) end
if ARGV[5] ~= 'requeued' and ARGV[9] ~= '' and redis.call('GET', KEYS[3]) == ARGV[9] then
  redis.call('DEL', KEYS[3])
  if redis.call('DEL', KEYS[3] .. ':waited') == 1 then redis.call('PUBLISH', ARGV[10], '{"type":"dirs-released"}') end
end
return 1
