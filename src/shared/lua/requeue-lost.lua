--[[
  Ends the execution of a node attempt whose worker is lost, so that the
  scheduler can put its job back on the queue at once (instead of waiting for
  the job's lock to expire). Atomic with respect to the worker's own claim and
  finish: the claim changes only if it is still the lost instance's, still
  running, and that instance has still not beaten.

  KEYS[1] claims hash            (<prefix>:fg:run:<id>:claims)   node index -> claim JSON

  ARGV[1] node index
  ARGV[2] attempt
  ARGV[3] the instance id the scheduler found lost
  ARGV[4] now (epoch ms)
  ARGV[5] key prefix of worker registrations (<prefix>:fg:worker:)
  ARGV[6] how the execution ended (`killed: worker lost`)
  ARGV[7] 'requeued' (the attempt runs again) or 'failed' (the node fails:
          it was lost more often than its worker allows)

  Returns 1 when the claim was ended; 0 when it was not (finished meanwhile,
  taken over, or its worker beat again).
]]
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local claim = cjson.decode(current)
if tostring(claim.attempt) ~= ARGV[2] or claim.instance ~= ARGV[3] or claim.state ~= 'running' then return 0 end
local now = tonumber(ARGV[4])
local beat = redis.call('GET', ARGV[5] .. claim.worker)
if beat then
  local info = cjson.decode(beat)
  local interval = tonumber(info.heartbeat_interval_ms) or 2000
  if info.instance == claim.instance and (now - (tonumber(info.heartbeat_ms) or 0)) <= 3 * interval then return 0 end
end
claim.state = ARGV[7]
claim.end_ms = now
claim.ended = ARGV[6]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(claim))
return 1
