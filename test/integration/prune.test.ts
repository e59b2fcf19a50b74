/**
 * `flowgate prune` and retention as a user sees them: real `flowgate run`,
 * `scheduler`, `worker`, `submit` and `prune` processes against the real
 * Redis. A run's age is set by moving its stored finish time back (waiting
 * days is not an option); everything else is what the commands did.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Keys } from '../../src/shared/keys.js';
import { stopGroup, runCli, startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, keysUnder, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

const DAY = 86_400_000;
const prefixes: string[] = [];
const started: CliProcess[] = [];
let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl());
});
afterAll(() => redis.disconnect());
afterEach(async () => {
  // Each with its whole group, waited for: nothing outlives the test.
  await Promise.all(started.splice(0).map((p) => stopGroup(p)));
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

interface Env {
  prefix: string;
  dir: string;
  keys: Keys;
  env: NodeJS.ProcessEnv;
}

function setup(label: string): Env {
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  return { prefix, dir: tempDir(label), keys: new Keys(prefix), env: { REDIS_URL: redisUrl(), FLOWGATE_PREFIX: prefix } };
}

const twoNodes = { name: 'pr', nodes: [{ id: 'a', command: ['true'] }, { id: 'b', command: ['true'], needs: ['a'] }] };

/** `flowgate run` to the end; each run gets its own work dir unless one is given, so its nodes really run. */
async function run(e: Env, runId: string, opts: { workflow?: object; workDir?: string; flags?: string[] } = {}): Promise<void> {
  const wf = writeWorkflow(e.dir, `${runId}.json`, opts.workflow ?? twoNodes);
  const res = await runCli(['run', wf, '--quiet', '--run-id', runId, '--n-procs', '2', '--memory-gb', '2', '--work-dir', opts.workDir ?? join(e.dir, runId), ...(opts.flags ?? ['--retain-runs', 'off', '--retain-for', 'off'])], { env: e.env });
  expect(res.code, res.stderr).toBe(0);
}

/** Makes a finished run look as if it finished `days` ago. */
async function age(e: Env, runId: string, days: number): Promise<void> {
  await redis.hset(e.keys.runMeta(runId), 'finished_ms', String(Date.now() - days * DAY));
}

async function listed(e: Env): Promise<string[]> {
  return (await redis.zrange(e.keys.runs(), 0, -1)).sort();
}

/** Keys under the prefix that belong to the run (its own and its BullMQ jobs). */
async function keysOfRun(e: Env, runId: string): Promise<string[]> {
  return (await keysUnder(e.prefix)).filter((k) => k.includes(`:fg:run:${runId}:`) || k.includes(`:nodes:${runId}.`));
}

async function prune(e: Env, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(['prune', ...args], { env: e.env });
}

describe('flowgate prune', () => {
  it('removes finished runs older than the age except the newest N: keys, index entry and every job', async () => {
    const e = setup('prune-age');
    for (const id of ['r1', 'r2', 'r3', 'r4']) await run(e, id);
    await age(e, 'r1', 12);
    await age(e, 'r2', 11);
    await age(e, 'r3', 10);
    expect((await keysOfRun(e, 'r1')).some((k) => k.includes(':nodes:r1.0.1'))).toBe(true);

    const res = await prune(e, ['--older-than', '7d', '--keep', '2', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as { removed_runs: number; removed_jobs: number; runs: Array<{ run_id: string }> };
    expect(report.runs.map((r) => r.run_id).sort()).toEqual(['r1', 'r2']);
    expect(report.removed_runs).toBe(2);
    expect(report.removed_jobs).toBe(4);
    expect(await listed(e)).toEqual(['r3', 'r4']);
    expect(await keysOfRun(e, 'r1')).toEqual([]);
    expect(await keysOfRun(e, 'r2')).toEqual([]);
    expect((await keysOfRun(e, 'r3')).length).toBeGreaterThan(2);

    // Without --keep the age alone decides: r3 goes, r4 (just finished) stays.
    expect((await prune(e, ['--older-than', '2w'])).stdout).toContain('removed 0 runs');
    const again = await prune(e, ['--older-than', '7d']);
    expect(again.stdout).toMatch(/removed 1 run, 2 jobs/);
    expect(await listed(e)).toEqual(['r4']);
    const status = await runCli(['status', '--json'], { env: e.env });
    expect((JSON.parse(status.stdout) as Array<{ run_id: string }>).map((r) => r.run_id)).toEqual(['r4']);
  }, 90_000);

  it('--dry-run lists what would go and changes nothing', async () => {
    const e = setup('prune-dry');
    for (const id of ['d1', 'd2']) await run(e, id);
    await age(e, 'd1', 30);
    const snapshot = async (): Promise<string[]> => (await keysUnder(e.prefix)).filter((k) => !k.endsWith(':nodes:events')).sort();
    const before = await snapshot();
    const res = await prune(e, ['--older-than', '7d', '--dry-run', '--work-dirs']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/would remove 1 run and 2 node directories:\n\s+d1\s+succeeded/);
    expect(await snapshot()).toEqual(before);
    expect(await listed(e)).toEqual(['d1', 'd2']);
    expect(existsSync(join(e.dir, 'd1', 'pr', 'a'))).toBe(true);
  }, 60_000);

  it('reads a wide run\'s node records in batches: every node directory and job is found, the keys all go', async () => {
    const e = setup('prune-wide');
    // 2,501 node records (the failed root ran; the rest were skipped, each with its directory recorded).
    const wide = { name: 'pw', nodes: [{ id: 'bad', command: 'exit 1' }, ...Array.from({ length: 2_500 }, (_, i) => ({ id: `c${i}`, command: ['true'], needs: ['bad'] }))] };
    const wf = writeWorkflow(e.dir, 'wide.json', wide);
    const res = await runCli(['run', wf, '--quiet', '--run-id', 'w1', '--work-dir', join(e.dir, 'w1'), '--retain-runs', 'off', '--retain-for', 'off'], { env: e.env });
    expect(res.code, res.stderr).toBe(1);
    const dry = await prune(e, ['--keep', '0', '--dry-run', '--json', '--work-dirs']);
    expect(dry.code, dry.stderr).toBe(0);
    const report = JSON.parse(dry.stdout) as { runs: Array<{ run_id: string; jobs: number; node_dirs: string[] }> };
    expect(report.runs).toEqual([expect.objectContaining({ run_id: 'w1', jobs: 1 })]);
    expect(new Set(report.runs[0]?.node_dirs).size).toBe(2_501);
    const gone = await prune(e, ['--keep', '0']);
    expect(gone.code, gone.stderr).toBe(0);
    expect(await listed(e)).toEqual([]);
    expect((await keysUnder(e.prefix)).filter((k) => k.includes(':fg:run:w1'))).toEqual([]);
  }, 60_000);

  it('never removes a running run, nor a finished run whose lease is still held', async () => {
    const e = setup('prune-live');
    await run(e, 'done1');
    await run(e, 'held');
    await age(e, 'done1', 10);
    await age(e, 'held', 10);
    await redis.set(e.keys.runLease('held'), 'elsewhere:1', 'PX', 60_000);
    const wf = writeWorkflow(e.dir, 'slow.json', { name: 'slow', nodes: [{ id: 's', command: ['sleep', '30'] }] });
    const live = startCli(['run', wf, '--quiet', '--run-id', 'live', '--work-dir', join(e.dir, 'live')], { env: e.env });
    started.push(live);
    await waitFor(async () => ['queued', 'running'].includes((await redis.hget(e.keys.runStates('live'), '0')) ?? '') && (await redis.exists(e.keys.runLease('live'))) === 1, 30_000, 'the live run to be under way');
    // Even if it looked old, a running run is not finished.
    await redis.hset(e.keys.runMeta('live'), 'started_ms', String(Date.now() - 10 * DAY));
    // A run whose scheduler died (status running, lease expired) waits for `resume`: not finished either.
    await redis.multi().hset(e.keys.runMeta('orphan'), { run_id: 'orphan', status: 'running', started_ms: String(Date.now() - 10 * DAY) }).zadd(e.keys.runs(), Date.now() - 10 * DAY, 'orphan').exec();

    const res = await prune(e, ['--older-than', '0s', '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as { runs: Array<{ run_id: string }> }).runs.map((r) => r.run_id)).toEqual(['done1']);
    expect(await listed(e)).toEqual(['held', 'live', 'orphan']);
    expect(await redis.hget(e.keys.runMeta('live'), 'status')).toBe('running');
    expect(await redis.hget(e.keys.runMeta('orphan'), 'status')).toBe('running');
    live.child.kill('SIGINT');
    expect((await live.done).code).toBe(130);
  }, 90_000);

  it('--work-dirs removes node directories only when no remaining run uses them', async () => {
    const e = setup('prune-dirs');
    const work = join(e.dir, 'shared-work');
    // Same workflow name and work dir: the second version shares node "a" (taken from the cache) and adds "c".
    await run(e, 'v1', { workDir: work, workflow: { name: 'w', nodes: [{ id: 'a', command: ['true'] }, { id: 'b', command: ['true'] }] } });
    await run(e, 'v2', { workDir: work, workflow: { name: 'w', nodes: [{ id: 'a', command: ['true'] }, { id: 'c', command: ['true'] }] } });
    await age(e, 'v1', 10);
    expect(existsSync(join(work, '_runs', 'v1.json'))).toBe(true);

    const res = await prune(e, ['--older-than', '7d', '--work-dirs', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as { removed_dirs: string[] };
    expect(report.removed_dirs).toEqual([join(work, 'w', 'b')]);
    expect(existsSync(join(work, 'w', 'b'))).toBe(false);
    expect(existsSync(join(work, 'w', 'a'))).toBe(true);
    expect(existsSync(join(work, 'w', 'c'))).toBe(true);
    expect(existsSync(join(work, '_runs', 'v1.json'))).toBe(false);
    expect(existsSync(join(work, '_runs', 'v2.json'))).toBe(true);

    // Once the last run using them is gone, they go too.
    await age(e, 'v2', 10);
    const last = JSON.parse((await prune(e, ['--older-than', '7d', '--work-dirs', '--json'])).stdout) as { removed_dirs: string[] };
    expect(last.removed_dirs.sort()).toEqual([join(work, 'w', 'a'), join(work, 'w', 'c')]);
    expect(existsSync(join(work, 'w', 'a'))).toBe(false);
  }, 60_000);

  it('refuses bad durations and missing criteria with exit 2, naming the flag or variable, and writes nothing', async () => {
    const e = setup('prune-bad');
    for (const [args, field] of [
      [['prune', '--older-than', '7x'], '--older-than'],
      [['prune', '--older-than', '7'], '--older-than'],
      [['prune', '--older-than', '1.5d'], '--older-than'],
      [['prune', '--keep', '-1'], '--keep'],
      [['prune'], '--older-than'],
    ] as const) {
      const res = await runCli(args, { env: e.env });
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(2);
      expect(res.stderr).toContain(field);
    }
    const wf = writeWorkflow(e.dir, 'wf.json', twoNodes);
    const bad = await runCli(['run', wf, '--retain-for', '3y', '--work-dir', join(e.dir, 'w')], { env: e.env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--retain-for');
    const badEnv = await runCli(['run', wf, '--work-dir', join(e.dir, 'w')], { env: { ...e.env, FLOWGATE_RETAIN_RUNS: 'many' } });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toContain('FLOWGATE_RETAIN_RUNS');
    const badService = await runCli(['scheduler'], { env: { ...e.env, FLOWGATE_RETAIN_FOR: '10 days' } });
    expect(badService.code).toBe(2);
    expect(badService.stderr).toContain('FLOWGATE_RETAIN_FOR');
    expect(await keysUnder(e.prefix)).toEqual([]);
  }, 60_000);
});

describe('retention', () => {
  it('flowgate run --retain-runs 2: after 4 runs only the newest 2 remain, with their jobs', async () => {
    const e = setup('ret-run');
    for (const id of ['k1', 'k2', 'k3', 'k4']) await run(e, id, { flags: ['--retain-runs', '2'] });
    expect(await listed(e)).toEqual(['k3', 'k4']);
    expect(await keysOfRun(e, 'k1')).toEqual([]);
    expect(await keysOfRun(e, 'k2')).toEqual([]);
    expect((await keysOfRun(e, 'k4')).filter((k) => k.includes(':nodes:')).length).toBe(2);
  }, 90_000);

  it('the scheduler service applies its retention after runs finish', async () => {
    const e = setup('ret-svc');
    const sched = startCli(['scheduler', '--work-dir', join(e.dir, 'work'), '--n-procs', '2', '--memory-gb', '2', '--retain-runs', '2', '--retention-interval-ms', '200'], { env: e.env });
    const worker = startCli(['worker', '--concurrency', '2'], { env: e.env });
    started.push(sched, worker);
    await waitFor(() => sched.stderr().includes('leading as'), 20_000, 'the scheduler to lead');
    expect(sched.stderr()).toMatch(/retain_runs=2 retain_for=7d retention_interval_ms=200/);
    const ids = ['s1', 's2', 's3', 's4'];
    for (const id of ids) {
      const wf = writeWorkflow(e.dir, `${id}.json`, twoNodes);
      const res = await runCli(['submit', wf, '--wait', '--run-id', id, '--work-dir', join(e.dir, id)], { env: e.env });
      expect(res.code, res.stderr).toBe(0);
    }
    await waitFor(async () => (await redis.zcard(e.keys.runs())) === 2, 20_000, 'retention to leave two runs');
    expect(await listed(e)).toEqual(['s3', 's4']);
    expect(await keysOfRun(e, 's1')).toEqual([]);
    expect(await keysOfRun(e, 's2')).toEqual([]);
  }, 90_000);
});
