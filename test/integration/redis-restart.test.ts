/**
 * Redis going away under a running `flowgate run`. Each test starts a
 * redis-server of its own (AOF, fsync on every write) on a free port, so it
 * can stop and restart it without disturbing the shared test Redis:
 *
 * - restarted on the same port and directory (the AOF is reloaded), the run
 *   carries on and every node runs exactly once, including nodes that
 *   finished while Redis was down (the outage is far shorter than the job
 *   lock, 30 s by default: an outage longer than the lock makes BullMQ take
 *   the running jobs for lost and run them again);
 * - never restarted, the run ends with an infrastructure error (exit 3) once
 *   Redis has been unreachable longer than `--redis-outage-ms`, and leaves no
 *   worker behind.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { answersPing, PrivateRedis } from '../helpers/private-redis.js';
import { uniquePrefix } from '../helpers/redis.js';
import { needTool } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait-for.js';

/** redis-server from PATH; without it this file's tests are skipped (CI=true: they fail). */
needTool('redis-server');

/**
 * pids of `flowgate worker` processes of the runs under `prefix`. The prefix
 * is private to one test, so these are that test's workers and nobody else's.
 * (The Redis URL is not on a worker's command line: it may hold a password.)
 */
function workersUnder(prefix: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.includes('worker') && argv.includes(prefix)) pids.push(Number(entry));
  }
  return pids;
}

const redises: PrivateRedis[] = [];
/** Prefixes of the runs started by the current test. */
const runPrefixes: string[] = [];
const runs: CliProcess[] = [];
afterEach(async () => {
  // Whatever happened: no run, no worker and no redis-server left behind.
  for (const run of runs.splice(0)) {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  }
  // Workers whose run died wait for Redis to close cleanly: kill them.
  for (const prefix of runPrefixes.splice(0)) {
    for (const pid of workersUnder(prefix)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const redis of redises.splice(0)) {
    await redis.stop('SIGKILL');
    rmSync(redis.dir, { recursive: true, force: true });
  }
});

/**
 * a -> b1, b2, b3 -> c -> d1, d2 -> e. Every node appends a line to `runs`
 * in its own directory when it starts (a node run twice shows two lines) and
 * writes `finished` just before it exits.
 */
function diamondWorkflow(): { name: string; nodes: object[] } {
  // `worker` records the node's worker process (its parent).
  const step = (id: string, seconds: number, needs: string[] = []): object => ({
    id,
    needs,
    command: `echo run >> runs; echo $FLOWGATE_WORKER_PID > worker; sleep ${seconds}; echo done > finished`,
  });
  return {
    name: 'outage',
    nodes: [
      step('a', 0.3),
      step('b1', 0.5, ['a']),
      step('b2', 0.5, ['a']),
      step('b3', 0.5, ['a']),
      step('c', 0.3, ['b1', 'b2', 'b3']),
      step('d1', 0.4, ['c']),
      step('d2', 0.4, ['c']),
      step('e', 0.3, ['d1', 'd2']),
    ],
  };
}

const MIDDLE = ['b1', 'b2', 'b3'];

/**
 * Starts the diamond on `redis` and returns once b1, b2 and b3 are all
 * running (so `a` has succeeded) and have recorded their workers' pids.
 */
async function startDiamond(redis: PrivateRedis, extraFlags: string[] = []): Promise<{ run: CliProcess; work: string; prefix: string }> {
  const dir = tempDir('fg-outage');
  const path = writeWorkflow(dir, 'wf.json', diamondWorkflow());
  const work = join(dir, 'work');
  const prefix = uniquePrefix('outage');
  runPrefixes.push(prefix);
  // Two workers of concurrency 2: b1, b2 and b3 run at once.
  const run = startCli(
    ['run', path, '--json', '--quiet', '--redis-url', redis.url, '--prefix', prefix, '--work-dir', work, '--workers', '2', '--n-procs', '4', '--memory-gb', '2', ...extraFlags],
    // REDIS_URL is the shared test Redis: make sure nothing silently uses it.
    { env: { REDIS_URL: redis.url } },
  );
  runs.push(run);
  const recorded = (id: string): boolean => {
    const file = join(work, 'outage', id, 'worker');
    return existsSync(file) && /^\d+\n$/.test(readFileSync(file, 'utf8'));
  };
  await waitFor(() => MIDDLE.every(recorded), 20_000, 'b1, b2 and b3 to start');
  return { run, work, prefix };
}

describe('Redis restarted with its AOF in the middle of a run', () => {
  it('the run carries on: exit 0, every node succeeded exactly once, nodes that finished during the outage included', async () => {
    const redis = await PrivateRedis.create(tempDir('fg-redis'));
    redises.push(redis);
    await redis.start();
    const { run, work, prefix } = await startDiamond(redis);

    await redis.stop('SIGTERM');
    // The middle nodes finish while Redis is down: their workers must report
    // them once it is back.
    await waitFor(() => MIDDLE.every((id) => existsSync(join(work, 'outage', id, 'finished'))), 20_000, 'b1, b2 and b3 to finish during the outage');
    expect(await answersPing(redis.port)).toBe(false);
    await redis.start();

    const res = await run.done;
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(summary.counts).toMatchObject({ succeeded: 8, failed: 0, skipped: 0, cancelled: 0 });
    for (const n of summary.nodes) {
      expect(readFileSync(join(work, 'outage', n.id, 'runs'), 'utf8'), `${n.id} ran more than once`).toBe('run\n');
      expect(n, n.id).toMatchObject({ status: 'succeeded', attempts: 1, stalls: 0 });
    }

    // The run's state written before the restart came back from the AOF and
    // was completed after it.
    const client = new Redis(redis.url);
    try {
      const meta = await client.hgetall(`${prefix}:fg:run:${summary.run_id}:meta`);
      expect(meta['status']).toBe('succeeded');
      expect(Number(meta['started_ms'])).toBe(summary.started_ms);
      expect((JSON.parse(meta['summary'] ?? '{}') as RunSummary).counts.succeeded).toBe(8);
    } finally {
      client.disconnect();
    }
  });
});

describe('Redis stopped for good in the middle of a run', () => {
  it('ends the run with an infrastructure error (exit 3) once Redis has been unreachable past --redis-outage-ms', async () => {
    const redis = await PrivateRedis.create(tempDir('fg-redis'));
    redises.push(redis);
    await redis.start();
    const { run, work, prefix } = await startDiamond(redis, ['--redis-outage-ms', '3000']);
    const workers = [...new Set(MIDDLE.map((id) => Number(readFileSync(join(work, 'outage', id, 'worker'), 'utf8').trim())))];

    await redis.stop('SIGTERM');
    // Deadline 3 s, plus a bounded teardown.
    await waitFor(() => run.child.exitCode !== null || run.child.signalCode !== null, 30_000, 'the run to give up on Redis');
    expect(run.child.exitCode, run.stderr()).toBe(3);
    // One clear line for humans, besides any JSON log lines.
    const plain = run.stderr().split('\n').filter((l) => l.startsWith('flowgate:'));
    expect(plain.join('\n')).toMatch(/^flowgate: error: .*redis/im);
    // Nothing is left behind: the fleet's workers are gone too.
    await waitFor(() => workersUnder(prefix).length === 0, 10_000, 'the workers to exit');
    for (const pid of workers) {
      expect(() => process.kill(pid, 0), `worker ${pid} still alive`).toThrow();
    }
  });
});

describe('Redis back after the run gave up', () => {
  it('flowgate resume finishes the run without running again the nodes that finished while Redis was away', async () => {
    const redis = await PrivateRedis.create(tempDir('fg-redis'));
    redises.push(redis);
    await redis.start();
    const { run, work, prefix } = await startDiamond(redis, ['--redis-outage-ms', '3000']);

    await redis.stop('SIGTERM');
    await waitFor(() => MIDDLE.every((id) => existsSync(join(work, 'outage', id, 'finished'))), 20_000, 'b1, b2 and b3 to finish during the outage');
    await waitFor(() => run.child.exitCode !== null || run.child.signalCode !== null, 30_000, 'the run to give up on Redis');
    expect(run.child.exitCode, run.stderr()).toBe(3);
    const runId = /flowgate resume ([\w.-]+)/.exec(run.stderr())?.[1];
    expect(runId).toBeDefined();
    await waitFor(() => workersUnder(prefix).length === 0, 10_000, 'the workers to exit');

    await redis.start();
    const res = await runCli(['resume', runId as string, '--json', '--quiet', '--redis-url', redis.url, '--prefix', prefix], { env: { REDIS_URL: redis.url } });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.counts).toMatchObject({ succeeded: 8, failed: 0, skipped: 0, cancelled: 0 });
    for (const n of summary.nodes) {
      expect(readFileSync(join(work, 'outage', n.id, 'runs'), 'utf8'), `${n.id} ran more than once`).toBe('run\n');
    }
  });
});

describe('flowgate run killed, then Redis gone for good', () => {
  it('its fleet workers finish their running node and exit, though they can no longer close cleanly', async () => {
    const redis = await PrivateRedis.create(tempDir('fg-redis'));
    redises.push(redis);
    await redis.start();
    const dir = tempDir('fg-linger');
    const gate = join(dir, 'gate');
    const started = join(dir, 'started');
    const path = writeWorkflow(dir, 'wf.json', { name: 'linger', nodes: [{ id: 'slow', command: `touch ${started}; while [ ! -e ${gate} ]; do sleep 0.05; done` }] });
    const prefix = uniquePrefix('linger');
    runPrefixes.push(prefix);
    const run = startCli(['run', path, '--json', '--quiet', '--redis-url', redis.url, '--prefix', prefix, '--work-dir', join(dir, 'work'), '--workers', '1'], { env: { REDIS_URL: redis.url } });
    runs.push(run);
    await waitFor(() => existsSync(started), 20_000, 'slow to start');
    const workers = workersUnder(prefix);
    expect(workers.length).toBe(1);
    run.child.kill('SIGKILL');
    await redis.stop('SIGKILL');
    writeWorkflow(dir, 'gate', '1');
    // Graceful: the node finished; then the worker ends within its forced-exit bound, Redis or not.
    await waitFor(() => workersUnder(prefix).length === 0, 20_000, 'the orphaned fleet worker to exit');
  });
});

describe('a worker after a long Redis outage', () => {
  it('finds the restarted Redis within seconds (every connection retries at least once a second)', async () => {
    const redis = await PrivateRedis.create(tempDir('fg-redis'));
    redises.push(redis);
    await redis.start();
    const prefix = uniquePrefix('reconnect');
    runPrefixes.push(prefix);
    const worker = startCli(['worker', '--concurrency', '1', '--heartbeat-ms', '500', '--prefix', prefix], { env: { REDIS_URL: redis.url, FLOWGATE_LOG_LEVEL: 'info' } });
    runs.push(worker);
    await waitFor(() => worker.stderr().includes('worker:started'), 20_000, 'the worker to start');
    await redis.stop();
    // The outage is the fault injected: long enough for BullMQ's own back-off to reach 20 s.
    const stoppedAt = Date.now();
    await waitFor(() => Date.now() - stoppedAt >= 20_000, 25_000, 'a 20 s outage');
    await redis.start();
    // A job nobody admitted: the worker refuses it as soon as its connections are back.
    const queue = new Queue('nodes', { connection: { url: redis.url }, prefix });
    try {
      const job = await queue.add('probe', { run_id: 'none', workflow: 'x', node_id: 'x', node_index: 0, attempt: 1, token: 't' });
      const reason = await waitFor(async () => {
        const j = await queue.getJob(job.id ?? '');
        return j !== undefined && (await j.getState()) === 'failed' ? j.failedReason : undefined;
      }, 5000, 'the worker to take a job after Redis came back');
      expect(reason).toContain('refused by worker');
    } finally {
      await queue.close();
    }
  }, 60_000);
});

describe('Redis away for longer than the run lease', () => {
  it('the run keeps its own lease (renewals queued during the outage do not race), finishes with exit 0, and nothing runs twice', async () => {
    const redis = await PrivateRedis.create(tempDir('fg-redis'));
    redises.push(redis);
    await redis.start();
    const { run, work } = await startDiamond(redis);
    await redis.stop('SIGTERM');
    // Longer than the run lease (15 s): it expires meanwhile; shorter than the job lock (30 s).
    const stoppedAt = Date.now();
    await waitFor(() => Date.now() - stoppedAt >= 20_000, 25_000, 'a 20 s outage');
    await redis.start();
    const res = await run.done;
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toContain('lost its lease');
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    for (const n of summary.nodes) {
      expect(readFileSync(join(work, 'outage', n.id, 'runs'), 'utf8'), `${n.id} ran more than once`).toBe('run\n');
    }
  }, 90_000);
});
