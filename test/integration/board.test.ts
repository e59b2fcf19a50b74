/**
 * `flowgate board` as a process against a real run: the JSON API, metrics,
 * health, Basic auth, Bull Board (read-only unless allowed), config errors,
 * cancelling a live run from the board and masked secrets.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import type { NodePage, RunListItem, RunOverview } from '../../src/shared/run-view.js';
import type { ListedWorker } from '../../src/shared/worker-registry.js';
import { stopGroup, runCli, startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';
import { parseMetrics } from '../helpers/metrics.js';

const prefix = uniquePrefix('board');
const started: CliProcess[] = [];
let summary: RunSummary;
let base: string;

/** Starts a board on a free port; resolves with its process and base URL once it listens. */
async function startBoard(env: NodeJS.ProcessEnv = {}): Promise<{ proc: CliProcess; base: string }> {
  const proc = startCli(['board', '--port', '0', '--host', '127.0.0.1', '--prefix', prefix], { env: { REDIS_URL: redisUrl(), ...env } });
  started.push(proc);
  const url = await waitFor(() => {
    if (proc.child.exitCode !== null) throw new Error(`board exited: ${proc.stderr()}`);
    return /board listening on (http:\/\/\S+)/.exec(proc.stderr())?.[1];
  }, 20_000, 'the board to listen');
  return { proc, base: url };
}

async function getJson<T>(path: string, init: RequestInit = {}, at = base): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(`${at}${path}`, init);
  return { status: res.status, body: (await res.json()) as T, headers: res.headers };
}


beforeAll(async () => {
  const dir = tempDir('fg-board');
  const wf = writeWorkflow(dir, 'wf.json', {
    name: 'boardwf',
    nodes: [
      { id: 'a', command: ['sleep', '0.2'] },
      { id: 'b', needs: ['a'], command: 'echo boom >&2; exit 3' },
      { id: 'c', needs: ['b'], command: ['true'] },
      { id: 'd', command: ['sleep', '0.4'], mem_gb: 1.5 },
    ],
  });
  const res = await runCli(['run', wf, '--json', '--quiet', '--prefix', prefix, '--work-dir', `${dir}/work`, '--n-procs', '2', '--memory-gb', '2', '--workers', '1'], { env: { REDIS_URL: redisUrl() } });
  expect(res.code, res.stderr).toBe(1);
  summary = JSON.parse(res.stdout) as RunSummary;
  base = (await startBoard()).base;
});

afterAll(async () => {
  // Each with its whole group, waited for: nothing outlives the file.
  await Promise.all(started.splice(0).map((p) => stopGroup(p)));
  await deletePrefix(prefix);
});

describe('flowgate board', () => {
  it('lists runs newest first with counts, budget and mode', async () => {
    const { status, body } = await getJson<RunListItem[]>('/api/runs');
    expect(status).toBe(200);
    expect(body).toHaveLength(1);
    expect(body[0]).toMatchObject({
      run_id: summary.run_id,
      workflow: 'boardwf',
      status: 'failed',
      started_ms: summary.started_ms,
      finished_ms: summary.finished_ms,
      wall_s: summary.wall_s,
      total: 4,
      budget: { n_procs: 2, memory_gb: 2 },
      mode: 'run',
    });
    expect(body[0]?.counts).toEqual({ waiting: 0, ready: 0, queued: 0, running: 0, succeeded: 2, failed: 1, skipped: 1, cached: 0, cancelled: 0 });
    expect((await getJson('/api/runs?limit=0')).status).toBe(400);
  });

  it('shows one run: nodes, ledger within budget, failures with the crash record and skipped nodes', async () => {
    const { status, body: run } = await getJson<RunOverview>(`/api/runs/${summary.run_id}`);
    expect(status).toBe(200);
    expect(run).toMatchObject({ run_id: summary.run_id, scheduler: 'tsort', waiting: null, options: { stop_on_first_crash: false }, total: 4, failures_total: 1 });
    expect(run).not.toHaveProperty('nodes');
    const { body: page } = await getJson<NodePage>(`/api/runs/${summary.run_id}/nodes`);
    expect(page).toMatchObject({ run_id: summary.run_id, total: 4, offset: 0, limit: 100, state: null });
    expect(page.nodes.map((n) => [n.id, n.state])).toEqual([['a', 'succeeded'], ['b', 'failed'], ['c', 'skipped'], ['d', 'succeeded']]);
    const b = page.nodes.find((n) => n.id === 'b');
    expect(b).toMatchObject({ needs: ['a'], n_procs: 1, mem_gb: 0.2, exit_code: 3, reason: 'exit code 3', attempts: 1 });
    expect(b?.worker).toEqual(expect.any(String));
    expect(page.nodes.find((n) => n.id === 'c')).toMatchObject({ skipped_because: 'b', admitted_ms: null, start_ms: null });

    const { budget, timeline } = run.ledger;
    expect(budget).toEqual({ n_procs: 2, memory_gb: 2 });
    expect(run.ledger.rss_label).toBe('measured peak RSS');
    expect(timeline.length).toBeGreaterThan(1);
    for (const p of timeline) {
      expect(p.n_procs).toBeLessThanOrEqual(budget.n_procs);
      expect(p.mem_gb).toBeLessThanOrEqual(budget.memory_gb);
    }
    expect(Math.max(...timeline.map((p) => p.mem_gb))).toBe(1.7); // a or b (0.2, the default) beside d (1.5)
    expect(timeline.at(-1)).toMatchObject({ n_procs: 0, mem_gb: 0, rss_gb: 0 });
    expect(timeline.map((p) => p.t_ms)).toEqual([...timeline.map((p) => p.t_ms)].sort((x, y) => x - y));

    expect(run.failures).toHaveLength(1);
    const f = run.failures[0];
    expect(f).toMatchObject({ node: 'b', reason: 'exit code 3', skipped: ['c'], skipped_total: 1 });
    expect(f?.crash_file).toMatch(/crash-.*-b-.*\.json$/);
    expect(f?.crash).toMatchObject({ node: 'b', run_id: summary.run_id, exit_code: 3, skipped_descendants: ['c'] });
    expect(String(f?.crash?.['stderr_tail'])).toContain('boom');
    // The run-level summary: no per-node array.
    expect(run.summary).toMatchObject({ run_id: summary.run_id, status: 'failed', node_count: 4, counts: summary.counts });
    expect(run.summary).not.toHaveProperty('nodes');
  });

  it('answers 400 for a malformed run id and 404 for an unknown one or route', async () => {
    const bad = await getJson<{ error: string }>('/api/runs/bad%20id');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/run id/);
    const missing = await getJson<{ error: string }>('/api/runs/no-such-run');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toContain('no-such-run');
    expect((await getJson<{ error: string }>('/api/nothing')).status).toBe(404);
    const page = await fetch(`${base}/no/such/file.txt`);
    expect(page.status).toBe(404);
    expect(await page.json()).toEqual({ error: 'not found' });
  });

  it('lists workers and reads the scheduler service hash', async () => {
    const w = startCli(['worker', '--prefix', prefix, '--name', 'boardw', '--concurrency', '1', '--heartbeat-ms', '200'], { env: { REDIS_URL: redisUrl() } });
    started.push(w);
    const listed = await waitFor(async () => (await getJson<ListedWorker[]>('/api/workers')).body.find((x) => x.name === 'boardw'), 20_000, 'the worker to be listed');
    expect(listed).toMatchObject({ name: 'boardw', status: 'alive', concurrency: 1, heartbeat_interval_ms: 200, current: [] });
    w.child.kill('SIGTERM');
    expect((await w.done).code).toBe(0);

    expect((await getJson<unknown>('/api/service')).body).toBeNull();
    const redis = new Redis(redisUrl());
    try {
      await redis.hset(`${prefix}:fg:service`, { holder: 'host:42', budget: '{"n_procs":8,"memory_gb":16}', started_ms: '1000', heartbeat_ms: '2000', runs: '["r1"]' });
      expect((await getJson<unknown>('/api/service')).body).toEqual({ holder: 'host:42', budget: { n_procs: 8, memory_gb: 16 }, started_ms: 1000, heartbeat_ms: 2000, runs: ['r1'] });
      const metrics = parseMetrics(await (await fetch(`${base}/metrics`)).text());
      expect(metrics.get('flowgate_ledger_budget{resource="procs"}')).toBe(8);
    } finally {
      await redis.del(`${prefix}:fg:service`);
      redis.disconnect();
    }
  });

  it('serves Prometheus metrics and observes each finished node once', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const m = parseMetrics(await res.text());
    expect(m.get('flowgate_nodes{state="succeeded"}')).toBe(2);
    expect(m.get('flowgate_nodes{state="failed"}')).toBe(1);
    expect(m.get('flowgate_nodes{state="skipped"}')).toBe(1);
    expect(m.get('flowgate_runs{status="failed"}')).toBe(1);
    expect(m.get('flowgate_runs{status="running"}')).toBe(0);
    expect(m.get('flowgate_ledger_reserved{resource="procs"}')).toBe(0);
    expect(m.get('flowgate_ledger_reserved{resource="memory_gb"}')).toBe(0);
    expect((m.get('flowgate_queue_jobs{state="completed"}') ?? 0) + (m.get('flowgate_queue_jobs{state="failed"}') ?? 0)).toBe(3);
    expect(m.has('flowgate_workers{status="alive"}')).toBe(true);
    const observed = (x: Map<string, number>): number => (x.get('flowgate_node_duration_seconds_count{status="succeeded"}') ?? 0) + (x.get('flowgate_node_duration_seconds_count{status="failed"}') ?? 0);
    expect(observed(m)).toBe(3); // a, b, d ran; c never started
    const again = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    expect(observed(again)).toBe(3);
  });

  it('reports health', async () => {
    expect(await getJson('/healthz')).toMatchObject({ status: 200, body: { ok: true, redis: 'up' } });
  });

  it('serves Bull Board read-only by default; write actions only with FLOWGATE_BOARD_WRITE=1', async () => {
    const page = await fetch(`${base}/queues/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<base href="/queues/"');
    const q = '/queues/api/queues?activeQueue=nodes&status=latest&page=1&jobsPerPage=50';
    type Queues = { queues: Array<{ name: string; readOnlyMode: boolean; jobs: Array<{ name: string; data: { run_id: string } }> }> };
    const { status, body } = await getJson<Queues>(q);
    expect(status).toBe(200);
    const nodes = body.queues.find((x) => x.name === 'nodes');
    expect(nodes?.readOnlyMode).toBe(true);
    expect(nodes?.jobs.map((j) => j.name).sort()).toEqual(['a', 'b', 'd'].map((id) => `${id} [1 cpu / ${id === 'd' ? 1.5 : 0.2} GB] run ${summary.run_id.slice(-4)}`));
    expect((await fetch(`${base}/queues/api/queues/nodes/clean/completed`, { method: 'PUT' })).status).toBe(405);

    // Write mode needs authentication (the board refuses to start without it).
    const writable = await startBoard({ FLOWGATE_BOARD_WRITE: '1', FLOWGATE_BOARD_USER: 'admin', FLOWGATE_BOARD_PASSWORD: 'a-long-enough-password' });
    expect(writable.proc.stderr()).toContain('"write":true');
    const auth = { headers: { Authorization: `Basic ${Buffer.from('admin:a-long-enough-password').toString('base64')}` } };
    expect((await getJson<Queues>(q, auth, writable.base)).body.queues[0]?.readOnlyMode).toBe(false);
    expect((await fetch(`${writable.base}/queues/api/queues/nodes/clean/completed`, { method: 'PUT' })).status).toBe(401);
    expect((await fetch(`${writable.base}/queues/api/queues/nodes/clean/completed`, { method: 'PUT', ...auth })).status).toBe(200);
    writable.proc.child.kill('SIGTERM');
    expect((await writable.proc.done).code).toBe(0);
  });

  it('requires Basic auth when configured, except for /healthz, and redacts the password', async () => {
    const { proc, base: at } = await startBoard({ FLOWGATE_BOARD_USER: 'admin', FLOWGATE_BOARD_PASSWORD: 's3cret-pw-long' });
    expect(proc.stderr()).toContain('"password":"***"');
    expect(proc.stderr()).not.toContain('s3cret-pw-long');
    const auth = (user: string, pw: string): RequestInit => ({ headers: { Authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` } });
    const denied = await fetch(`${at}/api/runs`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Basic realm="flowgate", charset="UTF-8"');
    expect((await fetch(`${at}/api/runs`, auth('admin', 'wrong'))).status).toBe(401);
    expect((await fetch(`${at}/api/runs`, auth('root', 's3cret-pw-long'))).status).toBe(401);
    expect((await fetch(`${at}/metrics`)).status).toBe(401);
    expect((await fetch(`${at}/queues/`)).status).toBe(401);
    expect((await fetch(`${at}/`)).status).toBe(401);
    expect((await fetch(`${at}/api/runs`, auth('admin', 's3cret-pw-long'))).status).toBe(200);
    expect((await fetch(`${at}/queues/api/queues`, auth('admin', 's3cret-pw-long'))).status).toBe(200);
    expect((await fetch(`${at}/healthz`)).status).toBe(200);
    proc.child.kill('SIGINT');
    expect((await proc.done).code).toBe(0);
  });

  it('shows a running run (open holds, waiting snapshot) and a submitted one with no states yet', async () => {
    const redis = new Redis(redisUrl());
    const k = (id: string, part: string): string => `${prefix}:fg:run:${id}:${part}`;
    const now = Date.now();
    const definition = JSON.stringify({ name: 'live', nodes: [{ id: 'x', index: 0, needs: [], n_procs: 2, mem_gb: 1.5 }, { id: 'y', index: 1, needs: ['x'], n_procs: 1, mem_gb: 0.5 }, { id: 'z', index: 2, needs: [], n_procs: 4, mem_gb: 1 }] });
    const budget = JSON.stringify({ n_procs: 4, memory_gb: 3 });
    try {
      await redis
        .multi()
        .hset(k('live-1', 'meta'), { run_id: 'live-1', workflow: 'live', status: 'running', started_ms: String(now - 5000), budget, definition, scheduler: 'mem_thread', options: '{}' })
        .hset(k('live-1', 'states'), { 0: 'running', 1: 'waiting', 2: 'ready' })
        .hset(k('live-1', 'nodes'), { 0: JSON.stringify({ id: 'x', granted: { n_procs: 2, mem_gb: 1.5 }, admitted_ms: now - 4000, released_ms: null, start_ms: now - 3900, end_ms: null, attempts: 1 }) })
        .hset(k('live-1', 'holds'), { 0: '2 1.5' })
        // Driven by a scheduler elsewhere (without a live lease the run would show orphaned).
        .set(k('live-1', 'lease'), 'elsewhere:1', 'PX', 60_000)
        .set(k('live-1', 'waiting'), JSON.stringify({ at_ms: now - 100, budget: { n_procs: 4, mem_gb: 3 }, free: { n_procs: 2, mem_gb: 1.5 }, waiting: [{ id: 'z', reason: 'needs 4 procs, 2 free' }] }))
        .zadd(`${prefix}:fg:runs`, now - 5000, 'live-1')
        .hset(k('sub-1', 'meta'), { run_id: 'sub-1', workflow: 'live', status: 'submitted', mode: 'service', started_ms: String(now), budget, definition })
        .zadd(`${prefix}:fg:runs`, now, 'sub-1')
        .exec();
      const list = (await getJson<RunListItem[]>('/api/runs')).body;
      // Newest first; the real run above may have started before or after live-1's synthetic start time.
      expect(list.map((r) => r.run_id).filter((id) => id !== summary.run_id)).toEqual(['sub-1', 'live-1']);
      expect(list.map((r) => r.run_id)).toContain(summary.run_id);
      expect(list[0]).toMatchObject({ status: 'submitted', mode: 'service', total: 3, finished_ms: null, wall_s: null });
      expect(list[0]?.counts.waiting).toBe(3);
      expect(list.find((r) => r.run_id === 'live-1')).toMatchObject({ status: 'running', mode: 'run', total: 3 });
      expect((await getJson<RunListItem[]>('/api/runs?limit=1')).body.map((r) => r.run_id)).toEqual(['sub-1']);

      const live = (await getJson<RunOverview>('/api/runs/live-1')).body;
      expect(live).toMatchObject({ scheduler: 'mem_thread', summary: null, failures: [] });
      expect(live.waiting).toMatchObject({ free: { n_procs: 2, mem_gb: 1.5 }, waiting: [{ id: 'z', reason: 'needs 4 procs, 2 free' }] });
      expect(live.ledger.timeline[0]).toEqual({ t_ms: now - 4000, n_procs: 2, mem_gb: 1.5, rss_gb: 0 });
      expect(live.ledger.timeline.at(-1)).toMatchObject({ n_procs: 2, mem_gb: 1.5 });
      expect(live.ledger.timeline.at(-1)?.t_ms).toBeGreaterThanOrEqual(now);
      const sub = (await getJson<RunOverview>('/api/runs/sub-1')).body;
      expect((await getJson<NodePage>('/api/runs/sub-1/nodes')).body.nodes.map((n) => n.state)).toEqual(['waiting', 'waiting', 'waiting']);
      // The live run's node x is shown running from its stored state; filtered pages count only their state.
      expect((await getJson<NodePage>('/api/runs/live-1/nodes?state=running')).body).toMatchObject({ total: 1, state: 'running', nodes: [{ id: 'x', state: 'running' }] });
      expect(sub.ledger.timeline).toEqual([]);

      const m = parseMetrics(await (await fetch(`${base}/metrics`)).text());
      expect(m.get('flowgate_runs{status="running"}')).toBe(1);
      expect(m.get('flowgate_runs{status="submitted"}')).toBe(1);
      expect(m.get('flowgate_nodes{state="running"}')).toBe(1);
      expect(m.get('flowgate_nodes{state="waiting"}')).toBe(4);
      expect(m.get('flowgate_ledger_reserved{resource="procs"}')).toBe(2);
      expect(m.get('flowgate_ledger_reserved{resource="memory_gb"}')).toBe(1.5);
      expect(m.get('flowgate_ledger_budget{resource="procs"}')).toBe(4);
      expect(m.get('flowgate_ledger_budget{resource="memory_gb"}')).toBe(3);
    } finally {
      await redis.del(...['meta', 'states', 'nodes', 'holds', 'waiting'].flatMap((p) => [k('live-1', p), k('sub-1', p)]));
      await redis.zrem(`${prefix}:fg:runs`, 'live-1', 'sub-1');
      redis.disconnect();
    }
  });

  it('refuses bad configuration with exit code 2, naming the flag or variable', async () => {
    const env = { REDIS_URL: redisUrl() };
    const userOnly = await runCli(['board', '--port', '0'], { env: { ...env, FLOWGATE_BOARD_USER: 'admin' } });
    expect(userOnly.code).toBe(2);
    expect(userOnly.stderr).toContain('FLOWGATE_BOARD_PASSWORD');
    const passwordOnly = await runCli(['board', '--port', '0'], { env: { ...env, FLOWGATE_BOARD_PASSWORD: 'hidden-password' } });
    expect(passwordOnly.code).toBe(2);
    expect(passwordOnly.stderr).toContain('FLOWGATE_BOARD_USER');
    expect(passwordOnly.stderr).not.toContain('hidden-password');
    const badPort = await runCli(['board', '--port', 'abc'], { env });
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain('--port');
    const bigPort = await runCli(['board'], { env: { ...env, FLOWGATE_BOARD_PORT: '70000' } });
    expect(bigPort.code).toBe(2);
    expect(bigPort.stderr).toContain('FLOWGATE_BOARD_PORT');
    const badWrite = await runCli(['board', '--port', '0'], { env: { ...env, FLOWGATE_BOARD_WRITE: 'maybe' } });
    expect(badWrite.code).toBe(2);
    expect(badWrite.stderr).toContain('FLOWGATE_BOARD_WRITE');
  });

  it('redacts the Redis password when printing its configuration', async () => {
    const res = await runCli(['board', '--port', '0', '--redis-url', 'redis://:topsecret@127.0.0.1:1'], { env: { REDIS_URL: redisUrl() } });
    expect(res.code).toBe(3); // nothing listens on port 1
    expect(res.stderr).toContain('flowgate board: config');
    expect(res.stderr).toContain('***');
    expect(res.stderr).not.toContain('topsecret');
  });
});

describe('cancelling a run from the board', () => {
  it('cancels a live `flowgate run` (POST /api/runs/:id/cancel) and shows its env with secrets masked', async () => {
    const dir = tempDir('fg-boardcancel');
    const work = join(dir, 'work');
    const runId = `bc-${prefix.slice(-8)}`;
    const secret = 'tok-very-secret-123';
    const path = writeWorkflow(dir, 'wf.json', {
      name: 'cancelme',
      nodes: [
        { id: 'slow', command: 'echo $$ > pid; exec sleep 60', env: { API_TOKEN: secret, db_password: 'pw-also-secret', THREADS: '2' } },
        { id: 'after', command: ['true'], needs: ['slow'] },
      ],
    });
    const run = startCli(['run', path, '--json', '--quiet', '--run-id', runId, '--prefix', prefix, '--work-dir', work, '--n-procs', '1', '--memory-gb', '1'], { env: { REDIS_URL: redisUrl() } });
    started.push(run);
    const credentials = { FLOWGATE_BOARD_USER: 'admin', FLOWGATE_BOARD_PASSWORD: 'a-long-enough-password' };
    const readOnly = await startBoard(credentials);
    const { proc, base } = await startBoard({ ...credentials, FLOWGATE_BOARD_WRITE: '1' });
    const AUTH = { Authorization: `Basic ${Buffer.from('admin:a-long-enough-password').toString('base64')}` };
    const json = { ...AUTH, 'Content-Type': 'application/json' };
    const pidFile = join(work, 'cancelme', 'slow', 'pid');
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 20_000, 'slow to start');

    // Masked everywhere the board shows the env: the run, the list; Bull Board's job data has none.
    const detailText = await (await fetch(`${base}/api/runs/${runId}`, { headers: AUTH })).text();
    expect(detailText).not.toContain(secret);
    expect(detailText).not.toContain('pw-also-secret');
    const nodesText = await (await fetch(`${base}/api/runs/${runId}/nodes`, { headers: AUTH })).text();
    expect(nodesText).not.toContain(secret);
    expect(nodesText).not.toContain('pw-also-secret');
    const detail = JSON.parse(nodesText) as NodePage;
    expect(detail.nodes.find((n) => n.id === 'slow')?.env).toEqual({ API_TOKEN: '••••••', db_password: '••••••', THREADS: '2' });
    expect(JSON.stringify((await (await fetch(`${base}/api/runs`, { headers: AUTH })).json()) as RunListItem[])).not.toContain(secret);
    const jobs = await (await fetch(`${base}/queues/api/queues?activeQueue=nodes&status=active&page=1&jobsPerPage=50`, { headers: AUTH })).text();
    // A job is only a pointer to its admission: no env (nor command) is in it at all.
    expect(jobs).toContain(`"node_id":"slow"`);
    expect(jobs).not.toContain('API_TOKEN');
    expect(jobs).not.toContain(secret);
    const statusJson = await runCli(['status', runId, '--json', '--prefix', prefix], { env: { REDIS_URL: redisUrl() } });
    expect(statusJson.stdout).toContain('API_TOKEN');
    expect(statusJson.stdout).not.toContain(secret);

    // Read-only board: refused, nothing changes.
    const refused = await fetch(`${readOnly.base}/api/runs/${runId}/cancel`, { method: 'POST', headers: json, body: '{}' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toMatch(/read-only/);
    expect(await (await fetch(`${base}/api/board`, { headers: AUTH })).json()).toEqual({ writable: true });
    expect(await (await fetch(`${readOnly.base}/api/board`, { headers: AUTH })).json()).toEqual({ writable: false });
    expect((await fetch(`${base}/api/runs/${runId}/cancel`, { method: 'POST', headers: json, body: '{"reason": 7}' })).status).toBe(400);
    expect((await fetch(`${base}/api/runs/no-such-run/cancel`, { method: 'POST', headers: json, body: '{}' })).status).toBe(404);
    expect((await fetch(`${base}/api/runs/${runId}/cancel`, { method: 'POST', headers: AUTH, body: '{}' })).status).toBe(415);
    expect(run.child.exitCode).toBeNull();

    const res = await fetch(`${base}/api/runs/${runId}/cancel`, { method: 'POST', headers: json, body: JSON.stringify({ reason: 'stopped from the board' }) });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ run_id: runId, cancel: 'requested' });
    const ended = await run.done;
    expect(ended.code).toBe(130);
    const summary = JSON.parse(ended.stdout) as RunSummary;
    expect(summary.status).toBe('cancelled');
    expect(summary.nodes.find((n) => n.id === 'slow')).toMatchObject({ status: 'cancelled', reason: expect.stringContaining('stopped from the board') });
    expect(summary.nodes.find((n) => n.id === 'after')?.status).toBe('cancelled');

    const again = await fetch(`${base}/api/runs/${runId}/cancel`, { method: 'POST', headers: json, body: '{}' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ status: 'cancelled' });
    for (const p of [proc, readOnly.proc]) {
      p.child.kill('SIGTERM');
      expect((await p.done).code).toBe(0);
    }
  });
});
