/**
 * Creating a run in Redis is whole or nothing, at any size: a 200 000-node
 * run is created in bounded commands (one HSET of every node overflowed the
 * stack), and a create that fails half-way — here a Redis whose memory limit
 * the run does not fit in, the realistic failure of a very large run — leaves
 * no key behind and the run id free for the next attempt.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeState } from '../../src/scheduler/node-state.js';
import { loadStoredRun, RunStore } from '../../src/scheduler/run-store.js';
import { ValidationError } from '../../src/shared/errors.js';
import { Keys } from '../../src/shared/keys.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { tempDir } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const LARGE_MS = 120_000;

function client(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  cleanups.push(async () => {
    redis.disconnect();
  });
  return redis;
}

async function allKeys(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys.sort();
}

/** The tables of an `n`-node run as the scheduler creates it: every node waiting, on one predecessor but the first. */
function tables(n: number): { states: NodeState[]; remaining: number[] } {
  return { states: Array.from({ length: n }, () => 'waiting'), remaining: Array.from({ length: n }, (_, i) => (i === 0 ? 0 : 1)) };
}

const META = { workflow: 'big', status: 'running', definition: '{"name":"big","nodes":[]}' };

describe('creating a run', () => {
  it(
    'stores a 200 000-node run whole, flushes a change of every node, and refuses its id a second time',
    async () => {
      const prefix = uniquePrefix('create');
      cleanups.push(() => deletePrefix(prefix));
      const redis = client(redisUrl());
      const k = new Keys(prefix);
      const store = new RunStore(redis, prefix, 'r1');
      const { states, remaining } = tables(200_000);
      await store.create(META, states, remaining, 1000, k.workDirRun('/w', 'big'));
      expect(await redis.hlen(k.runStates('r1'))).toBe(200_000);
      expect(await redis.hget(k.runRemaining('r1'), '199999')).toBe('1');
      expect(await redis.hmget(k.runMeta('r1'), 'run_id', 'created_ms', 'workflow')).toEqual(['r1', '1000', 'big']);
      expect(await redis.zscore(k.runs(), 'r1')).toBe('1000');
      expect(await redis.get(k.workDirRun('/w', 'big'))).toBe('r1');
      // No staging key is left, and nothing of the run expires.
      expect(await allKeys(redis, prefix)).toEqual([k.runs(), k.runMeta('r1'), k.runRemaining('r1'), k.runStates('r1'), k.workDirRun('/w', 'big')].sort());
      expect(await redis.pttl(k.runStates('r1'))).toBe(-1);

      for (let i = 0; i < 200_000; i++) store.setState(i, 'ready');
      await store.flush();
      expect(await redis.hget(k.runStates('r1'), '123456')).toBe('ready');

      const again = new RunStore(redis, prefix, 'r1');
      await expect(again.create(META, ['waiting'], [0], 2000)).rejects.toThrow(ValidationError);
      expect(await redis.hlen(k.runStates('r1'))).toBe(200_000);
      expect((await allKeys(redis, prefix)).filter((key) => key.includes(':creating:'))).toEqual([]);
    },
    LARGE_MS,
  );

  it(
    'leaves nothing behind when Redis refuses it half-way, and the same run id can be created afterwards',
    async () => {
      // 50 000 nodes' tables do not fit in 4 MB: the writes fail part-way with OOM.
      const server = await PrivateRedis.create(tempDir('fg-redis'));
      await server.start(['--maxmemory', '4mb', '--appendonly', 'no']);
      cleanups.push(() => server.stop());
      const redis = client(server.url);
      const prefix = uniquePrefix('create-oom');
      const k = new Keys(prefix);
      const { states, remaining } = tables(50_000);
      const failed = new RunStore(redis, prefix, 'big-run').create(META, states, remaining, 1000, k.workDirRun('/w', 'big'));
      await expect(failed).rejects.toThrow(/OOM|EXECABORT/);
      expect(await allKeys(redis, prefix)).toEqual([]);
      expect(await loadStoredRun(redis, prefix, 'big-run')).toBeUndefined();

      // The id is free: a run that fits is created under it.
      await new RunStore(redis, prefix, 'big-run').create(META, ['waiting', 'waiting'], [0, 1], 2000);
      const stored = await loadStoredRun(redis, prefix, 'big-run');
      expect(stored?.meta['created_ms']).toBe('2000');
      expect([...(stored?.states ?? new Map<number, string>()).entries()]).toEqual([
        [0, 'waiting'],
        [1, 'waiting'],
      ]);
    },
    LARGE_MS,
  );
});
