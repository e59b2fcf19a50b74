/**
 * The run summary of a 2,000-node run, as stored and as served: per node in
 * Redis (no value grows with the run but the workflow definition), streamed
 * as valid JSON of the documented shape by `run --json`, the summary file
 * and `status --json`, read back whole by `flowgate cancel` (new and old
 * storage), removed whole by `flowgate prune`, and paged by the board's API
 * with its parameters checked.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wide } from '../../bench/scale-shapes.js';
import type { RunSummary } from '../../src/scheduler/summary.js';
import type { NodePage, RunDetail, RunOverview } from '../../src/shared/run-view.js';
import { runCli, startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, keysUnder, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

const WIDTH = 2000;
const TOTAL = WIDTH + 2;
const prefix = uniquePrefix('summary');
const runId = `sum-${prefix.slice(-8)}`;
const dir = tempDir('fg-summary');
const env = { REDIS_URL: redisUrl() };
let redis: Redis;
let stdout: string;
let summary: RunSummary;
let board: CliProcess | undefined;
let base = '';

beforeAll(async () => {
  redis = new Redis(redisUrl());
  const doc = wide(WIDTH);
  doc.nodes.push({ id: 'boom', command: ['sh', '-c', 'echo "bad input" >&2; exit 3'] }, { id: 'after', command: ['true'], needs: ['boom'] } as (typeof doc.nodes)[number]);
  const file = writeWorkflow(dir, 'wide.json', doc);
  const r = await runCli(['run', file, '--json', '--quiet', '--prefix', prefix, '--run-id', runId, '--work-dir', join(dir, 'work'), '--n-procs', '4'], { env, timeoutMs: 240_000 });
  expect(r.code, r.stderr.slice(-2000)).toBe(1);
  stdout = r.stdout;
  summary = JSON.parse(stdout) as RunSummary;
  board = startCli(['board', '--port', '0', '--host', '127.0.0.1', '--prefix', prefix], { env: { ...env, FLOWGATE_BOARD_USER: '', FLOWGATE_BOARD_PASSWORD: '' } });
  const proc = board;
  base = await waitFor(() => {
    if (proc.child.exitCode !== null) throw new Error(`board exited: ${proc.stderr()}`);
    return /board listening on (http:\/\/\S+)/.exec(proc.stderr())?.[1];
  }, 20_000, 'the board to listen');
}, 300_000);

afterAll(async () => {
  if (board !== undefined && board.child.exitCode === null && board.child.signalCode === null) {
    board.child.kill('SIGTERM');
    await board.done;
  }
  redis.disconnect();
  await deletePrefix(prefix);
});

async function get<T>(path: string): Promise<{ status: number; text: string; body: T }> {
  const res = await fetch(`${base}${path}`);
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as T };
}

/** The longest value of a key: a string's length, or a hash's longest field (`definition` of the meta aside). */
async function longestValue(key: string): Promise<number> {
  const type = await redis.type(key);
  if (type === 'string') return redis.strlen(key);
  if (type !== 'hash') return 0;
  let longest = 0;
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(key, cursor, 'COUNT', 1000);
    cursor = next;
    for (let i = 0; i < flat.length; i += 2) if (!(key.endsWith(':meta') && flat[i] === 'definition')) longest = Math.max(longest, (flat[i + 1] ?? '').length);
  } while (cursor !== '0');
  return longest;
}

describe('the summary of a 2,000-node run', () => {
  it('prints the documented shape on stdout and writes the same, pretty-printed, to the summary file', () => {
    expect(summary).toMatchObject({ run_id: runId, workflow: 'wide', status: 'failed', counts: { succeeded: WIDTH, failed: 1, skipped: 1, cached: 0, cancelled: 0 } });
    expect(Object.keys(summary)).toEqual(['run_id', 'workflow', 'status', 'budget', 'scheduler', 'started_ms', 'finished_ms', 'wall_s', 'counts', 'failures', 'memory_warnings', 'nodes']);
    expect(summary.nodes.map((n) => n.id)).toEqual([...Array.from({ length: WIDTH }, (_, i) => `n${i}`), 'boom', 'after']);
    expect(summary.failures).toEqual([expect.objectContaining({ node: 'boom', reason: 'exit code 3', skipped: ['after'], stderr_tail: 'bad input' })]);
    expect(stdout).toBe(`${JSON.stringify(summary)}\n`);
    const file = readFileSync(join(dir, 'work', '_runs', `${runId}.json`), 'utf8');
    expect(file).toBe(`${JSON.stringify(summary, null, 2)}\n`);
  });

  it('is stored per node: the run-level part is small, every node record is its own field, no value grows with the run', async () => {
    const meta = `${prefix}:fg:run:${runId}:meta`;
    const head = JSON.parse((await redis.hget(meta, 'summary')) ?? 'null') as Record<string, unknown>;
    expect(head).toEqual({ ...Object.fromEntries(Object.entries(summary).filter(([k]) => !['failures', 'memory_warnings', 'nodes'].includes(k))), node_count: TOTAL });
    expect(await redis.hstrlen(meta, 'summary')).toBeLessThan(1024);
    const nodesKey = `${prefix}:fg:run:${runId}:nodes`;
    expect(await redis.hlen(nodesKey)).toBe(TOTAL);
    expect(JSON.parse((await redis.hget(nodesKey, String(WIDTH))) ?? 'null')).toEqual(summary.nodes[WIDTH]);
    const lengths = await Promise.all((await keysUnder(prefix)).map(async (k) => [k, await longestValue(k)] as const));
    const [longestKey, longest] = lengths.reduce((a, b) => (b[1] > a[1] ? b : a));
    expect(longest, `longest value: ${longestKey}`).toBeLessThan(8 * 1024);
  });

  it('reads back whole: `flowgate cancel` of the ended run prints the same summary', async () => {
    const r = await runCli(['cancel', runId, '--json', '--prefix', prefix], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(stdout);
  });

  it('reads a summary stored whole by an earlier version', async () => {
    const old = { ...summary, run_id: 'old-1', nodes: summary.nodes.slice(0, 3), failures: [], counts: { ...summary.counts, succeeded: 3, failed: 0, skipped: 0 } };
    await redis.hset(`${prefix}:fg:run:old-1:meta`, { run_id: 'old-1', workflow: 'wide', status: 'succeeded', started_ms: String(old.started_ms), finished_ms: String(old.finished_ms), summary: JSON.stringify(old) });
    const r = await runCli(['cancel', 'old-1', '--json', '--prefix', prefix], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(old);
  });

  it('`flowgate status RUN --json` streams every node and the run-level summary', async () => {
    const r = await runCli(['status', runId, '--json', '--prefix', prefix], { env });
    expect(r.code, r.stderr).toBe(0);
    const detail = JSON.parse(r.stdout) as RunDetail;
    expect(detail.nodes).toHaveLength(TOTAL);
    expect(detail.nodes.at(-2)).toMatchObject({ id: 'boom', state: 'failed', exit_code: 3 });
    expect(detail.summary).toMatchObject({ run_id: runId, node_count: TOTAL, counts: summary.counts });
    expect(detail.summary).not.toHaveProperty('nodes');
  });
});

describe('the board API of a 2,000-node run', () => {
  it('answers a compact overview: counts, failures, ledger; no nodes', async () => {
    const { status, text, body } = await get<RunOverview>(`/api/runs/${runId}`);
    expect(status).toBe(200);
    expect(body).not.toHaveProperty('nodes');
    expect(body).toMatchObject({ run_id: runId, status: 'failed', total: TOTAL, failures_total: 1, summary: { node_count: TOTAL } });
    expect(body.counts).toMatchObject({ succeeded: WIDTH, failed: 1, skipped: 1 });
    expect(body.failures[0]).toMatchObject({ node: 'boom', skipped: ['after'], skipped_total: 1 });
    expect(body.ledger.timeline.length).toBeLessThanOrEqual(2000);
    expect(text.length).toBeLessThan(200 * 1024);
  });

  it('pages the nodes in index order, up to 1000 a page, filtered by state', async () => {
    const first = (await get<NodePage>(`/api/runs/${runId}/nodes?limit=1000`)).body;
    expect(first).toMatchObject({ run_id: runId, total: TOTAL, offset: 0, limit: 1000, state: null });
    expect(first.nodes.map((n) => n.id)).toEqual(Array.from({ length: 1000 }, (_, i) => `n${i}`));
    const last = (await get<NodePage>(`/api/runs/${runId}/nodes?offset=1999&limit=1000`)).body;
    expect(last.nodes.map((n) => [n.id, n.state])).toEqual([['n1999', 'succeeded'], ['boom', 'failed'], ['after', 'skipped']]);
    expect(last.nodes[1]).toMatchObject({ exit_code: 3, reason: 'exit code 3', attempts: 1 });
    expect((await get<NodePage>(`/api/runs/${runId}/nodes`)).body.nodes).toHaveLength(100);
    expect((await get<NodePage>(`/api/runs/${runId}/nodes?offset=5000`)).body).toMatchObject({ total: TOTAL, nodes: [] });
    const failed = (await get<NodePage>(`/api/runs/${runId}/nodes?state=failed`)).body;
    expect(failed).toMatchObject({ total: 1, state: 'failed', nodes: [{ id: 'boom' }] });
    const succeeded = (await get<NodePage>(`/api/runs/${runId}/nodes?state=succeeded&offset=1990&limit=50`)).body;
    expect(succeeded.total).toBe(WIDTH);
    expect(succeeded.nodes.map((n) => n.id)).toEqual(Array.from({ length: 10 }, (_, i) => `n${1990 + i}`));
    expect((await get<NodePage>(`/api/runs/${runId}/nodes?state=running`)).body).toMatchObject({ total: 0, nodes: [] });
  });

  it('answers 400 naming the parameter for bad paging input, 404 for an unknown run', async () => {
    const cases: Array<[string, RegExp]> = [
      ['limit=0', /^limit must be a whole number from 1 to 1000, got "0"$/],
      ['limit=1001', /^limit must be a whole number from 1 to 1000/],
      ['limit=abc', /^limit must be/],
      ['limit=1&limit=2', /^limit must be/],
      ['offset=-1', /^offset must be a whole number from 0 to/],
      ['offset=1.5', /^offset must be/],
      ['state=bogus', /^state must be one of waiting, ready, queued, running, succeeded, failed, skipped, cached, cancelled, got "bogus"$/],
    ];
    for (const [query, message] of cases) {
      const r = await get<{ error: string }>(`/api/runs/${runId}/nodes?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.error, query).toMatch(message);
    }
    expect((await get<{ error: string }>('/api/runs/bad%20id/nodes')).status).toBe(400);
    const missing = await get<{ error: string }>('/api/runs/no-such-run/nodes');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toContain('no-such-run');
  });
});

describe('pruning a run stored per node', () => {
  it('removes every key of the run', async () => {
    const r = await runCli(['prune', '--keep', '0', '--prefix', prefix], { env });
    expect(r.code, r.stderr).toBe(0);
    expect((await keysUnder(prefix)).filter((k) => k.includes(`:fg:run:${runId}:`))).toEqual([]);
  });
});
