--[[
  Claims one admitted node attempt for a worker, before the worker starts
  anything. The job on the queue is only a pointer: what runs is the
  admission the scheduler stored, and only if every check passes.

  KEYS[1] run meta hash          (<prefix>:fg:run:<id>:meta)
  KEYS[2] admissions hash        (<prefix>:fg:run:<id>:admits)   node index -> admission JSON
  KEYS[3] claims hash            (<prefix>:fg:run:<id>:claims)   node index -> claim JSON

  ARGV[1] node index
  ARGV[2] attempt
  ARGV[3] admission token carried by the job
  ARGV[4] worker name
  ARGV[5] now (epoch ms)
  ARGV[6] key prefix of worker registrations (<prefix>:fg:worker:), to tell
          whether an earlier claimer of the same attempt is still alive
  ARGV[7] the worker's instance id (a worker restarted under the same name
          is another instance: it does not keep the old one's claims alive)
  ARGV[8] the BullMQ lock token of the job as this worker holds it ('' when
          unknown): the scheduler uses it to put the job back at once when
          this worker is lost (see requeue-lost.lua)
  ARGV[9] the worker's host name (its orphans are reaped there)
  ARGV[10] how many times this worker's queue runs a lost job again
           (its maxStalledCount): the scheduler requeues no more than that
  ARGV[11] the worker's host id: an attempt placed on a host (per-host
           placement) is claimed only by a worker of that host

  The admission names the node directory's lock (`lock: {key, value,
  ttl_ms}`): the claim takes it, or renews it for this run, and is refused
  while another run holds it.

  Returns {1, admission JSON, earlier executions JSON ('' when none)} when
  claimed; {0, reason} when refused.
  A claim may be taken over only when the attempt was requeued, or when the
  worker holding it stopped beating (lost): the earlier execution is kept in
  the claim's history so that it shows in the run's attempt history.
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0, 'no such run'} end
if status ~= 'running' then return {0, 'the run is ' .. status} end
if redis.call('HEXISTS', KEYS[1], 'cancel_requested') == 1 then return {0, 'the run is being cancelled'} end

local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {0, 'node ' .. ARGV[1] .. ' is not admitted'} end
local admission = cjson.decode(raw)
if tostring(admission.attempt) ~= ARGV[2] then
  return {0, 'attempt ' .. ARGV[2] .. ' is not the admitted attempt (' .. tostring(admission.attempt) .. ')'}
end
if admission.token ~= ARGV[3] then return {0, 'the admission token does not match'} end
if type(admission.host) == 'string' and admission.host ~= '' and admission.host ~= ARGV[11] then
  return {0, 'the attempt is placed on host ' .. admission.host .. ', this worker is on host ' .. ARGV[11]}
end

local now = tonumber(ARGV[5])
local history = {}
local current = redis.call('HGET', KEYS[3], ARGV[1])
if current then
  local claim = cjson.decode(current)
  if tostring(claim.attempt) == ARGV[2] then
    history = claim.history or {}
    if claim.state == 'running' then
      local beat = redis.call('GET', ARGV[6] .. claim.worker)
      local alive = false
      if beat then
        local info = cjson.decode(beat)
        local interval = tonumber(info.heartbeat_interval_ms) or 2000
        alive = info.instance == claim.instance and (now - (tonumber(info.heartbeat_ms) or 0)) <= 3 * interval
      end
      if alive then return {0, 'already claimed by worker ' .. claim.worker} end
      table.insert(history, {worker = claim.worker, start_ms = claim.start_ms, end_ms = now, ended = 'killed: worker lost'})
    elseif claim.state == 'requeued' then
      table.insert(history, {worker = claim.worker, start_ms = claim.start_ms, end_ms = claim.end_ms, ended = claim.ended or 'requeued'})
    else
      return {0, 'attempt ' .. ARGV[2] .. ' has already run (' .. tostring(claim.state) .. ')'}
    end
  end
end

local lock = admission.lock
if type(lock) == 'table' then
  local held = redis.call('GET', lock.key)
  local run = string.match(lock.value, '^[^|]*')
  if held and string.match(held, '^[^|]*') ~= run then
    return {0, 'node directory held by run ' .. string.match(held, '^[^|]*')}
  end
  redis.call('SET', lock.key, lock.value, 'PX', tonumber(lock.ttl_ms))
end

local claim = {attempt = tonumber(ARGV[2]), worker = ARGV[4], instance = ARGV[7], state = 'running', start_ms = now,
  host = ARGV[9], max_lost = tonumber(ARGV[10]) or 1}
if ARGV[8] ~= '' then claim.job_token = ARGV[8] end
if #history > 0 then claim.history = history end
redis.call('HSET', KEYS[3], ARGV[1], cjson.encode(claim))
if #history > 0 then return {1, raw, cjson.encode(history)} end
return {1, raw, ''}
