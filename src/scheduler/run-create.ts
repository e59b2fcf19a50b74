/**
 * Creating a run in Redis, whole or not at all, however many nodes it has.
 * The per-node tables (states, remaining predecessors) are written in chunks
 * of {@link CREATE_CHUNK} fields into staging keys of this creator's own,
 * which expire after {@link STAGING_TTL_MS} should the creator die; one
 * script then checks that the run id is still free and renames them into
 * place with the meta fields, the run-list entry and the work dir's latest
 * run. A failure before that step deletes the staging keys and leaves the
 * run id free; no command ever carries a number of arguments that grows with
 * the workflow.
 */
import { luaScript, withCommands } from '../shared/lua-commands.js';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ValidationError } from '../shared/errors.js';
import { Keys } from '../shared/keys.js';

/** Fields per HSET while a run is created. */
export const CREATE_CHUNK = 5000;
/** Chunks sent per round trip. */
const CHUNKS_PER_ROUND = 8;
/** Staging keys of a creator that died expire after this long. */
export const STAGING_TTL_MS = 10 * 60_000;

const CREATE_RUN = luaScript('create-run');

type CreateCommand = { fgCreateRun(numKeys: number, ...keysAndArgs: string[]): Promise<number> };

function withScript(redis: Redis): Redis & CreateCommand {
  return withCommands<CreateCommand>(redis, { fgCreateRun: { lua: CREATE_RUN } });
}

/** What a new run is made of. */
export interface NewRun {
  runId: string;
  /** Meta fields (the definition, options, status ...); `run_id` and `created_ms` are added. */
  meta: Record<string, string>;
  /** Per node index: its state, and how many predecessors it waits for. */
  states: readonly string[];
  remaining: readonly number[];
  startedMs: number;
  /** The work dir's latest-run key, set to this run. */
  workDirKey?: string;
}

/**
 * Creates the run's keys. Throws `OPTIONS_INVALID` if a run with this id was
 * created before (so a reused `--run-id` cannot mix two runs), or the Redis
 * error that stopped it; either way nothing of this attempt is left behind.
 */
export async function createRun(redis: Redis, prefix: string, run: NewRun): Promise<void> {
  const k = new Keys(prefix);
  const token = randomBytes(6).toString('hex');
  const staged = { states: k.runStaging(run.runId, token, 'states'), remaining: k.runStaging(run.runId, token, 'remaining') };
  let created = 0;
  try {
    await writeTable(redis, staged.states, run.states);
    await writeTable(redis, staged.remaining, run.remaining);
    const keys = [k.runMeta(run.runId), k.runStates(run.runId), k.runRemaining(run.runId), staged.states, staged.remaining, k.runs(), ...(run.workDirKey !== undefined ? [run.workDirKey] : [])];
    const args = [run.runId, String(run.startedMs)];
    for (const [field, value] of Object.entries(run.meta)) args.push(field, value);
    created = await withScript(redis).fgCreateRun(keys.length, ...keys, ...args);
  } finally {
    // Renamed away when the run was created; otherwise this attempt's leftovers.
    if (created !== 1) await redis.del(staged.states, staged.remaining).catch(() => undefined);
  }
  if (created !== 1) throw new ValidationError('RUN_EXISTS', [{ field: '--run-id', message: `a run with id "${run.runId}" already exists under this prefix` }]);
}

/** Writes `values` (by index) into the hash `key`, in chunks, and gives it the staging time-to-live. */
async function writeTable(redis: Redis, key: string, values: readonly (string | number)[]): Promise<void> {
  for (let round = 0; round < values.length; round += CREATE_CHUNK * CHUNKS_PER_ROUND) {
    const pipe = redis.pipeline();
    const end = Math.min(values.length, round + CREATE_CHUNK * CHUNKS_PER_ROUND);
    for (let from = round; from < end; from += CREATE_CHUNK) {
      const fields = new Map<string, string>();
      for (let i = from; i < Math.min(end, from + CREATE_CHUNK); i++) fields.set(String(i), String(values[i]));
      pipe.hset(key, fields);
    }
    pipe.pexpire(key, STAGING_TTL_MS);
    const results = await pipe.exec();
    for (const [err] of results ?? []) if (err) throw err;
  }
}
