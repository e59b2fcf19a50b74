/**
 * One run per node directory at a time: two runs of one workflow in one work
 * dir never run a node in the same directory at once. The second waits
 * without holding budget ("node directory held by run A"), then takes the
 * first run's result from the cache.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, keysUnder, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { nodeOf } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function summaryOf(p: CliProcess): Promise<RunSummary> {
  return p.done.then((r) => {
    if (r.stdout.trim() === '') throw new Error(`no summary (exit ${String(r.code)}):\n${r.stderr}`);
    return JSON.parse(r.stdout) as RunSummary;
  });
}

describe('node directory locks', () => {
  it('a second run of the same node waits for the first, holding no budget, then uses its cached result', async () => {
    const dir = tempDir('fg-dirlock');
    const prefix = uniquePrefix('dirlock');
    const redis = new Redis(redisUrl());
    const procs: CliProcess[] = [];
    cleanups.push(async () => {
      for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
      redis.disconnect();
      await deletePrefix(prefix);
    });
    const ledger = join(dir, 'ledger');
    const release = join(dir, 'release');
    const wf = {
      name: 'shared',
      nodes: [
        // Writes its run id into its directory and waits: another run must not run here meanwhile.
        { id: 'r', command: `echo "$FLOWGATE_RUN_ID" >> ${ledger}; echo "$FLOWGATE_RUN_ID" > owner; while [ ! -e ${release} ]; do sleep 0.05; done`, outputs: { owner: 'owner' } },
        { id: 'free', command: ['true'] },
      ],
    };
    const path = writeWorkflow(dir, 'wf.json', wf);
    // The safety sweep is a minute away: B takes the directory because A's release is announced to it.
    const args = ['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '1', '--reconcile-interval-ms', '60000'];
    const a = startCli(args, { env: { REDIS_URL: redisUrl() } });
    procs.push(a);
    await waitFor(() => existsSync(ledger), 20_000, 'run A to start r');
    const runA = readFileSync(ledger, 'utf8').trim();
    const b = startCli([...args, '--force'], { env: { REDIS_URL: redisUrl() } });
    procs.push(b);
    // B waits on r's directory with the reason, holding nothing, while its other node runs.
    const runB = await waitFor(async () => (await redis.zrange(`${prefix}:fg:runs`, 0, -1)).find((id) => id !== runA), 20_000, 'run B to start');
    const waiting = await waitFor(async () => {
      const raw = await redis.get(`${prefix}:fg:run:${runB}:waiting`);
      const w = raw === null ? undefined : (JSON.parse(raw) as { waiting: Array<{ id: string; reason: string }>; free: { n_procs: number } });
      return w?.waiting.some((x) => x.id === 'r') === true ? w : undefined;
    }, 20_000, 'B to report r waiting');
    expect(waiting.waiting.find((x) => x.id === 'r')?.reason).toBe(`node directory held by run ${runA}`);
    expect(await redis.hget(`${prefix}:fg:run:${runB}:holds`, '0')).toBeNull();
    writeWorkflow(dir, 'release', '1');
    const [sa, sb] = await Promise.all([summaryOf(a), summaryOf(b)]);
    expect(sa.status).toBe('succeeded');
    expect(sb.status).toBe('succeeded');
    expect(nodeOf(sb, 'r').status).toBe('cached');
    // r ran once, for A; its directory still says so.
    expect(readFileSync(ledger, 'utf8').trim().split('\n')).toEqual([runA]);
    expect(readFileSync(join(dir, 'work', 'shared', 'r', 'owner'), 'utf8').trim()).toBe(runA);
    // No lock is left behind.
    expect((await keysUnder(prefix)).filter((k) => k.includes(':fg:dirlock:'))).toEqual([]);
  });

  it('flowgate run refuses to start next to an unfinished run of the same workflow and work dir, naming it and what to do', async () => {
    const dir = tempDir('fg-dirlock');
    const prefix = uniquePrefix('dirlock');
    const procs: CliProcess[] = [];
    cleanups.push(async () => {
      for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await deletePrefix(prefix);
    });
    const started = join(dir, 'started');
    // The node records its process group and its worker: killing `flowgate run` leaves both (they are cleaned up here).
    // The first execution waits; any later one ends at once.
    const path = writeWorkflow(dir, 'wf.json', { name: 'once', nodes: [{ id: 'long', command: `if [ -e ${started} ]; then exit 0; fi; echo "$$ $FLOWGATE_WORKER_PID" > ${started}; sleep 30` }] });
    cleanups.push(async () => {
      const [group, worker] = readFileSync(started, 'utf8').trim().split(' ').map(Number);
      for (const kill of [() => process.kill(-(group as number), 'SIGKILL'), () => process.kill(worker as number, 'SIGKILL')]) {
        try {
          kill();
        } catch {
          // Already gone.
        }
      }
    });
    const args = ['run', path, '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work')];
    const env = { REDIS_URL: redisUrl() };
    const a = startCli(args, { env });
    procs.push(a);
    await waitFor(() => existsSync(started) && readFileSync(started, 'utf8').includes(' '), 20_000, 'run A to start');
    const runA = await waitFor(async () => {
      const redis = new Redis(redisUrl());
      try {
        return (await redis.zrange(`${prefix}:fg:runs`, 0, -1))[0];
      } finally {
        redis.disconnect();
      }
    }, 5000, 'run A id');
    const before = await keysUnder(prefix);
    const b = startCli(args, { env });
    procs.push(b);
    const rb = await b.done;
    expect(rb.code).toBe(2);
    expect(rb.stderr).toContain(`run ${runA} of workflow "once" in work dir ${join(dir, 'work')} is still running`);
    expect(rb.stderr).toContain('--force');
    expect((await keysUnder(prefix)).sort()).toEqual(before.sort());
    // A dies without finishing: the next start points to resume.
    const exited = new Promise((resolve) => a.child.once('exit', resolve));
    a.child.kill('SIGKILL');
    await exited;
    const c = startCli(args, { env });
    procs.push(c);
    const rc = await c.done;
    expect(rc.code).toBe(2);
    expect(rc.stderr).toContain(`continue it with \`flowgate resume ${runA}\``);

    // --force starts a new run, whose node waits: A's orphaned worker still runs it there.
    const d = startCli([...args, '--force', '--json'], { env });
    procs.push(d);
    const redis = new Redis(redisUrl());
    try {
      const runD = await waitFor(async () => (await redis.zrange(`${prefix}:fg:runs`, 0, -1)).find((id) => id !== runA), 20_000, 'run D to start');
      await waitFor(async () => (await redis.get(`${prefix}:fg:run:${runD}:waiting`))?.includes(`node directory held by run ${runA}`), 20_000, 'D to wait for the directory');
    } finally {
      redis.disconnect();
    }
    // The orphan's node ends: its worker lets the directory go, and D runs the node.
    const killedAt = Date.now();
    const [group] = readFileSync(started, 'utf8').trim().split(' ').map(Number);
    process.kill(-(group as number), 'SIGKILL');
    const rd = await d.done;
    expect(rd.code, rd.stderr).toBe(0);
    const summary = JSON.parse(rd.stdout) as RunSummary;
    expect(nodeOf(summary, 'long').status).toBe('succeeded');
    expect(nodeOf(summary, 'long').start_ms ?? 0).toBeGreaterThanOrEqual(killedAt);
  });
});
