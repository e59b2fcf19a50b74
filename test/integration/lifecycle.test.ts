/**
 * Lifecycles of long-lived components against the real Redis and real
 * processes: a run scheduler that failed (its lease taken) enqueues nothing
 * more; a start that fails after its first connection closes every
 * connection it opened; the TypeScript API stops its worker fleet when the
 * run cannot even be set up.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { run, type Workflow } from 'flowgate';
import { JobChannel } from '../../src/scheduler/job-channel.js';
import type { Incoming } from '../../src/scheduler/incoming.js';
import { RunScheduler } from '../../src/scheduler/scheduler.js';
import { Keys } from '../../src/shared/keys.js';
import { silentLogger } from '../../src/shared/logger.js';
import { openComponents } from '../../src/shared/open-components.js';
import { NODE_QUEUE, nodeJobId } from '../../src/shared/payloads.js';
import { tempDir } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';
import { runTag } from '../../src/shared/run-id.js';
import { makeWorkflow, outcome } from '../unit/support.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

function schedulerFor(prefix: string, runId: string, extra: Partial<ConstructorParameters<typeof RunScheduler>[0]> = {}): RunScheduler {
  const dir = tempDir('lifecycle');
  return new RunScheduler({
    runId,
    workflow: makeWorkflow([{ id: 'a' }, { id: 'b', needs: ['a'] }], 'lifecycle'),
    budget: { n_procs: 2, mem_gb: 2 },
    order: 'tsort',
    raiseInsufficient: true,
    stopOnFirstCrash: false,
    workDir: join(dir, 'work'),
    crashdumpDir: join(dir, 'crashes'),
    memoryMargin: null,
    redisUrl: redisUrl(),
    prefix,
    logger: silentLogger(),
    ...extra,
  });
}

/** Names of the Redis connections flowgate opened under `prefix` (see connectionName). */
async function connectionsUnder(admin: Redis, prefix: string): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return list
    .split('\n')
    .map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? '')
    .filter((name) => name.startsWith(`flowgate:${prefix}:`));
}

describe('run scheduler lifecycle', () => {
  it('after a fatal error (its lease taken) admits and enqueues nothing more, even as events arrive', async () => {
    const prefix = uniquePrefix('fatal');
    const url = redisUrl();
    const admin = new Redis(url);
    cleanups.push(() => deletePrefix(prefix), async () => admin.quit());
    // The test owns the queue channel, so it can listen next to the run: its
    // reader waits for the run to have applied a batch before reading the next.
    const channel = new JobChannel(url, prefix, silentLogger());
    await channel.open(admin);
    cleanups.push(() => channel.close(false));
    const probe: Incoming[] = [];
    channel.subscribe('probe', { incoming: (ev) => probe.push(ev) });
    const queue = new Queue(NODE_QUEUE, { connection: { url }, prefix });
    cleanups.push(() => queue.close());
    const runId = 'fatal-run';
    const s = schedulerFor(prefix, runId, { channel, leaseTtlMs: 600, reconcileIntervalMs: 60_000 });
    cleanups.push(() => s.close());
    await s.start();
    await waitFor(() => queue.getJob(nodeJobId(runId, 0, 1)), 5000, 'the job of node a');
    const ended = s.whenFinished().then(
      () => 'finished',
      (err: unknown) => String(err),
    );
    await admin.set(new Keys(prefix).runLease(runId), 'elsewhere:1', 'PX', 60_000);
    expect(await ended).toMatch(/lost its lease/);
    expect(s.state).toBe('failed');

    // Node a completes now: a running scheduler would admit b and enqueue its job.
    const worker = new Worker(NODE_QUEUE, async () => outcome(), { connection: { url, maxRetriesPerRequest: null }, prefix });
    cleanups.push(() => worker.close());
    await waitFor(async () => (await queue.getJob(nodeJobId(runId, 0, 1)))?.finishedOn, 5000, 'node a completed');
    // Two probe jobs after it: the second one's events are read only after
    // the run has applied the batch holding a's completion.
    for (const n of [1, 2]) {
      await queue.add('probe', {}, { jobId: nodeJobId('probe', 0, n) });
      await waitFor(() => probe.some((ev) => ev.kind === 'completed' && ev.attempt === n), 5000, `probe ${n}`);
    }
    const jobs = await queue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
    expect(jobs.map((j) => j.id).filter((id) => id?.startsWith(runId))).toEqual([nodeJobId(runId, 0, 1)]);
    expect(s.progress().counts).toMatchObject({ queued: 1, waiting: 1 });
    await s.close();
    expect(s.state).toBe('closed');
  });

  it('a start that fails after its first connection closes every connection it opened', async () => {
    const prefix = uniquePrefix('leak');
    const admin = new Redis(redisUrl());
    cleanups.push(() => deletePrefix(prefix), async () => admin.quit());
    // The queue events stream is not a stream: opening the queue channel fails
    // after the run-state connection (and the queue's own) were opened.
    await admin.set(`${prefix}:${NODE_QUEUE}:events`, 'not a stream');
    const s = schedulerFor(prefix, 'leak-run');
    await expect(s.start()).rejects.toThrow(/WRONGTYPE/);
    expect(s.state).toBe('failed');
    expect(openComponents()).toEqual([]);
    await waitFor(async () => (await connectionsUnder(admin, prefix)).length === 0, 3000, 'no connection left under the prefix').catch(async (err: unknown) => {
      throw new Error(`${String(err)}: ${(await connectionsUnder(admin, prefix)).join(', ')}`);
    });
    await s.close();
    expect(s.state).toBe('closed');
  });

  it('close() before start() and twice at once is one close; start() after it does nothing', async () => {
    const s = schedulerFor(uniquePrefix('close'), 'close-run');
    const [p1, p2] = [s.close(), s.close()];
    expect(p1).toBe(p2);
    await p1;
    await s.start();
    expect(s.state).toBe('closed');
  });
});

/** Pids of processes whose command line contains `needle`. */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

describe('run() from the TypeScript API', () => {
  it('stops its worker fleet when the run cannot be set up after the fleet started', async () => {
    const prefix = uniquePrefix('apileak');
    cleanups.push(() => deletePrefix(prefix));
    const runId = `leak-${Math.random().toString(36).slice(2, 8)}`;
    // Looks validated (so it is not parsed again) but has a cycle: the graph
    // is refused while the scheduler is built, after the fleet started.
    const base = makeWorkflow([{ id: 'a', needs: ['b'] }, { id: 'b', needs: ['a'] }], 'cyclic');
    const workflow = base as unknown as Workflow;
    const dir = tempDir('apileak');
    const err = await run(workflow, { n_procs: 1, memory_gb: 1, workers: 1, work_dir: join(dir, 'work'), redis_url: redisUrl(), prefix, run_id: runId }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/cycle/);
    // The fleet's worker processes are named after the run id.
    expect(processesWith(`${hostname()}:api-${runTag(runId)}-`)).toEqual([]);
  });
});
