/**
 * A worker runs a node only if the scheduler admitted it: whatever anyone
 * does to the queue (Bull Board's add, retry, promote, obliterate, clean,
 * pause call these same Queue methods), no command runs outside the
 * scheduler and no node runs twice. Nodes append to a ledger file; the
 * ledger is the proof.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { startCli, stopGroup, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { nodeOf } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Starts `flowgate run` of `wf` under `prefix`, with a queue and a Redis client on the same prefix; all cleaned up after the test. */
function startRun(dir: string, prefix: string, wf: object): { p: CliProcess; queue: Queue; redis: Redis } {
  const path = writeWorkflow(dir, 'wf.json', wf);
  const p = startCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '2', '--reconcile-interval-ms', '500'], {
    env: { REDIS_URL: redisUrl() },
  });
  const queue = new Queue('nodes', { connection: { url: redisUrl() }, prefix });
  const redis = new Redis(redisUrl());
  cleanups.push(async () => {
    // The whole group (the run and its fleet) has exited before its keys go.
    await stopGroup(p, 0);
    await queue.close();
    redis.disconnect();
    await deletePrefix(prefix);
  });
  return { p, queue, redis };
}

/** A live run: `quick` finishes at once, `slow` waits for a release file, `after` needs `slow`. */
async function startLiveRun(): Promise<{ dir: string; prefix: string; queue: Queue; redis: Redis; runId: string; release: () => void; done: Promise<RunSummary>; ledger: () => string[] }> {
  const dir = tempDir('fg-claim');
  const prefix = uniquePrefix('claim');
  const ledgerPath = join(dir, 'ledger');
  const releasePath = join(dir, 'release');
  const append = `echo "$FLOWGATE_NODE_ID" >> ${ledgerPath}`;
  const wf = {
    name: 'claims',
    nodes: [
      { id: 'quick', command: append },
      { id: 'slow', command: `${append}; while [ ! -e ${releasePath} ]; do sleep 0.05; done` },
      { id: 'after', command: append, needs: ['slow'] },
    ],
  };
  const { p, queue, redis } = startRun(dir, prefix, wf);
  const ledger = (): string[] => (existsSync(ledgerPath) ? readFileSync(ledgerPath, 'utf8').trim().split('\n').filter((l) => l !== '') : []);
  await waitFor(() => ledger().includes('slow') && ledger().includes('quick'), 20_000, 'quick and slow to start');
  const runId = await waitFor(async () => (await redis.zrange(`${prefix}:fg:runs`, 0, -1))[0], 5000, 'the run id');
  const done = p.done.then((r) => {
    if (r.stdout.trim() === '') throw new Error(`no summary (exit ${String(r.code)}):\n${r.stderr}`);
    return JSON.parse(r.stdout) as RunSummary;
  });
  return { dir, prefix, queue, redis, runId, release: () => writeWorkflow(dir, 'release', '1'), done, ledger };
}

/** Waits until a job has failed and returns its reason. */
async function failedReason(queue: Queue, jobId: string): Promise<string> {
  return waitFor(async () => {
    const job = await queue.getJob(jobId);
    return job !== undefined && (await job.getState()) === 'failed' ? job.failedReason : undefined;
  }, 15_000, `job ${jobId} to fail`);
}

function count(lines: string[], id: string): number {
  return lines.filter((l) => l === id).length;
}

describe('the worker claim path', () => {
  it('runs nothing for jobs the scheduler did not admit: forged payloads, unknown runs, guessed tokens', async () => {
    const run = await startLiveRun();
    const marker = join(run.dir, 'pwned');
    // The old job shape: a command and a directory in the payload.
    const forged = await run.queue.add('evil', { run_id: run.runId, workflow: 'claims', node_id: 'quick', attempt: 1, command: `touch ${marker}`, function: null, env: {}, node_dir: run.dir, n_procs: 1, mem_gb: 0.1, granted_procs: 1, granted_mem_gb: 0.1, timeout_s: null, memory_margin: null }, { jobId: 'forged-1' });
    // Pointers that look right but are not admissions.
    const unknownRun = await run.queue.add('evil', { run_id: 'no-such-run', workflow: 'x', node_id: 'quick', node_index: 0, attempt: 1, token: 'abc' }, { jobId: 'forged-2' });
    const guessed = await run.queue.add('evil', { run_id: run.runId, workflow: 'claims', node_id: 'slow', node_index: 1, attempt: 1, token: 'guessed' }, { jobId: 'forged-3' });
    const nextAttempt = await run.queue.add('evil', { run_id: run.runId, workflow: 'claims', node_id: 'after', node_index: 2, attempt: 1, token: 'guessed' }, { jobId: 'forged-4' });

    expect(await failedReason(run.queue, forged.id ?? '')).toMatch(/^refused by worker: invalid node job: /);
    expect(await failedReason(run.queue, unknownRun.id ?? '')).toBe('refused by worker: not admitted by the scheduler (no such run)');
    expect(await failedReason(run.queue, guessed.id ?? '')).toBe('refused by worker: not admitted by the scheduler (the admission token does not match)');
    expect(await failedReason(run.queue, nextAttempt.id ?? '')).toBe('refused by worker: not admitted by the scheduler (node 2 is not admitted)');
    run.release();
    const summary = await run.done;
    expect(summary.status).toBe('succeeded');
    expect(existsSync(marker)).toBe(false);
    expect(run.ledger().sort()).toEqual(['after', 'quick', 'slow']);
    expect(summary.nodes.map((n) => n.attempts)).toEqual([1, 1, 1]);
  });

  it('retrying a finished node job runs nothing; obliterating the queue mid-run loses nothing and runs nothing twice', async () => {
    const run = await startLiveRun();
    const quickJob = `${run.runId}.0.1`;
    await waitFor(async () => (await run.queue.getJob(quickJob))?.finishedOn !== undefined, 10_000, 'quick to complete');
    // Bull Board's "retry" of a completed job.
    const job = await run.queue.getJob(quickJob);
    await job?.retry('completed');
    // Refused either way: by the claim (the attempt's outcome is recorded) or,
    // once the scheduler has settled the node, because nothing admits it.
    expect(await failedReason(run.queue, quickJob)).toMatch(/^refused by worker: not admitted by the scheduler \((node 0 is not admitted|attempt 1 has already run \(succeeded\))\)$/);
    // "Obliterate" while slow runs: every job of the queue is gone, the running one included.
    await run.queue.obliterate({ force: true });
    expect(await run.queue.getJob(`${run.runId}.1.1`)).toBeUndefined();
    run.release();
    const summary = await run.done;
    expect(summary.status).toBe('succeeded');
    // slow finished with its job gone: its outcome came from the run store, and after ran once.
    expect(nodeOf(summary, 'slow')).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(nodeOf(summary, 'after')).toMatchObject({ status: 'succeeded', attempts: 1 });
    const lines = run.ledger();
    expect([count(lines, 'quick'), count(lines, 'slow'), count(lines, 'after')]).toEqual([1, 1, 1]);
  });

  it('a job added again while its attempt runs elsewhere is refused, and the run still ends with one execution', async () => {
    const run = await startLiveRun();
    const slowJob = `${run.runId}.1.1`;
    const admission = JSON.parse((await run.redis.hget(`${run.prefix}:fg:run:${run.runId}:admits`, '1')) ?? '{}') as { token: string };
    // Someone who read the admission token still cannot start a second copy:
    // the attempt is claimed by a live worker.
    await run.queue.obliterate({ force: true });
    const copy = await run.queue.add('copy', { run_id: run.runId, workflow: 'claims', node_id: 'slow', node_index: 1, attempt: 1, token: admission.token }, { jobId: slowJob });
    expect(await failedReason(run.queue, copy.id ?? '')).toMatch(/^refused by worker: not admitted by the scheduler \(already claimed by worker /);
    run.release();
    const summary = await run.done;
    expect(summary.status).toBe('succeeded');
    expect(count(run.ledger(), 'slow')).toBe(1);
  });

  it('a paused queue delays nodes but never loses or doubles them', async () => {
    const run = await startLiveRun();
    await run.queue.pause();
    run.release();
    // after is admitted but cannot start while the queue is paused.
    await waitFor(async () => (await run.queue.getJob(`${run.runId}.2.1`)) !== undefined, 10_000, 'after to be enqueued');
    expect(run.ledger()).not.toContain('after');
    await run.queue.resume();
    const summary = await run.done;
    expect(summary.status).toBe('succeeded');
    expect(count(run.ledger(), 'after')).toBe(1);
  });

  it('promoting a delayed retry runs only that admitted attempt, once; retrying the failed attempt and cleaning finished jobs run nothing', async () => {
    const dir = tempDir('fg-claim');
    const prefix = uniquePrefix('claim');
    const ledgerPath = join(dir, 'ledger');
    const marker = join(dir, 'failed-once');
    const wf = {
      name: 'promote',
      nodes: [
        // Fails its first attempt; the retry waits 60 s in BullMQ's delayed set.
        { id: 'flaky', retries: 1, retry_delay_s: 60, command: `echo "$FLOWGATE_NODE_ID" >> ${ledgerPath}; test -e ${marker} || { touch ${marker}; exit 3; }` },
        { id: 'quick', command: `echo "$FLOWGATE_NODE_ID" >> ${ledgerPath}` },
      ],
    };
    const { p, queue, redis } = startRun(dir, prefix, wf);
    const runId = await waitFor(async () => (await redis.zrange(`${prefix}:fg:runs`, 0, -1))[0], 20_000, 'the run id');
    const delayed = await waitFor(async () => {
      const job = await queue.getJob(`${runId}.0.2`);
      return job !== undefined && (await job.getState()) === 'delayed' ? job : undefined;
    }, 20_000, 'the delayed retry');
    await waitFor(async () => (await queue.getJob(`${runId}.1.1`))?.finishedOn !== undefined, 10_000, 'quick to finish');
    // Bull Board's "clean" of completed jobs, and "retry" of the failed first attempt.
    await queue.clean(0, 1000, 'completed');
    const failedFirst = await queue.getJob(`${runId}.0.1`);
    await failedFirst?.retry('failed');
    expect(await failedReason(queue, `${runId}.0.1`)).toBe('refused by worker: not admitted by the scheduler (attempt 1 is not the admitted attempt (2))');
    // "Promote": the admitted second attempt runs now instead of in 60 s.
    await delayed.promote();
    const res = await p.done;
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(nodeOf(summary, 'flaky')).toMatchObject({ status: 'succeeded', attempts: 2 });
    const lines = readFileSync(ledgerPath, 'utf8').trim().split('\n');
    expect([count(lines, 'flaky'), count(lines, 'quick')]).toEqual([2, 1]);
  });
});
