/**
 * The executor pool starts a replacement while an executor runs its last
 * task (or as soon as one is killed), so no node waits for a cold start at a
 * recycle; recycling still happens exactly at `maxTasksPerChild`, and close
 * leaves no executor behind, spares and those still starting included.
 * JavaScript nodes run in realms (worker threads) of `maxTasksPerChild`
 * nodes, a process per `realmsPerProcess` realms: the process tests use one
 * realm per process. Real executor processes of the built pool (dist),
 * observed through the pool's events, the pids and threads the functions
 * report and /proc.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait-for.js';

type PoolModule = typeof import('../../src/worker/executor-pool.js');
type ExecutorPool = InstanceType<PoolModule['ExecutorPool']>;

const DIST = resolve(import.meta.dirname, '../../dist');
const { ExecutorPool } = (await import(pathToFileURL(join(DIST, 'worker/executor-pool.js')).href)) as PoolModule;
const { silentLogger } = (await import(pathToFileURL(join(DIST, 'shared/logger.js')).href)) as typeof import('../../src/shared/logger.js');
const FIXTURES = resolve(import.meta.dirname, '../fixtures/functions');
const GATE = join(FIXTURES, 'gate.mjs');

/** Live executor processes started by this test process (zombies count as gone). */
function executorChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== process.pid || state === 'Z') continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('worker/executor.js')) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** A pool with a record of what it reported. */
function observedPool(maxTasks: number, realmsPerProcess = 1, env?: NodeJS.ProcessEnv): { pool: ExecutorPool; ready: Array<{ pid: number; typescript: boolean; spare: boolean }>; assigned: Array<{ pid: number; from: string }>; log: string[] } {
  const pool = new ExecutorPool(maxTasks, silentLogger(), env, realmsPerProcess);
  pools.push(pool);
  const ready: Array<{ pid: number; typescript: boolean; spare: boolean }> = [];
  const assigned: Array<{ pid: number; from: string }> = [];
  const log: string[] = [];
  pool.on('executor:ready', (e) => {
    ready.push(e);
    log.push(`ready ${e.pid}`);
  });
  pool.on('executor:assigned', (e) => assigned.push(e));
  pool.on('executor:retired', (e) => log.push(`retired ${e.pid} after ${e.tasks}`));
  return { pool, ready, assigned, log };
}

const pools: ExecutorPool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  await waitFor(() => executorChildren().length === 0, 10_000, 'every executor process to be gone');
});

let dir = '';
async function call(pool: ExecutorPool, exportName: string, inputs: Record<string, unknown> = {}, options: { module?: string; signal?: AbortSignal } = {}): Promise<{ ok: boolean; pid: number; out: Record<string, unknown>; reason?: string }> {
  dir ||= tempDir('fg-pool');
  const r = await pool.run(
    { module: options.module ?? GATE, export: exportName, inputs, ctx: { run_id: 'r', node_id: exportName, n_procs: 1, mem_gb: 0.2, node_dir: dir }, max_output_bytes: 1 << 20 },
    options.signal ?? new AbortController().signal,
    () => undefined,
  );
  return r.ok ? { ok: true, pid: r.pid, out: JSON.parse(r.json) as Record<string, unknown> } : { ok: false, pid: r.pid, out: {}, reason: r.reason };
}

describe('executor pool: replacements start ahead', () => {
  it('has the replacement ready before the old executor retires, so no task after the first waits for a start', async () => {
    const { pool, assigned, log } = observedPool(2);
    const pids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const release = join(tempDir('fg-gate'), 'go');
      const task = call(pool, 'gate', { release });
      if (i % 2 === 1) {
        // The last task of an executor is running: its replacement starts now and is ready before it ends.
        await waitFor(() => log.filter((l) => l.startsWith('ready')).length === (i + 1) / 2 + 1, 30_000, `the replacement of the executor running task ${i} to be ready while that task runs`);
      }
      writeFileSync(release, '');
      const r = await task;
      expect(r.ok).toBe(true);
      pids.push(r.out['pid'] as number);
    }
    const [a, , b, , c] = pids as [number, number, number, number, number];
    // Recycled exactly at the limit: [a a b b c].
    expect(pids).toEqual([a, a, b, b, c]);
    expect(new Set([a, b, c]).size).toBe(3);
    expect(assigned.map((e) => e.from)).toEqual(['cold', 'idle', 'idle', 'idle', 'idle']);
    expect(log.indexOf(`ready ${b}`)).toBeLessThan(log.indexOf(`retired ${a} after 2`));
    expect(log.indexOf(`ready ${c}`)).toBeLessThan(log.indexOf(`retired ${b} after 2`));
  });

  it('starts the replacement before the last task when the tasks left would end before a start', async () => {
    const { pool, log } = observedPool(3);
    const first = await call(pool, 'pid');
    // Timed so far: one start (cold, for the first task). The second task is
    // handed over within a few ms of the first: its one task left after this
    // one would end long before a process started now, so the spare is
    // forked now rather than with the last task.
    const second = await call(pool, 'pid');
    expect(second.pid).toBe(first.pid);
    await waitFor(() => executorChildren().filter((p) => p !== first.pid).length === 1, 10_000, 'the spare forked during the second of three tasks');
    const third = await call(pool, 'pid');
    expect(third.pid).toBe(first.pid);
    const fourth = await call(pool, 'pid');
    expect(fourth.pid).not.toBe(first.pid);
    // Only one replacement per executor.
    expect(log.filter((l) => l.startsWith('ready')).length).toBeLessThanOrEqual(3);
  });

  it('hands the next task to the executor closest to retiring, not to a spare that is ready early', async () => {
    const { pool, ready } = observedPool(4);
    const first = await call(pool, 'pid');
    await call(pool, 'pid');
    // The third task runs until released; the spare, forked by now, gets ready meanwhile.
    const release = join(tempDir('fg-gate'), 'go');
    const third = call(pool, 'gate', { release });
    await waitFor(() => ready.some((e) => e.spare), 30_000, 'the spare to be ready while the third task runs');
    writeFileSync(release, '');
    expect((await third).pid).toBe(first.pid);
    // The first executor runs its fourth and last task; only then the spare takes over.
    expect((await call(pool, 'pid')).pid).toBe(first.pid);
    const fifth = await call(pool, 'pid');
    expect(fifth.pid).toBe(ready.find((e) => e.spare)?.pid);
  });

  it('never lets a process run more than maxTasksPerChild tasks, two at a time', async () => {
    const { pool, log } = observedPool(2);
    const results = await Promise.all(Array.from({ length: 2 }, async () => {
      const pids: number[] = [];
      for (let i = 0; i < 5; i++) pids.push((await call(pool, 'pid')).pid);
      return pids;
    }));
    const perPid = new Map<number, number>();
    for (const p of results.flat()) perPid.set(p, (perPid.get(p) ?? 0) + 1);
    expect(Math.max(...perPid.values())).toBeLessThanOrEqual(2);
    expect(perPid.size).toBeGreaterThanOrEqual(5);
    // Every executor that retired did so at the limit, not before.
    expect(log.filter((l) => l.startsWith('retired')).every((l) => l.endsWith('after 2'))).toBe(true);
  });

  it('starts the replacement of a killed executor at once, and of a TypeScript one with the loader', async () => {
    const { pool, ready, assigned } = observedPool(10);
    const controller = new AbortController();
    const hung = call(pool, 'gate', { release: join(tempDir('fg-gate'), 'never') }, { signal: controller.signal });
    await waitFor(() => assigned.length === 1, 30_000, 'the task to start');
    controller.abort();
    expect((await hung).ok).toBe(false);
    await waitFor(() => ready.some((e) => e.spare), 30_000, 'a replacement of the killed executor');
    expect((await call(pool, 'pid')).ok).toBe(true);
    expect(assigned[1]?.from).toBe('idle');

    const ts = observedPool(1);
    const typed = { module: join(FIXTURES, 'typed.ts') };
    const first = await call(ts.pool, 'typed', {}, typed);
    await waitFor(() => ts.ready.some((e) => e.spare && e.typescript), 30_000, 'a TypeScript spare');
    const second = await call(ts.pool, 'typed', {}, typed);
    expect([first.out['answer'], second.out['answer']]).toEqual([42, 42]);
    expect(second.pid).not.toBe(first.pid);
    expect(ts.assigned.map((e) => e.from)).toEqual(['cold', 'idle']);
  });

  it('leaves no executor behind on close, a spare still starting included', async () => {
    const { pool } = observedPool(1);
    const first = await call(pool, 'pid');
    // The task was its executor's last: the spare was forked before the task returned.
    expect(executorChildren().filter((p) => p !== first.pid).length).toBeGreaterThan(0);
    pool.close();
    await waitFor(() => executorChildren().length === 0, 10_000, 'every executor, the starting spare included, to be gone');
    await expect(call(pool, 'pid')).rejects.toThrow('executor pool is closed');
  });
});

/** Resident memory of a process, in MB. */
function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? '';
  return Number(/(\d+)/.exec(line)?.[1] ?? NaN) / 1024;
}

describe('executor pool: realms', () => {
  it('runs JavaScript nodes in realms of maxTasksPerChild nodes, and replaces the process after realmsPerProcess realms', async () => {
    const { pool, assigned } = observedPool(3, 2);
    const seen: Array<{ pid: number; thread: number }> = [];
    for (let i = 0; i < 8; i++) seen.push((await call(pool, 'realm')).out as { pid: number; thread: number });
    const realms = seen.map((r) => `${r.pid}:${r.thread}`);
    const [a, , , b, , , c] = realms as [string, string, string, string, string, string, string, string];
    // [a a a b b b c c]: a fresh realm every third node, a fresh process after two realms.
    expect(realms).toEqual([a, a, a, b, b, b, c, c]);
    expect(new Set([a, b, c]).size).toBe(3);
    expect(seen.slice(0, 6).every((r) => r.pid === seen[0]?.pid && r.thread > 0)).toBe(true);
    expect(seen[6]?.pid).not.toBe(seen[0]?.pid);
    // The second process was started ahead: only the first node waited for a cold start.
    expect(assigned.map((e) => e.from).filter((f) => f === 'cold')).toEqual(['cold']);
  });

  it('frees what a leaking function held when its realm ends, though the process goes on', async () => {
    const { pool } = observedPool(2, 10);
    const held: number[] = [];
    const pids = new Set<number>();
    const realms = new Set<string>();
    let peak = 0;
    for (let i = 0; i < 8; i++) {
      const r = await call(pool, 'leak');
      held.push(r.out['held_mb'] as number);
      pids.add(r.pid);
      realms.add(`${r.pid}:${String(r.out['thread'])}`);
      peak = Math.max(peak, rssMb(r.pid));
    }
    expect(held).toEqual([40, 80, 40, 80, 40, 80, 40, 80]);
    expect(pids.size).toBe(1);
    expect(realms.size).toBe(4);
    // Kept, the eight leaks would hold 320 MB; a realm holds at most two of them.
    expect(peak).toBeLessThan(240);
  });

  it('has freed a retired realm\'s memory before the node\'s result comes back, so the next node is not charged for it', async () => {
    const { pool } = observedPool(1, 10);
    const before = await call(pool, 'realm');
    const big = await call(pool, 'leak', { mb: 400 });
    expect(big.pid).toBe(before.pid);
    expect(big.out['held_mb']).toBe(400);
    // The pool hands the process its next node (and starts measuring it) as soon as this returns.
    expect(rssMb(big.pid)).toBeLessThan(250);
  });

  it('runs a JavaScript node in a realm even when a TypeScript executor is idle', async () => {
    const { pool } = observedPool(10, 10);
    const typed = await call(pool, 'typed', {}, { module: join(FIXTURES, 'typed.ts') });
    expect(typed.out['answer']).toBe(42);
    const js = await call(pool, 'realm');
    expect(js.pid).not.toBe(typed.pid);
    expect(js.out['thread']).toBeGreaterThan(0);
  });

  it('fails a node whose realm runs out of memory, saying so, and runs the next in a new process', async () => {
    const { pool } = observedPool(10, 10, { ...process.env, NODE_OPTIONS: '--max-old-space-size=64' });
    const first = await call(pool, 'realm');
    const oom = await call(pool, 'hog');
    expect(oom.ok).toBe(false);
    expect(oom.reason).toMatch(/^the realm running the node failed: .*ERR_WORKER_OUT_OF_MEMORY/);
    const next = await call(pool, 'realm');
    expect(next.ok).toBe(true);
    expect(next.pid).not.toBe(first.pid);
  });

  it('fails a node that calls process.exit, saying it ended its realm, and runs the next in a new process', async () => {
    const { pool } = observedPool(10, 10);
    const first = await call(pool, 'realm');
    const exited = await call(pool, 'exits');
    expect(exited).toMatchObject({ ok: false, pid: first.pid, reason: 'the realm running the node ended (exit code 3: process.exit() ends a realm)' });
    // Whatever the node left running (children included) went with its process group.
    const next = await call(pool, 'realm');
    expect(next.ok).toBe(true);
    expect(next.pid).not.toBe(first.pid);
  });
});
