/**
 * The board's memory of run overviews (`GET /api/runs/:id`) as a client sees
 * it, against `flowgate board` as a process: a finished run is answered from
 * memory until it changes (a retry reopens it, a prune deletes it); a running
 * run is read once for concurrent requests and again once its answer is old
 * enough. `as_of_ms` says when the answer was read from Redis.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import type { NodePage, RunOverview } from '../../src/shared/run-view.js';
import { MIN_REUSE_MS } from '../../src/board/overview-cache.js';
import { runCli, startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

const prefix = uniquePrefix('boardov');
const env = { REDIS_URL: redisUrl() };
const dir = tempDir('fg-boardov');
let board: CliProcess | undefined;
let base: string;
/** The failed run, and its overview as first read (before the other tests). */
let failedId: string;
let firstRead: RunOverview;

/** The run's nodes as `[id, state]`, from its first page. */
async function nodeStates(id: string): Promise<string[][]> {
  const page = (await (await fetch(`${base}/api/runs/${id}/nodes`)).json()) as NodePage;
  return page.nodes.map((n) => [n.id, n.state]);
}

async function overview(id: string): Promise<{ status: number; body: RunOverview }> {
  const res = await fetch(`${base}/api/runs/${id}`);
  return { status: res.status, body: (await res.json()) as RunOverview };
}

beforeAll(async () => {
  board = startCli(['board', '--port', '0', '--host', '127.0.0.1', '--prefix', prefix], { env });
  base = await waitFor(() => {
    if (board?.child.exitCode !== null) throw new Error(`board exited: ${board?.stderr() ?? ''}`);
    return /board listening on (http:\/\/\S+)/.exec(board.stderr())?.[1];
  }, 20_000, 'the board to listen');
  // `flaky` fails until the file `fixed` exists.
  const wf = writeWorkflow(dir, 'wf.json', { name: 'overview', nodes: [{ id: 'flaky', command: `test -e ${join(dir, 'fixed')}` }, { id: 'after', needs: ['flaky'], command: ['true'] }] });
  const res = await runCli(['run', wf, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work')], { env });
  expect(res.code, res.stderr).toBe(1);
  failedId = (JSON.parse(res.stdout) as RunSummary).run_id;
  const first = await overview(failedId);
  expect(first.status).toBe(200);
  firstRead = first.body;
});

afterAll(async () => {
  if (board !== undefined && board.child.exitCode === null) {
    board.child.kill('SIGTERM');
    await board.done;
  }
  await deletePrefix(prefix);
});

describe('the board remembers run overviews', () => {
  it('reads a running run once for concurrent requests, and again once the answer is old enough', async () => {
    const redis = new Redis(redisUrl());
    const k = (part: string): string => `${prefix}:fg:run:live-ov:${part}`;
    const now = Date.now();
    const definition = JSON.stringify({ name: 'live', nodes: [{ id: 'x' }, { id: 'y' }, { id: 'z' }] });
    try {
      await redis
        .multi()
        .hset(k('meta'), { run_id: 'live-ov', workflow: 'live', status: 'running', started_ms: String(now - 5000), budget: '{"n_procs":4,"memory_gb":4}', definition, options: '{}' })
        .hset(k('states'), { 0: 'running', 1: 'ready', 2: 'waiting' })
        .hset(k('nodes'), { 0: JSON.stringify({ id: 'x', granted: { n_procs: 1, mem_gb: 1 }, admitted_ms: now - 4000, start_ms: now - 3900, attempts: 1 }) })
        // Driven by a scheduler elsewhere (without a live lease the run would show orphaned).
        .set(k('lease'), 'elsewhere:1', 'PX', 60_000)
        .zadd(`${prefix}:fg:runs`, now - 5000, 'live-ov')
        .exec();
      const answers = await Promise.all(Array.from({ length: 8 }, () => overview('live-ov')));
      const first = answers[0]?.body;
      expect(first).toMatchObject({ status: 'running', counts: { running: 1, ready: 1, waiting: 1 } });
      expect(first?.as_of_ms).toBeGreaterThanOrEqual(now);
      for (const a of answers) expect(a).toEqual({ status: 200, body: first });

      // Changed in Redis: shown once the answer in memory is old enough.
      await redis.hset(k('states'), '1', 'queued');
      const later = await waitFor(async () => {
        const { body } = await overview('live-ov');
        return body.as_of_ms > (first?.as_of_ms ?? 0) ? body : undefined;
      }, 20_000, 'a newer read of the running run');
      expect(later.as_of_ms - (first?.as_of_ms ?? 0)).toBeGreaterThanOrEqual(MIN_REUSE_MS);
      expect(later.counts).toMatchObject({ running: 1, queued: 1, waiting: 1 });
    } finally {
      await redis.del(...['meta', 'states', 'nodes', 'lease'].map(k));
      await redis.zrem(`${prefix}:fg:runs`, 'live-ov');
      redis.disconnect();
    }
  });

  it('answers a finished run from memory until a retry reopens it; a pruned run is not found', async () => {
    // Read first before the test above, whose reuse window of a running run has passed since.
    expect(firstRead).toMatchObject({ run_id: failedId, status: 'failed', failures_total: 1, queue_paused: false });
    expect(firstRead.as_of_ms).toBeGreaterThanOrEqual(firstRead.finished_ms ?? Infinity);
    const again = await overview(failedId);
    expect(again).toEqual({ status: 200, body: firstRead });
    expect(await nodeStates(failedId)).toEqual([['flaky', 'failed'], ['after', 'skipped']]);

    // What the run does not own is read at every request: the node queue paused.
    expect((await runCli(['queue', 'pause', '--prefix', prefix], { env })).code).toBe(0);
    expect((await overview(failedId)).body).toEqual({ ...firstRead, queue_paused: true });
    expect((await runCli(['queue', 'resume', '--prefix', prefix], { env })).code).toBe(0);

    writeFileSync(join(dir, 'fixed'), '1');
    const retried = await runCli(['retry', failedId, '--json', '--quiet', '--prefix', prefix], { env });
    expect(retried.code, retried.stderr).toBe(0);
    const fresh = (await overview(failedId)).body;
    expect(fresh).toMatchObject({ run_id: failedId, status: 'succeeded', failures_total: 0, counts: { succeeded: 2 } });
    expect(fresh.finished_ms).toBeGreaterThan(firstRead.finished_ms ?? Infinity);
    expect(fresh.as_of_ms).toBeGreaterThan(firstRead.as_of_ms);
    expect((await overview(failedId)).body.as_of_ms).toBe(fresh.as_of_ms);
    // The node page keeps the run's definition, never its states.
    expect(await nodeStates(failedId)).toEqual([['flaky', 'succeeded'], ['after', 'succeeded']]);

    const pruned = await runCli(['prune', '--older-than', '0s', '--json', '--prefix', prefix], { env });
    expect(pruned.code, pruned.stderr).toBe(0);
    expect((JSON.parse(pruned.stdout) as { runs: Array<{ run_id: string }> }).runs.map((r) => r.run_id)).toEqual([failedId]);
    const gone = await fetch(`${base}/api/runs/${failedId}`);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({ error: `no run "${failedId}" under prefix ${prefix}` });
    expect((await fetch(`${base}/api/runs/${failedId}/nodes`)).status).toBe(404);
  });
});
