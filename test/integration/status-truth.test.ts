/**
 * Status tells the truth, from one source, with real processes on a real
 * Redis: a node is running in `flowgate status` and the board API once its
 * worker has claimed it; a run whose scheduler was killed is `orphaned` with
 * the command that continues it, and `flowgate resume` finishes it; a paused
 * queue is a stated reason, not a silent stall; `submit --wait` never counts
 * more nodes done than the run has (map elements included).
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { readRun, readRunItems } from '../../src/shared/run-reader.js';
import { readRunNodes } from '../../src/shared/run-nodes.js';
import type { NodePage, RunDetail, RunListItem } from '../../src/shared/run-view.js';
import { stopGroup, runCli, startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

const started: CliProcess[] = [];
const prefixes: string[] = [];
const clients: Redis[] = [];
afterEach(async () => {
  // Each with its whole group, waited for: nothing outlives the test.
  await Promise.all(started.splice(0).map((p) => stopGroup(p)));
  for (const c of clients.splice(0)) c.disconnect();
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

function fresh(label: string): { prefix: string; dir: string; env: NodeJS.ProcessEnv; redis: Redis } {
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  const redis = new Redis(redisUrl());
  clients.push(redis);
  return { prefix, dir: tempDir(label), env: { REDIS_URL: redisUrl(), FLOWGATE_PREFIX: prefix }, redis };
}

function start(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const p = startCli(args, { env });
  started.push(p);
  return p;
}

async function statusJson<T>(env: NodeJS.ProcessEnv, runId?: string): Promise<T> {
  const res = await runCli(['status', ...(runId !== undefined ? [runId] : []), '--json'], { env });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as T;
}

async function startBoard(env: NodeJS.ProcessEnv): Promise<string> {
  const proc = start(['board', '--port', '0', '--host', '127.0.0.1'], env);
  return waitFor(() => {
    if (proc.child.exitCode !== null) throw new Error(`board exited: ${proc.stderr()}`);
    return /board listening on (http:\/\/\S+)/.exec(proc.stderr())?.[1];
  }, 20_000, 'the board to listen');
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

describe('status tells the truth', () => {
  it('shows claimed nodes running at once, a killed scheduler\'s run orphaned, and resume finishes it', async () => {
    const { dir, env, redis, prefix } = fresh('truth');
    const base = await startBoard(env);
    const wf = writeWorkflow(dir, 'wf.json', { name: 'three', nodes: ['a', 'b', 'c'].map((id) => ({ id, command: 'sleep 3' })) });
    const first = start(['run', wf, '--quiet', '--run-id', 'truth-run', '--n-procs', '3', '--work-dir', join(dir, 'work')], env);
    // The moment every worker has claimed its node.
    const claims = await waitFor(async () => {
      const all = await redis.hgetall(`${prefix}:fg:run:truth-run:claims`);
      const parsed = Object.values(all).map((c) => JSON.parse(c) as { state: string; start_ms: number });
      return parsed.length === 3 && parsed.every((c) => c.state === 'running') ? parsed : undefined;
    }, 30_000, 'three running claims');
    const starts = claims.map((c) => c.start_ms).sort();

    const shown = await statusJson<RunDetail>(env, 'truth-run');
    expect(shown.status).toBe('running');
    expect(shown.nodes.map((n) => n.state)).toEqual(['running', 'running', 'running']);
    expect(shown.nodes.map((n) => n.start_ms).sort()).toEqual(starts);
    expect(shown.counts).toMatchObject({ queued: 0, running: 3 });
    const api = await getJson<NodePage>(`${base}/api/runs/truth-run/nodes`);
    expect(api.nodes.map((n) => n.state)).toEqual(['running', 'running', 'running']);
    expect(await getJson<NodePage>(`${base}/api/runs/truth-run/nodes?state=running`)).toMatchObject({ total: 3 });
    const [listed] = await getJson<RunListItem[]>(`${base}/api/runs`);
    expect(listed).toMatchObject({ run_id: 'truth-run', status: 'running', continue_with: null, counts: { queued: 0, running: 3 } });

    // The scheduler dies: nothing drives the run any more.
    first.child.kill('SIGKILL');
    await first.done;
    await waitFor(async () => (await statusJson<RunDetail>(env, 'truth-run')).status === 'orphaned', 30_000, 'the run to show orphaned');
    const text = await runCli(['status', 'truth-run'], { env });
    expect(text.stdout).toMatch(/truth-run of three: orphaned/);
    expect(text.stdout).toContain('continue it with `flowgate resume truth-run`');
    const list = await runCli(['status'], { env });
    expect(list.stdout).toMatch(/truth-run\s+three\s+orphaned/);
    expect(list.stdout).toContain('`flowgate resume truth-run`');
    expect(await getJson<RunDetail>(`${base}/api/runs/truth-run`)).toMatchObject({ status: 'orphaned', continue_with: 'flowgate resume truth-run' });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^flowgate_runs\{status="orphaned"\} 1$/m);
    expect(metrics).toMatch(/^flowgate_runs\{status="running"\} 0$/m);

    const resumed = await runCli(['resume', 'truth-run', '--json', '--quiet'], { env, timeoutMs: 60_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((JSON.parse(resumed.stdout) as RunSummary).counts.succeeded).toBe(3);
    expect(await statusJson<RunDetail>(env, 'truth-run')).toMatchObject({ status: 'succeeded', continue_with: null });
  });

  it('derives running from a claim while the stored state still says queued (one reader for list and detail)', async () => {
    const { redis, prefix } = fresh('claimview');
    const k = (what: string): string => `${prefix}:fg:run:cv:${what}`;
    const definition = JSON.stringify({ name: 'cv', nodes: [{ id: 'a' }, { id: 'b' }, { id: 'c' }] });
    await redis
      .multi()
      .hset(k('meta'), { run_id: 'cv', workflow: 'cv', status: 'running', started_ms: '1000', mode: 'run', definition, budget: '{"n_procs":3,"memory_gb":3}' })
      .zadd(`${prefix}:fg:runs`, 1000, 'cv')
      .set(k('lease'), 'elsewhere:1', 'PX', 60_000)
      .hset(k('states'), '0', 'queued', '1', 'queued', '2', 'queued')
      .hset(k('nodes'), '0', '{"id":"a","attempts":1}', '1', '{"id":"b","attempts":2}', '2', '{"id":"c","attempts":1}')
      // a: claimed now; b: the claim is an earlier attempt's; c: its worker is done, not yet applied.
      .hset(k('claims'), '0', '{"attempt":1,"worker":"w0","instance":"i","state":"running","start_ms":1500}', '1', '{"attempt":1,"worker":"w1","instance":"i","state":"running","start_ms":1200}', '2', '{"attempt":1,"worker":"w2","instance":"i","state":"succeeded","start_ms":1300,"end_ms":1400}')
      .exec();
    const run = await readRun(redis, prefix, 'cv');
    expect(run?.nodes.map((n) => [n.id, n.state, n.start_ms, n.finishing])).toEqual([
      ['a', 'running', 1500, null],
      ['b', 'queued', null, null],
      ['c', 'running', 1300, 'succeeded'],
    ]);
    const [item] = await readRunItems(redis, prefix, ['cv']);
    expect(item?.counts).toEqual(run?.counts);
    expect(item).toMatchObject({ status: 'running', counts: { running: 2, queued: 1 } });
    // A node that ends between the page's two reads is left out of a page filtered by state.
    const racing = new Proxy(redis, {
      get(target, prop, receiver) {
        if (prop !== 'hgetall') return Reflect.get(target, prop, receiver) as unknown;
        return async (key: string) => {
          const all = await target.hgetall(key);
          if (key === k('states')) await target.hset(k('states'), '0', 'succeeded');
          return all;
        };
      },
    });
    const page = await readRunNodes(racing, prefix, 'cv', { offset: 0, limit: 10, state: 'running' });
    expect(page).toMatchObject({ total: 1, nodes: [{ id: 'c', state: 'running' }] });
    await redis.hset(k('states'), '0', 'queued');
    // A waiting list written before a and d moved on: only the nodes still ready are shown waiting.
    await redis.hset(k('states'), '3', 'ready');
    await redis.hset(k('meta'), 'definition', JSON.stringify({ name: 'cv', nodes: [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }] }));
    await redis.set(k('waiting'), JSON.stringify({ at_ms: 1000, budget: { n_procs: 3, mem_gb: 3 }, free: { n_procs: 0, mem_gb: 0 }, waiting: [{ id: 'a', reason: 'needs 1 procs, 0 free' }, { id: 'd', reason: 'needs 1 procs, 0 free' }] }));
    expect((await readRun(redis, prefix, 'cv'))?.waiting?.waiting).toEqual([{ id: 'd', reason: 'needs 1 procs, 0 free' }]);
    // The lease gone (not renewed by anyone): orphaned, in the list and in the detail.
    await redis.del(k('lease'));
    expect((await readRun(redis, prefix, 'cv'))?.status).toBe('orphaned');
    expect((await readRunItems(redis, prefix, ['cv']))[0]?.status).toBe('orphaned');
  });

  it('reports a paused queue as the reason admitted nodes wait', async () => {
    const { dir, env } = fresh('paused');
    const paused = await runCli(['queue', 'pause'], { env });
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toContain('paused');
    const wf = writeWorkflow(dir, 'wf.json', { name: 'held', nodes: [{ id: 'held', command: 'true' }] });
    const run = start(['run', wf, '--json', '--quiet', '--run-id', 'held-run', '--n-procs', '1', '--work-dir', join(dir, 'work')], env);
    const detail = await waitFor(async () => {
      const d = await statusJson<RunDetail>(env, 'held-run').catch(() => undefined);
      return d?.waiting?.queue_paused === true && d.waiting.waiting.length > 0 ? d : undefined;
    }, 30_000, 'the paused queue in the waiting snapshot');
    expect(detail.queue_paused).toBe(true);
    expect(detail.nodes[0]?.state).toBe('queued');
    expect(detail.waiting?.waiting[0]).toMatchObject({ id: 'held', reason: expect.stringMatching(/^queue paused: /) as unknown });
    const text = await runCli(['status', 'held-run'], { env });
    expect(text.stdout).toContain('queue paused: nodes are admitted but no worker takes them');
    expect(text.stdout).toMatch(/held: queue paused/);
    const resumed = await runCli(['queue', 'resume'], { env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const done = await run.done;
    expect(done.code, done.stderr).toBe(0);
    expect((JSON.parse(done.stdout) as RunSummary).counts.succeeded).toBe(1);
  });

  it('submit --wait counts map elements in the total and never shows more done than total', async () => {
    const { dir, env, prefix, redis } = fresh('mapcount');
    const sched = start(['scheduler', '--work-dir', join(dir, 'work')], { ...env, FLOWGATE_N_PROCS: '2', FLOWGATE_MEMORY_GB: '2' });
    start(['worker', '--concurrency', '2', '--heartbeat-ms', '500'], env);
    await waitFor(() => sched.stderr().includes('leading as'), 20_000, 'the scheduler to lead');
    const wf = writeWorkflow(dir, 'wf.json', {
      name: 'mapped',
      nodes: [
        { id: 'm', map: { over: ['x'] }, inputs: { x: [1, 2, 3, 4, 5] }, command: 'sleep 0.3', env: { STEP: 'm-env' } },
        { id: 'after', needs: ['m'], command: 'true' },
      ],
    });
    const res = await runCli(['submit', wf, '--wait', '--json'], { env, timeoutMs: 60_000 });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    const lines = res.stderr.split('\n').filter((l) => / done \| /.test(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const [, done, total] = /(\d+)\/(\d+) done/.exec(line) ?? [];
      expect(Number(done), line).toBeLessThanOrEqual(Number(total));
      expect(line).not.toMatch(/free \d+\/0 procs/);
    }
    expect(lines.at(-1)).toContain(`${summary.nodes.length}/${summary.nodes.length} done`);
    expect(summary.nodes.length).toBeGreaterThan(2);
    // Readers give each element its map node's environment, and the map node its elements as needs.
    const run = await readRun(redis, prefix, summary.run_id);
    const elements = run?.nodes.slice(2) ?? [];
    expect(elements).toHaveLength(5);
    expect(run?.nodes[0]?.needs).toEqual(elements.map((e) => e.id));
    expect(elements.map((e) => e.env)).toEqual(elements.map(() => ({ STEP: 'm-env' })));
    const page = await readRunNodes(redis, prefix, summary.run_id, { offset: 2, limit: 10 });
    expect(page?.nodes.map((n) => [n.id, n.env])).toEqual(elements.map((e) => [e.id, { STEP: 'm-env' }]));
  });
});
