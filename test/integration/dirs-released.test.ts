/**
 * A released node directory another run waits for is announced on its own
 * channel: schedulers, which may have nodes waiting for the directory, hear
 * it; workers, which listen to the control channel for aborts, are not woken.
 * A directory nobody waited for is released without a message, so no
 * scheduler is woken once per node.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { subscribeControl } from '../../src/shared/control.js';
import { lockDirs, unlockDirs } from '../../src/shared/dir-lock.js';
import { Keys } from '../../src/shared/keys.js';
import { claimNode, finishClaim } from '../../src/shared/node-claim.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('dirs-released messages', () => {
  it('a finished claim and an unlock tell the schedulers when another run waited, and nothing reaches the workers\' control channel', async () => {
    const prefix = uniquePrefix('dirs');
    const keys = new Keys(prefix);
    const redis = new Redis(redisUrl());
    // Connected before it subscribes, as the workers' subscriber is: a subscription sent
    // while the connection is still being set up can turn its ready check away.
    const control = new Redis(redisUrl(), { lazyConnect: true });
    const heardBySchedulers: string[] = [];
    const heardByWorkers: string[] = [];
    const schedulerSide = await subscribeControl(redisUrl(), prefix, (m) => heardBySchedulers.push(m.type), () => undefined);
    cleanups.push(async () => {
      schedulerSide.disconnect();
      control.disconnect();
      redis.disconnect();
      await deletePrefix(prefix);
    });
    control.on('message', (_channel: string, raw: string) => heardByWorkers.push(raw));
    await control.connect();
    await control.subscribe(keys.control());

    const runId = 'run-1';
    const lock = { key: keys.dirLock('/work/wf/n0'), value: `${runId}|0|/work/wf/n0` };
    await redis.hset(keys.runMeta(runId), 'status', 'running');
    await redis.hset(keys.runAdmits(runId), '0', JSON.stringify({ attempt: 1, token: 'tok', lock: { ...lock, ttl_ms: 30_000 }, spec: {} }));
    const worker = { name: 'w1', instance: 'i1' };
    const ref = { run_id: runId, node_index: 0, attempt: 1, token: 'tok' };
    expect((await claimNode(redis, prefix, ref, worker, undefined)).ok).toBe(true);
    expect(await redis.get(lock.key)).toBe(lock.value);
    // Another run reaches the same directory and waits: the lock is marked as waited for.
    expect(await lockDirs(redis, 'run-2', [{ key: lock.key, value: 'run-2|0|/work/wf/n0' }], 'take')).toEqual([lock.value]);
    expect(await redis.pttl(`${lock.key}:waited`)).toBeGreaterThan(0);
    // The holder's renewals keep the mark as long as the lock, however long the waiting run takes to try again.
    await redis.pexpire(`${lock.key}:waited`, 1000);
    expect(await lockDirs(redis, runId, [lock], 'renew')).toEqual(['']);
    expect(await redis.pttl(`${lock.key}:waited`)).toBeGreaterThan(20_000);
    expect(await finishClaim(redis, prefix, ref, worker, { state: 'succeeded', outcome: { ok: true } }, lock)).toBe(true);
    expect(await redis.get(lock.key)).toBeNull();
    expect(await redis.exists(`${lock.key}:waited`)).toBe(0);
    await waitFor(() => heardBySchedulers.length === 1, 5000, 'the scheduler side to hear the finished claim');

    // Released with nobody waiting: no message (the next, announced release arrives alone).
    const quiet = { key: keys.dirLock('/work/wf/n2'), value: `${runId}|2|/work/wf/n2` };
    expect(await lockDirs(redis, runId, [quiet], 'take')).toEqual(['']);
    expect(await unlockDirs(redis, prefix, [quiet])).toBe(1);

    // The scheduler's own release of a lock (a node that ended without its worker) is heard the same way.
    const other = { key: keys.dirLock('/work/wf/n1'), value: `${runId}|1|/work/wf/n1` };
    expect(await lockDirs(redis, runId, [other], 'take')).toEqual(['']);
    expect(await lockDirs(redis, 'run-2', [{ key: other.key, value: 'run-2|1|/work/wf/n1' }], 'take')).toEqual([other.value]);
    expect(await unlockDirs(redis, prefix, [other])).toBe(1);
    await waitFor(() => heardBySchedulers.length === 2, 5000, 'the scheduler side to hear the unlock');
    // Pub/sub keeps order: the quiet release, before it, sent nothing.
    expect(heardBySchedulers).toEqual(['dirs-released', 'dirs-released']);
    expect(await redis.exists(`${other.key}:waited`)).toBe(0);

    // Pub/sub is delivered in order: once a later message reached the
    // control channel's subscriber, nothing published before it is on its way.
    await redis.publish(keys.control(), 'after');
    await waitFor(() => heardByWorkers.includes('after'), 5000, 'the control subscriber to hear the later message');
    expect(heardByWorkers).toEqual(['after']);
  });
});
