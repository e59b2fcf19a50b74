--[[
  Puts a new run in place in one step, so that a run is created whole or not
  at all: its per-node tables were written in chunks into staging keys (which
  expire on their own if their writer dies), and are renamed into place here,
  together with the run's meta fields, its entry in the run list and the
  work dir's latest run.

  KEYS[1] run meta hash (may already exist for a submitted run, without created_ms)
  KEYS[2] run states hash
  KEYS[3] run remaining-predecessors hash
  KEYS[4] staged states hash
  KEYS[5] staged remaining-predecessors hash
  KEYS[6] sorted set of runs
  KEYS[7] optional: the work dir's latest-run key

  ARGV[1] run id
  ARGV[2] creation time (epoch ms): created_ms, and the run's score in KEYS[6]
  ARGV[3..] meta field, value, field, value, ...

  Returns 1 when the run was created, 0 when a run with this id had been
  created before (nothing is changed; the caller deletes its staging keys).
]]
if redis.call('HEXISTS', KEYS[1], 'created_ms') == 1 then
  return 0
end
for i = 0, 1 do
  local staged, target = KEYS[4 + i], KEYS[2 + i]
  if redis.call('EXISTS', staged) == 1 then
    redis.call('RENAME', staged, target)
    redis.call('PERSIST', target)
  else
    redis.call('DEL', target)
  end
end
redis.call('HSET', KEYS[1], 'created_ms', ARGV[2])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'run_id', ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
if KEYS[7] then
  redis.call('SET', KEYS[7], ARGV[1])
end
return 1
