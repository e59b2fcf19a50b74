/**
 * Node directory locks taken ahead: while a node runs, the run already holds
 * the directory of a successor that waits for it alone, so that successor
 * becoming ready costs no round trip. A successor that never runs lets its
 * directory go, and a directory another run holds is left to it: the node
 * waits for it when it becomes ready, with the reason, as any other.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { dirLock } from '../../src/shared/dir-lock.js';
import { Keys } from '../../src/shared/keys.js';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, keysUnder, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { nodeOf } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Setup {
  dir: string;
  prefix: string;
  redis: Redis;
  /** Starts the run; `a` waits for `release` and exits with the number written there. */
  start(): CliProcess;
  nodeDir(id: string): string;
}

function setup(): Setup {
  const dir = tempDir('fg-lockahead');
  const prefix = uniquePrefix('lockahead');
  const redis = new Redis(redisUrl());
  const procs: CliProcess[] = [];
  cleanups.push(async () => {
    // The whole group: a run stopped halfway leaves its worker fleet otherwise.
    for (const p of procs) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      try {
        process.kill(-(p.child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
      await p.done;
    }
    redis.disconnect();
    await deletePrefix(prefix);
  });
  const release = join(dir, 'release');
  const wf = {
    name: 'ahead',
    nodes: [
      { id: 'a', command: `echo "$FLOWGATE_RUN_ID" > ${join(dir, 'started')}; while [ ! -e ${release} ]; do sleep 0.05; done; exit $(cat ${release})` },
      { id: 'b', command: ['true'], needs: ['a'] },
      { id: 'c', command: ['true'], needs: ['b'] },
      { id: 'q', command: ['true'] },
      { id: 'j', command: ['true'], needs: ['q', 'a'] },
    ],
  };
  const path = writeWorkflow(dir, 'wf.json', wf);
  const args = ['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '2'];
  return {
    dir,
    prefix,
    redis,
    start: () => {
      const p = startCli(args, { env: { REDIS_URL: redisUrl() } });
      procs.push(p);
      return p;
    },
    nodeDir: (id) => join(dir, 'work', 'ahead', id),
  };
}

function summaryOf(p: CliProcess): Promise<RunSummary> {
  return p.done.then((r) => {
    if (r.stdout.trim() === '') throw new Error(`no summary (exit ${String(r.code)}):\n${r.stderr}`);
    return JSON.parse(r.stdout) as RunSummary;
  });
}

/** The run id of the run whose node `a` started. */
async function started(s: Setup): Promise<string> {
  const file = join(s.dir, 'started');
  await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').trim() !== '', 20_000, 'node a to start');
  return readFileSync(file, 'utf8').trim();
}

describe('node directory locks taken ahead', () => {
  it('while a node runs, its run holds the directories of the successors waiting for it alone, and no lock outlives the run', async () => {
    const s = setup();
    const run = s.start();
    const runId = await started(s);
    const b = dirLock(s.prefix, runId, 1, s.nodeDir('b'));
    const c = dirLock(s.prefix, runId, 2, s.nodeDir('c'));
    expect(await s.redis.get(b.key)).toBe(b.value);
    // c waits for b, which is not in flight yet: its directory is not taken.
    expect(await s.redis.get(c.key)).toBeNull();
    // j waits for q and a: once q has succeeded, for a alone, which runs.
    const j = dirLock(s.prefix, runId, 4, s.nodeDir('j'));
    await waitFor(async () => (await s.redis.get(j.key)) === j.value, 20_000, "j's directory to be taken once q succeeded");
    writeWorkflow(s.dir, 'release', '0');
    const summary = await summaryOf(run);
    expect(summary.status).toBe('succeeded');
    expect((await keysUnder(s.prefix)).filter((k) => k.includes(':fg:dirlock:'))).toEqual([]);
  });

  it('a successor skipped because its predecessor failed lets the directory taken ahead go', async () => {
    const s = setup();
    const run = s.start();
    const runId = await started(s);
    const b = dirLock(s.prefix, runId, 1, s.nodeDir('b'));
    expect(await s.redis.get(b.key)).toBe(b.value);
    writeWorkflow(s.dir, 'release', '3');
    const summary = await summaryOf(run);
    expect(summary.status).toBe('failed');
    expect(nodeOf(summary, 'b').status).toBe('skipped');
    expect(nodeOf(summary, 'j').status).toBe('skipped');
    expect((await keysUnder(s.prefix)).filter((k) => k.includes(':fg:dirlock:'))).toEqual([]);
  });

  it('a successor whose directory another run holds waits for it when it becomes ready, with the reason, then runs', async () => {
    const s = setup();
    // Another run holds b's directory (any index and path: only the run id counts).
    const foreign = { key: dirLock(s.prefix, 'x', 1, s.nodeDir('b')).key, value: `other-run|1|${s.nodeDir('b')}` };
    await s.redis.set(foreign.key, foreign.value, 'PX', 60_000);
    const run = s.start();
    const runId = await started(s);
    expect(await s.redis.get(foreign.key)).toBe(foreign.value);
    writeWorkflow(s.dir, 'release', '0');
    const waiting = await waitFor(async () => {
      const raw = await s.redis.get(`${s.prefix}:fg:run:${runId}:waiting`);
      const w = raw === null ? undefined : (JSON.parse(raw) as { waiting: Array<{ id: string; reason: string }> });
      return w?.waiting.find((x) => x.id === 'b');
    }, 20_000, 'b to wait for the directory');
    expect(waiting.reason).toBe('node directory held by run other-run');
    expect(await s.redis.get(foreign.key)).toBe(foreign.value);
    await s.redis.del(foreign.key);
    await s.redis.publish(new Keys(s.prefix).dirsReleased(), '{"type":"dirs-released"}');
    const summary = await summaryOf(run);
    expect(summary.status).toBe('succeeded');
    expect(nodeOf(summary, 'b').status).toBe('succeeded');
    expect((await keysUnder(s.prefix)).filter((k) => k.includes(':fg:dirlock:'))).toEqual([]);
  });
});
