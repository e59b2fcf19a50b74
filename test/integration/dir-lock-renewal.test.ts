/**
 * Renewal of a large run's node directory locks: each tick renews only the
 * locks that fell due, oldest first and in bounded numbers (never every held
 * lock at once), so the work per tick does not grow with the run.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { DIR_LOCK_TTL_MS } from '../../src/shared/dir-lock.js';
import { silentLogger } from '../../src/shared/logger.js';
import { RunDirLocks } from '../../src/scheduler/run-dir-locks.js';
import type { NodeRuntime } from '../../src/scheduler/run-graph.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What RunDirLocks reads of a node. */
const node = (index: number): NodeRuntime => ({ index, record: { node_dir: `/work/wf/n${index}` } }) as unknown as NodeRuntime;

/** The directory locks of run `runId` under a prefix of their own, on the clock `now`; released after the test. */
function dirLocks(runId: string, now: () => number): { redis: Redis; locks: RunDirLocks } {
  const prefix = uniquePrefix('lockrenew');
  const redis = new Redis(redisUrl());
  cleanups.push(async () => {
    redis.disconnect();
    await deletePrefix(prefix);
  });
  return { redis, locks: new RunDirLocks(prefix, runId, () => redis, silentLogger(), now) };
}

describe('node directory lock renewal', () => {
  it('renews the locks that fell due, oldest first, at most a fifth of those held (at least 1000) per tick', async () => {
    let now = 1_000_000;
    const { redis, locks } = dirLocks('run-1', () => now);
    const early = Array.from({ length: 3_000 }, (_, i) => node(i));
    const late = Array.from({ length: 3_000 }, (_, i) => node(3_000 + i));
    expect((await locks.take(early)).size).toBe(0);
    now += DIR_LOCK_TTL_MS / 6;
    expect((await locks.take(late)).size).toBe(0);
    // Lengthen every lock, so that a renewal (back to the TTL) shows.
    const keysOf = (ns: NodeRuntime[]): string[] => ns.map((n) => locks.lockOf(n).key);
    const lengthen = redis.pipeline();
    for (const k of keysOf([...early, ...late])) lengthen.pexpire(k, 10 * DIR_LOCK_TTL_MS);
    await lengthen.exec();
    const renewedOf = async (ns: NodeRuntime[]): Promise<number> => {
      const p = redis.pipeline();
      for (const k of keysOf(ns)) p.pttl(k);
      return ((await p.exec()) ?? []).filter(([, ttl]) => (ttl as number) <= DIR_LOCK_TTL_MS).length;
    };
    // A third of the TTL after the early ones were taken: they are due, the late ones not yet.
    now += DIR_LOCK_TTL_MS / 6;
    expect(await locks.renewDue([])).toBe(1_200);
    expect(await renewedOf(early.slice(0, 1_200))).toBe(1_200);
    expect(await renewedOf(early.slice(1_200))).toBe(0);
    expect(await locks.renewDue([])).toBe(1_200);
    expect(await locks.renewDue([])).toBe(600);
    expect(await locks.renewDue([])).toBe(0);
    expect(await renewedOf(early)).toBe(3_000);
    expect(await renewedOf(late)).toBe(0);
    // The late ones fall due in turn; the early ones only a third of the TTL after their renewal.
    now += DIR_LOCK_TTL_MS / 6;
    let late_ = 0;
    for (let n = await locks.renewDue([]); n > 0; n = await locks.renewDue([])) late_ += n;
    expect(late_).toBe(3_000);
    expect(await renewedOf(late)).toBe(3_000);
  });

  it('renews in-flight nodes it never took (a resumed run) at the next tick', async () => {
    const { locks } = dirLocks('run-2', () => 5_000_000);
    const flying = [node(1), node(2)];
    expect(await locks.renewDue(flying)).toBe(2);
    expect(await locks.renewDue(flying)).toBe(0);
  });

  it('a lock taken ahead and lost before its node was ready is taken again when the node becomes ready', async () => {
    let now = 7_000_000;
    const { redis, locks } = dirLocks('run-3', () => now);
    const waiting = { ...node(4), state: 'waiting' } as NodeRuntime;
    await locks.takeAhead([waiting]);
    const lock = locks.lockOf(waiting);
    expect(await redis.get(lock.key)).toBe(lock.value);
    // Held: becoming ready takes nothing more.
    expect((await locks.take([waiting])).size).toBe(0);
    // It expired (Redis unreachable for longer than its TTL, say); the renewal finds it gone.
    await redis.del(lock.key);
    now += DIR_LOCK_TTL_MS / 2;
    expect(await locks.renewDue([])).toBe(1);
    expect((await locks.take([waiting])).size).toBe(0);
    expect(await redis.get(lock.key)).toBe(lock.value);
  });
});
