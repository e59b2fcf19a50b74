/**
 * The pure parts of the run views: counting, list items, node views, the
 * ledger timeline, failures and the waiting snapshot.
 */
import { describe, expect, it } from 'vitest';
import { parseService } from '../../src/board/service.js';
import { SECRET_MASK } from '../../src/shared/secrets.js';
import { downsampleTimeline } from '../../src/shared/ledger-timeline.js';
import {
  buildTimeline,
  countStates,
  definitionNodes,
  listFailureViews,
  listItem,
  nodeView,
  parseBudget,
  parseWaiting,
  type NodeView,
} from '../../src/shared/run-view.js';
import { runStatus } from '../../src/shared/effective-state.js';

function node(id: string, over: Partial<NodeView> = {}): NodeView {
  return { ...nodeView({ id, needs: [], n_procs: 1, mem_gb: 1 }, 'waiting', undefined), ...over };
}

describe('countStates', () => {
  it('counts every state, missing states as waiting, ignores unknown ones', () => {
    const c = countStates(['running', 'succeeded', 'succeeded', undefined, 'bogus']);
    expect(c).toEqual({ waiting: 1, ready: 0, queued: 0, running: 1, succeeded: 2, failed: 0, skipped: 0, cached: 0, cancelled: 0 });
  });
});

describe('meta parsing', () => {
  it('reads statuses, budgets and definitions defensively', () => {
    expect(runStatus('submitted')).toBe('submitted');
    expect(runStatus(undefined)).toBe('running');
    expect(runStatus('weird')).toBe('running');
    expect(parseBudget('{"n_procs":4,"memory_gb":8.5}')).toEqual({ n_procs: 4, memory_gb: 8.5 });
    expect(parseBudget('not json')).toEqual({ n_procs: 0, memory_gb: 0 });
    expect(definitionNodes('{"name":"w","nodes":[{"id":"a","needs":[],"n_procs":2,"mem_gb":3},{"id":"b","needs":["a"]}]}')).toEqual([
      { id: 'a', needs: [], n_procs: 2, mem_gb: 3, resources: {}, env: {} },
      { id: 'b', needs: ['a'], n_procs: 1, mem_gb: 0, resources: {}, env: {} },
    ]);
    expect(definitionNodes(undefined)).toEqual([]);
  });

  it('masks secret-looking env values of the definition, so no view can show them', () => {
    const def = JSON.stringify({ name: 'w', nodes: [{ id: 'a', env: { API_TOKEN: 'tok-1', THREADS: '4', db_password: 'pw' } }] });
    const [a] = definitionNodes(def);
    expect(a?.env).toEqual({ API_TOKEN: SECRET_MASK, THREADS: '4', db_password: SECRET_MASK });
    expect(nodeView(a ?? { id: 'a' }, 'waiting', undefined).env).toEqual(a?.env);
    expect(JSON.stringify(nodeView(a ?? { id: 'a' }, 'waiting', undefined))).not.toMatch(/tok-1|"pw"/);
  });

  it('builds a list item: wall time once finished, mode run unless service', () => {
    const meta = { run_id: 'r1', workflow: 'w', status: 'failed', started_ms: '1000', finished_ms: '3500', budget: '{"n_procs":2,"memory_gb":4}' };
    const item = listItem(meta, ['succeeded', 'failed', 'skipped'], 'r1');
    expect(item).toMatchObject({ run_id: 'r1', workflow: 'w', status: 'failed', started_ms: 1000, finished_ms: 3500, wall_s: 2.5, total: 3, mode: 'run', budget: { n_procs: 2, memory_gb: 4 } });
    expect(item.counts.failed).toBe(1);
    const running = listItem({ run_id: 'r2', status: 'submitted', started_ms: '5', mode: 'service' }, ['waiting', 'waiting'], 'r2');
    expect(running).toMatchObject({ status: 'submitted', finished_ms: null, wall_s: null, mode: 'service', total: 2 });
    expect(running.counts.waiting).toBe(2);
  });
});

describe('nodeView', () => {
  it('merges the definition, the state and the record; absent fields are null', () => {
    const record = JSON.stringify({ id: 'a', status: 'failed', granted: { n_procs: 2, mem_gb: 1 }, admitted_ms: 10, released_ms: 40, start_ms: 12, end_ms: 38, worker: 'h:1', exit_code: 3, signal: null, attempts: 1, crash_file: '/x/crash-1.json', reason: 'exit code 3', node_dir: '/w/a', cpu_s: 0.5, peak_rss_mb: 512 });
    const v = nodeView({ id: 'a', needs: ['z'], n_procs: 4, mem_gb: 1 }, 'failed', record);
    expect(v).toMatchObject({ id: 'a', needs: ['z'], n_procs: 4, granted: { n_procs: 2, mem_gb: 1 }, state: 'failed', exit_code: 3, crash_file: '/x/crash-1.json', peak_rss_mb: 512 });
    const bare = nodeView({ id: 'b' }, undefined, undefined);
    expect(bare).toMatchObject({ id: 'b', state: 'waiting', granted: null, admitted_ms: null, worker: null, attempts: 0, node_dir: null });
    expect(nodeView({ id: 'c' }, 'running', '{broken').state).toBe('running');
  });
});

describe('buildTimeline', () => {
  it('is a step function of reservations and measured RSS', () => {
    const nodes = [
      node('a', { granted: { n_procs: 2, mem_gb: 1.5 }, admitted_ms: 0, released_ms: 100, start_ms: 5, end_ms: 95, peak_rss_mb: 1024 }),
      node('b', { admitted_ms: 50, released_ms: 200, start_ms: 60, end_ms: 190, peak_rss_mb: null }),
      node('c'),
    ];
    expect(buildTimeline(nodes, 1000)).toEqual([
      { t_ms: 0, n_procs: 2, mem_gb: 1.5, rss_gb: 0 },
      { t_ms: 5, n_procs: 2, mem_gb: 1.5, rss_gb: 1 },
      { t_ms: 50, n_procs: 3, mem_gb: 2.5, rss_gb: 1 },
      { t_ms: 95, n_procs: 3, mem_gb: 2.5, rss_gb: 0 },
      { t_ms: 100, n_procs: 1, mem_gb: 1, rss_gb: 0 },
      { t_ms: 200, n_procs: 0, mem_gb: 0, rss_gb: 0 },
    ]);
  });

  it('returns to exactly zero after many nodes\' measured RSS came and went (no rounding drift)', () => {
    // Two nodes start at one instant and end at two (10.3 micro-GB of RSS each): rounding the
    // running level at every step keeps 1 micro-GB (21 up, 10 and 10 down).
    const rss = 10.3e-6 * 1024;
    const nodes = [0, 1, 2, 3].flatMap((k) => [
      node(`a${k}`, { admitted_ms: k * 100, released_ms: k * 100 + 50, start_ms: k * 100 + 1, end_ms: k * 100 + 10, peak_rss_mb: rss, mem_gb: 0.2 }),
      node(`b${k}`, { admitted_ms: k * 100, released_ms: k * 100 + 60, start_ms: k * 100 + 1, end_ms: k * 100 + 20, peak_rss_mb: rss, mem_gb: 0.2 }),
    ]);
    const timeline = buildTimeline(nodes, 100_000);
    expect(timeline.at(-1)).toMatchObject({ n_procs: 0, mem_gb: 0, rss_gb: 0 });
    for (const p of timeline) expect(p.rss_gb).toBeGreaterThanOrEqual(0);
  });

  it('takes away exactly what it added, also for amounts that round at a half', () => {
    // 2.5 micro-GB: Math.round(2.5) is 3 but Math.round(-2.5) is -2.
    const nodes = [node('h', { admitted_ms: 0, released_ms: 20, start_ms: 1, end_ms: 10, peak_rss_mb: 2.5e-6 * 1024, mem_gb: 2.5e-6 })];
    expect(buildTimeline(nodes, 1000).at(-1)).toMatchObject({ n_procs: 0, mem_gb: 0, rss_gb: 0 });
  });

  it('a release and an admission at the same instant make no step; float noise is rounded', () => {
    const nodes = [
      node('a', { mem_gb: 0.1, admitted_ms: 0, released_ms: 10 }),
      node('b', { mem_gb: 0.2, admitted_ms: 0, released_ms: 20 }),
      node('c', { mem_gb: 0.1, admitted_ms: 10, released_ms: 20 }),
    ];
    expect(buildTimeline(nodes, 1000)).toEqual([
      { t_ms: 0, n_procs: 2, mem_gb: 0.3, rss_gb: 0 },
      { t_ms: 20, n_procs: 0, mem_gb: 0, rss_gb: 0 },
    ]);
  });

  it('holds that are still open extend to now', () => {
    const nodes = [node('a', { admitted_ms: 100, released_ms: null, start_ms: 110, end_ms: null, peak_rss_mb: 2048 })];
    expect(buildTimeline(nodes, 500)).toEqual([
      { t_ms: 100, n_procs: 1, mem_gb: 1, rss_gb: 0 },
      { t_ms: 110, n_procs: 1, mem_gb: 1, rss_gb: 2 },
      { t_ms: 500, n_procs: 1, mem_gb: 1, rss_gb: 2 },
    ]);
    expect(buildTimeline([], 500)).toEqual([]);
  });
});

describe('listFailureViews', () => {
  it('lists failed nodes with the nodes they took down', () => {
    const nodes = [
      node('a', { state: 'failed', reason: 'exit code 3', crash_file: '/c/crash-a.json' }),
      node('b', { state: 'skipped', skipped_because: 'a' }),
      node('c', { state: 'skipped', skipped_because: 'a' }),
      node('d', { state: 'failed' }),
      node('e', { state: 'succeeded' }),
    ];
    expect(listFailureViews(nodes)).toEqual([
      { node: 'a', reason: 'exit code 3', crash_file: '/c/crash-a.json', crash: null, skipped: ['b', 'c'] },
      { node: 'd', reason: 'failed', crash_file: null, crash: null, skipped: [] },
    ]);
  });
});

describe('parseWaiting and parseService', () => {
  it('reads the waiting snapshot; null when absent or malformed', () => {
    const raw = JSON.stringify({ at_ms: 7, budget: { n_procs: 4, mem_gb: 8 }, free: { n_procs: 1, mem_gb: 2 }, waiting: [{ id: 'x', reason: 'needs 4 procs' }] });
    expect(parseWaiting(raw)).toEqual({ at_ms: 7, budget: { n_procs: 4, mem_gb: 8 }, free: { n_procs: 1, mem_gb: 2 }, waiting: [{ id: 'x', reason: 'needs 4 procs' }], queue_paused: false });
    expect(parseWaiting(JSON.stringify({ ...JSON.parse(raw), queue_paused: true }))?.queue_paused).toBe(true);
    expect(parseWaiting(null)).toBeNull();
    expect(parseWaiting('{"at_ms":1}')).toBeNull();
  });

  it('reads the service hash, leaving out missing or malformed fields', () => {
    expect(parseService({ holder: 'h:1', budget: '{"n_procs":8,"memory_gb":16}', started_ms: '5', heartbeat_ms: '9', runs: '["r1","r2"]' })).toEqual({
      holder: 'h:1',
      budget: { n_procs: 8, memory_gb: 16 },
      started_ms: 5,
      heartbeat_ms: 9,
      runs: ['r1', 'r2'],
    });
    expect(parseService({ budget: 'nope', runs: '{}', started_ms: 'x' })).toEqual({});
  });
});

describe('named resources and placement in the views', () => {
  it('reads the named budget of a run and of its waiting snapshot; leaves it out when there is none', () => {
    expect(parseBudget('{"n_procs":4,"memory_gb":8,"resources":{"gpu":2,"licence_x":1}}')).toEqual({ n_procs: 4, memory_gb: 8, resources: { gpu: 2, licence_x: 1 } });
    expect(parseBudget('{"n_procs":4,"memory_gb":8,"resources":{"gpu":"x"}}')).toEqual({ n_procs: 4, memory_gb: 8 });
    const raw = JSON.stringify({ at_ms: 1, budget: { n_procs: 4, mem_gb: 8, resources: { gpu: 2 } }, free: { n_procs: 3, mem_gb: 7, resources: { gpu: 0 } }, waiting: [{ id: 'g', reason: 'needs gpu 1, 0 free' }] });
    expect(parseWaiting(raw)).toMatchObject({ budget: { resources: { gpu: 2 } }, free: { resources: { gpu: 0 } } });
    expect(definitionNodes('{"nodes":[{"id":"g","resources":{"gpu":1}}]}')[0]?.resources).toEqual({ gpu: 1 });
  });

  it('shows a node\'s host, slots, named grant and attempt history (lost attempts included)', () => {
    const record = JSON.stringify({
      id: 'g',
      granted: { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } },
      host: 'a',
      slots: { gpu: [1] },
      attempt: 2,
      attempts: 2,
      attempt_history: [
        { attempt: 1, status: 'lost', reason: 'host lost: host b stopped heartbeating', worker: 'b1', start_ms: 1, end_ms: null },
        { attempt: 2, status: 'succeeded', reason: null, worker: 'a1', start_ms: 5, end_ms: 9 },
      ],
    });
    const v = nodeView({ id: 'g', resources: { gpu: 1 } }, 'succeeded', record);
    expect(v).toMatchObject({ resources: { gpu: 1 }, granted: { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } }, host: 'a', slots: { gpu: [1] } });
    expect(v.attempt_history.map((a) => `${a.attempt} ${a.status} ${a.worker ?? ''}`)).toEqual(['1 lost b1', '2 succeeded a1']);
    // A map element's declared resources come from its record.
    expect(nodeView({ id: 'e' }, 'running', JSON.stringify({ id: 'e', resources: { gpu: 2 } })).resources).toEqual({ gpu: 2 });
    expect(nodeView({ id: 'p' }, 'waiting', undefined)).toMatchObject({ host: null, slots: null, resources: {}, attempt_history: [] });
  });

  it('the ledger timeline carries each named resource held, and downsampling keeps its peaks', () => {
    const nodes = [
      node('g1', { granted: { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } }, admitted_ms: 0, released_ms: 100 }),
      node('g2', { granted: { n_procs: 1, mem_gb: 1, resources: { gpu: 1, licence_x: 1 } }, admitted_ms: 50, released_ms: 150 }),
      node('plain', { granted: { n_procs: 1, mem_gb: 1 }, admitted_ms: 120, released_ms: 200 }),
    ];
    const t = buildTimeline(nodes, 1000);
    expect(t.map((p) => [p.t_ms, p.n_procs, p.resources])).toEqual([
      [0, 1, { gpu: 1, licence_x: 0 }],
      [50, 2, { gpu: 2, licence_x: 1 }],
      [100, 1, { gpu: 1, licence_x: 1 }],
      [120, 2, { gpu: 1, licence_x: 1 }],
      [150, 1, { gpu: 0, licence_x: 0 }],
      [200, 0, { gpu: 0, licence_x: 0 }],
    ]);
    // A release of one GPU node and an admission of another at one instant: no step.
    const swap = buildTimeline([node('x', { granted: { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } }, admitted_ms: 0, released_ms: 10 }), node('y', { granted: { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } }, admitted_ms: 10, released_ms: 20 })], 100);
    expect(swap.map((p) => p.t_ms)).toEqual([0, 20]);
    const small = downsampleTimeline(t, 3);
    expect(Math.max(...small.map((p) => p.resources?.['gpu'] ?? 0))).toBe(2);
    expect(small.at(-1)?.resources).toEqual({ gpu: 0, licence_x: 0 });
    // No named resource anywhere: the points have none.
    expect(buildTimeline([node('a', { admitted_ms: 0, released_ms: 5 })], 10)[0]).not.toHaveProperty('resources');
  });

  it('reads the service\'s named budget and placement', () => {
    expect(parseService({ budget: '{"n_procs":8,"memory_gb":16,"resources":{"gpu":4}}', placement: 'hosts' })).toEqual({ budget: { n_procs: 8, memory_gb: 16, resources: { gpu: 4 } }, placement: 'hosts' });
  });
});
