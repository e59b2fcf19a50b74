/**
 * RunGraph, the pure state machine of a run: progression through chains and
 * diamonds, failure skipping, stale events, stopping, clamping, and a
 * discrete-event simulation checking the budget invariant at every instant.
 */
import { describe, expect, it } from 'vitest';
import { assertFitsBudget, type SchedulerOrder } from '../../src/scheduler/admission.js';
import type { Resources } from '../../src/scheduler/ledger.js';
import type { NodeState } from '../../src/scheduler/node-state.js';
import { RunGraph, type FailResult, type NodeRuntime } from '../../src/scheduler/run-graph.js';
import { countStatuses, listFailures } from '../../src/scheduler/summary.js';
import { FakeClock, makeWorkflow, outcome, seededRandom, type NodeSpec } from './support.js';

const BUDGET: Resources = { n_procs: 8, mem_gb: 16 };

interface GraphOptions {
  budget?: Resources;
  order?: SchedulerOrder;
  raiseInsufficient?: boolean;
}

function build(nodes: readonly NodeSpec[], o: GraphOptions = {}): { g: RunGraph; clock: FakeClock } {
  const clock = new FakeClock(1_000);
  const g = new RunGraph({
    workflow: makeWorkflow(nodes),
    budget: o.budget ?? BUDGET,
    order: o.order ?? 'tsort',
    raiseInsufficient: o.raiseInsufficient ?? true,
    workDir: '/tmp/x',
    clock: clock.read,
  });
  return { g, clock };
}

const ids = (ns: readonly NodeRuntime[]): string[] => ns.map((n) => n.node.id);
/** The skipped descendants of a final failure ([] for a stale event or a retry). */
const skippedOf = (r: FailResult | undefined): NodeRuntime[] => (r !== undefined && !r.retry ? r.skipped : []);

function byId(g: RunGraph, id: string): NodeRuntime {
  const i = g.dag.indexOf(id);
  if (i === undefined) throw new Error(`no node ${id}`);
  return g.node(i);
}

function states(g: RunGraph): Record<string, NodeState> {
  return Object.fromEntries(g.nodes.map((n) => [n.node.id, n.state]));
}

/** Completes a node's current attempt successfully. */
function succeed(g: RunGraph, id: string): boolean {
  const n = byId(g, id);
  return g.complete(n.index, n.attempt, outcome());
}

describe('RunGraph: construction', () => {
  it('starts with every node waiting and a durable record per node', () => {
    const { g } = build([{ id: 'a', n_procs: 2, mem_gb: 3 }, { id: 'b', needs: ['a'] }]);
    expect(g.size).toBe(2);
    expect(states(g)).toEqual({ a: 'waiting', b: 'waiting' });
    expect(g.done).toBe(false);
    expect(g.isAdmitting).toBe(true);
    expect(g.inFlight).toBe(0);
    expect(byId(g, 'a').record).toEqual({
      id: 'a',
      status: 'waiting',
      n_procs: 2,
      mem_gb: 3,
      granted: { n_procs: 2, mem_gb: 3 },
      admitted_ms: null,
      released_ms: null,
      start_ms: null,
      end_ms: null,
      worker: null,
      exit_code: null,
      signal: null,
      attempts: 0,
      attempt: 0,
      crash_file: null,
      skipped_because: null,
      reason: null,
      node_dir: '/tmp/x/wf/a',
      attempt_history: [],
      stalls: 0,
      cpu_s: null,
      peak_rss_mb: null,
    });
    expect(byId(g, 'b').remaining).toBe(1);
    expect(() => g.node(2)).toThrow(RangeError);
  });

  it('start() makes exactly the roots ready', () => {
    const { g } = build([{ id: 'x', needs: ['z'] }, { id: 'y' }, { id: 'z' }]);
    g.start();
    expect(states(g)).toEqual({ x: 'waiting', y: 'ready', z: 'ready' });
    expect(g.readyCount).toBe(2);
    expect(g.takeChanged().sort()).toEqual([1, 2]);
    expect(g.takeChanged()).toEqual([]);
  });
});

describe('RunGraph: progression', () => {
  it('runs a chain one node at a time', () => {
    const { g, clock } = build([{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['b'] }]);
    g.start();
    for (const [step, id] of ['a', 'b', 'c'].entries()) {
      const admitted = g.admit();
      expect(ids(admitted), `step ${step}`).toEqual([id]);
      expect(g.admit()).toEqual([]); // nothing else is ready
      expect(g.inFlight).toBe(1);
      const n = admitted[0] as NodeRuntime;
      expect(n.state).toBe('queued');
      expect(n.attempt).toBe(1);
      expect(n.record.attempts).toBe(1);
      expect(n.record.admitted_ms).toBe(clock.now);
      expect(g.ledger.used).toEqual({ n_procs: 1, mem_gb: 0.25 });
      expect(g.markRunning(n.index, 1)).toBe(true);
      expect(n.state).toBe('running');
      clock.advance(100);
      expect(g.complete(n.index, 1, outcome({ start_ms: 5, end_ms: 95, worker: 'w:7' }))).toBe(true);
      expect(n.state).toBe('succeeded');
      expect(n.record).toMatchObject({ status: 'succeeded', released_ms: clock.now, start_ms: 5, end_ms: 95, worker: 'w:7', exit_code: 0 });
      expect(g.inFlight).toBe(0);
      expect(g.ledger.used).toEqual({ n_procs: 0, mem_gb: 0 });
    }
    expect(g.done).toBe(true);
    expect(g.terminalCount).toBe(3);
    expect(g.counts()).toMatchObject({ succeeded: 3, waiting: 0, ready: 0, queued: 0, running: 0 });
  });

  it('makes a diamond join ready only after both branches succeed', () => {
    const { g } = build([{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['a'] }, { id: 'd', needs: ['b', 'c'] }]);
    g.start();
    expect(ids(g.admit())).toEqual(['a']);
    succeed(g, 'a');
    expect(ids(g.admit())).toEqual(['b', 'c']);
    expect(succeed(g, 'b')).toBe(true);
    expect(byId(g, 'd').state).toBe('waiting');
    expect(byId(g, 'd').remaining).toBe(1);
    expect(g.admit()).toEqual([]);
    // queued -> succeeded directly: the "active" event may never arrive.
    expect(byId(g, 'c').state).toBe('queued');
    expect(succeed(g, 'c')).toBe(true);
    expect(byId(g, 'd').state).toBe('ready');
    expect(byId(g, 'd').remaining).toBe(0);
    expect(ids(g.admit())).toEqual(['d']);
    succeed(g, 'd');
    expect(g.done).toBe(true);
  });

  it('reports changed nodes, and apart from them successors whose counters alone moved', () => {
    const { g } = build([{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['a', 'b'] }]);
    g.start();
    g.takeChanged();
    g.admit();
    expect(g.takeChanged()).toEqual([0]);
    succeed(g, 'a');
    // b became ready (its record changed); c only waits for one predecessor less.
    expect(g.takeChanged().sort()).toEqual([0, 1]);
    expect(g.takeRecounted()).toEqual([2]);
    expect(g.takeRecounted()).toEqual([]);
  });

  it('explains why ready nodes wait', () => {
    const { g } = build([{ id: 'a' }, { id: 'b', mem_gb: 2 }, { id: 'c', n_procs: 2 }], { budget: { n_procs: 2, mem_gb: 1 } });
    g.start();
    expect(g.waiting()).toEqual([
      { id: 'a', reason: 'waiting for its turn' },
      { id: 'b', reason: 'needs 2 GB, 1 GB free' },
      { id: 'c', reason: 'waiting for its turn' },
    ]);
    expect(ids(g.admit())).toEqual(['a']);
    expect(g.waiting()).toEqual([
      { id: 'b', reason: 'needs 2 GB, 0.75 GB free' },
      { id: 'c', reason: 'needs 2 procs, 1 free' },
    ]);
  });
});

describe('RunGraph: admission order', () => {
  // nipype's verified example: (mem_gb, n_procs) in file order.
  const six: NodeSpec[] = [
    { id: 'a', mem_gb: 3, n_procs: 1 },
    { id: 'b', mem_gb: 1, n_procs: 2 },
    { id: 'c', mem_gb: 2, n_procs: 1 },
    { id: 'd', mem_gb: 1, n_procs: 1 },
    { id: 'e', mem_gb: 0.5, n_procs: 3 },
    { id: 'f', mem_gb: 3, n_procs: 2 },
  ];
  const roomy = { n_procs: 16, mem_gb: 16 };

  it('admits in mem_thread order e, d, b, c, a, f', () => {
    const { g } = build(six, { order: 'mem_thread', budget: roomy });
    g.start();
    expect(ids(g.admit())).toEqual(['e', 'd', 'b', 'c', 'a', 'f']);
  });

  it('admits in tsort order a..f', () => {
    const { g } = build(six, { order: 'tsort', budget: roomy });
    g.start();
    expect(ids(g.admit())).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('keeps the order for nodes that become ready later', () => {
    const late = six.map((s) => ({ ...s, needs: ['root'] }));
    const { g } = build([{ id: 'root' }, ...late], { order: 'mem_thread', budget: roomy });
    g.start();
    g.admit();
    succeed(g, 'root');
    expect(ids(g.admit())).toEqual(['e', 'd', 'b', 'c', 'a', 'f']);
  });

  it('admits first fit: a later, smaller node takes the space a larger one cannot', () => {
    const { g } = build([{ id: 'hold', mem_gb: 2 }, { id: 'big', mem_gb: 3 }, { id: 'small', mem_gb: 1 }], { budget: { n_procs: 8, mem_gb: 4 } });
    g.start();
    expect(ids(g.admit())).toEqual(['hold', 'small']);
    expect(byId(g, 'big').state).toBe('ready');
    succeed(g, 'hold');
    expect(ids(g.admit())).toEqual(['big']); // small still holds 1 GB: exactly 3 GB free
    expect(g.ledger.free).toEqual({ n_procs: 6, mem_gb: 0 });
  });
});

describe('RunGraph: failure', () => {
  it('skips all descendants while an independent branch is still admitted', () => {
    // One proc: only one node at a time, so x must wait behind a.
    const { g } = build(
      [{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['b'] }, { id: 'x' }, { id: 'y', needs: ['x'] }],
      { budget: { n_procs: 1, mem_gb: 16 } },
    );
    g.start();
    expect(ids(g.admit())).toEqual(['a']);
    expect(g.waiting()).toEqual([{ id: 'x', reason: 'needs 1 procs, 0 free' }]);
    g.markRunning(0, 1);
    const skipped = skippedOf(g.fail(0, 1, 'exit code 3', outcome({ exit_code: 3, signal: null, stderr_tail: `${Array.from({ length: 12 }, (_, i) => `e${i + 1}`).join('\n')}\n` })));
    expect(ids(skipped)).toEqual(['b', 'c']);
    expect(byId(g, 'a').record).toMatchObject({ status: 'failed', reason: 'exit code 3', exit_code: 3 });
    for (const id of ['b', 'c']) {
      expect(byId(g, id).record).toMatchObject({ status: 'skipped', skipped_because: 'a', reason: 'upstream node "a" failed' });
    }
    expect(g.ledger.used).toEqual({ n_procs: 0, mem_gb: 0 });
    expect(ids(g.admit())).toEqual(['x']);
    succeed(g, 'x');
    expect(ids(g.admit())).toEqual(['y']);
    succeed(g, 'y');
    expect(g.done).toBe(true);
    expect(g.counts()).toMatchObject({ succeeded: 2, failed: 1, skipped: 2 });

    const records = g.nodes.map((n) => n.record);
    expect(countStatuses(records)).toEqual({ succeeded: 2, failed: 1, skipped: 2, cached: 0, cancelled: 0 });
    // The failure keeps the node's directory and the last 10 lines of its stderr.
    const tail = Array.from({ length: 10 }, (_, i) => `e${i + 3}`).join('\n');
    expect(listFailures(records)).toEqual([{ node: 'a', reason: 'exit code 3', crash_file: null, skipped: ['b', 'c'], node_dir: byId(g, 'a').record.node_dir, stderr_tail: tail }]);
    expect(byId(g, 'a').record.stderr_tail).toBe(tail);
  });

  it('skips a join when one branch fails, even after the other succeeds', () => {
    const { g } = build([{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['a'] }, { id: 'd', needs: ['b', 'c'] }, { id: 'e', needs: ['d'] }]);
    g.start();
    g.admit();
    succeed(g, 'a');
    g.admit();
    const b = byId(g, 'b');
    expect(ids(skippedOf(g.fail(b.index, b.attempt, 'boom', undefined)))).toEqual(['d', 'e']);
    expect(byId(g, 'c').state).toBe('queued'); // a sibling already running is left alone
    expect(succeed(g, 'c')).toBe(true);
    expect(byId(g, 'd').state).toBe('skipped');
    expect(byId(g, 'd').record.skipped_because).toBe('b');
    expect(g.admit()).toEqual([]);
    expect(g.done).toBe(true);
    // Without an outcome (e.g. the worker was lost) nothing about the process is known.
    expect(b.record).toMatchObject({ exit_code: null, start_ms: null, worker: null, reason: 'boom' });
  });

  it('does not re-skip nodes already skipped by an earlier failure', () => {
    const { g } = build([{ id: 'p' }, { id: 'q' }, { id: 'j', needs: ['p', 'q'] }]);
    g.start();
    g.admit();
    expect(ids(skippedOf(g.fail(0, 1, 'first', undefined)))).toEqual(['j']);
    expect(skippedOf(g.fail(1, 1, 'second', undefined))).toEqual([]);
    expect(byId(g, 'j').record.skipped_because).toBe('p');
    expect(g.terminalCount).toBe(3);
  });
});

describe('RunGraph: stale and duplicate events', () => {
  it('ignores events for the wrong attempt, unknown nodes and nodes not in flight', () => {
    const { g } = build([{ id: 'a' }, { id: 'b', needs: ['a'] }]);
    g.start();
    // Not admitted yet: attempt 0, state ready.
    expect(g.markRunning(0, 0)).toBe(false);
    expect(g.complete(0, 0, outcome())).toBe(false);
    expect(g.fail(0, 0, 'x', undefined)).toBeUndefined();
    g.admit();
    g.takeChanged();
    expect(g.markRunning(0, 2)).toBe(false);
    expect(g.complete(0, 2, outcome())).toBe(false);
    expect(g.fail(0, 2, 'x', undefined)).toBeUndefined();
    expect(g.complete(99, 1, outcome())).toBe(false);
    expect(g.markRunning(99, 1)).toBe(false);
    expect(g.fail(-1, 1, 'x', undefined)).toBeUndefined();
    expect(g.complete(1, 1, outcome())).toBe(false); // b is waiting
    expect(states(g)).toEqual({ a: 'queued', b: 'waiting' });
    expect(g.takeChanged()).toEqual([]);
  });

  it('ignores a late "running" after completion and a second completion', () => {
    const { g } = build([{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['a'] }, { id: 'd', needs: ['b', 'c'] }]);
    g.start();
    g.admit();
    succeed(g, 'a');
    g.admit();
    const b = byId(g, 'b');
    expect(g.complete(b.index, 1, outcome())).toBe(true);
    expect(g.complete(b.index, 1, outcome())).toBe(false);
    expect(g.markRunning(b.index, 1)).toBe(false);
    expect(g.fail(b.index, 1, 'late', undefined)).toBeUndefined();
    // d must still wait for c: the duplicate did not count b twice.
    expect(byId(g, 'd').remaining).toBe(1);
    expect(byId(g, 'd').state).toBe('waiting');
    expect(b.state).toBe('succeeded');
    expect(b.record.reason).toBeNull();
    expect(g.terminalCount).toBe(2);
  });

  it('ignores a completion that arrives after a failure, and a second running', () => {
    const { g } = build([{ id: 'a' }, { id: 'b', needs: ['a'] }]);
    g.start();
    g.admit();
    expect(g.markRunning(0, 1)).toBe(true);
    expect(g.markRunning(0, 1)).toBe(false);
    g.fail(0, 1, 'crash', undefined);
    expect(g.complete(0, 1, outcome())).toBe(false);
    expect(states(g)).toEqual({ a: 'failed', b: 'skipped' });
    expect(g.terminalCount).toBe(2);
  });
});

describe('RunGraph: stopping', () => {
  it('stopAdmitting cancels waiting and ready nodes and leaves in-flight ones', () => {
    const { g } = build([{ id: 'a', n_procs: 8 }, { id: 'b', needs: ['a'] }, { id: 'x' }]);
    g.start();
    expect(ids(g.admit())).toEqual(['a']);
    expect(byId(g, 'x').state).toBe('ready');
    const cancelled = g.stopAdmitting('interrupted by SIGINT');
    expect(ids(cancelled)).toEqual(['b', 'x']);
    for (const id of ['b', 'x']) expect(byId(g, id).record).toMatchObject({ status: 'cancelled', reason: 'interrupted by SIGINT' });
    expect(g.isAdmitting).toBe(false);
    expect(g.readyCount).toBe(0);
    expect(g.waiting()).toEqual([]);
    expect(byId(g, 'a').state).toBe('queued');
    expect(g.inFlight).toBe(1);
    expect(g.done).toBe(false);
    expect(g.admit()).toEqual([]);
    expect(succeed(g, 'a')).toBe(true);
    expect(byId(g, 'b').state).toBe('cancelled');
    expect(g.done).toBe(true);
    expect(g.stopAdmitting('again')).toEqual([]);
    expect(g.counts()).toMatchObject({ succeeded: 1, cancelled: 2 });
  });

  it('cancelInFlight cancels and releases only in-flight nodes', () => {
    const { g } = build([{ id: 'a', n_procs: 3, mem_gb: 2 }, { id: 'b', needs: ['a'] }]);
    g.start();
    g.admit();
    g.markRunning(0, 1);
    expect(g.cancelInFlight(1, 'nope')).toBe(false); // b is waiting
    expect(g.cancelInFlight(0, 'stopping')).toBe(true);
    expect(byId(g, 'a').record).toMatchObject({ status: 'cancelled', reason: 'stopping' });
    expect(g.ledger.used).toEqual({ n_procs: 0, mem_gb: 0 });
    expect(g.inFlight).toBe(0);
    expect(g.cancelInFlight(0, 'twice')).toBe(false);
    expect(byId(g, 'a').record.reason).toBe('stopping');
    expect(g.complete(0, 1, outcome())).toBe(false);
  });
});

describe('RunGraph: clamping (raise_insufficient false)', () => {
  const nodes: NodeSpec[] = [
    { id: 's1', n_procs: 1, mem_gb: 1 },
    { id: 'big', n_procs: 16, mem_gb: 32 },
    { id: 's2', n_procs: 1, mem_gb: 1 },
    { id: 'after', needs: ['big'] },
  ];
  const budget = { n_procs: 4, mem_gb: 8 };

  it('grants min(request, budget), so an oversized node runs alone', () => {
    const { g } = build(nodes, { budget, raiseInsufficient: false });
    const big = byId(g, 'big');
    expect(big.candidate.request).toEqual({ n_procs: 16, mem_gb: 32 });
    expect(big.candidate.grant).toEqual({ n_procs: 4, mem_gb: 8 });
    expect(big.record).toMatchObject({ n_procs: 16, mem_gb: 32, granted: { n_procs: 4, mem_gb: 8 } });
    g.start();
    expect(ids(g.admit())).toEqual(['s1', 's2']);
    expect(g.waiting()).toEqual([{ id: 'big', reason: 'needs 4 procs, 2 free; needs 8 GB, 6 GB free' }]);
    succeed(g, 's1');
    expect(g.admit()).toEqual([]);
    succeed(g, 's2');
    expect(ids(g.admit())).toEqual(['big']);
    expect(g.ledger.used).toEqual(budget);
    expect(g.inFlight).toBe(1);
    succeed(g, 'big');
    expect(ids(g.admit())).toEqual(['after']);
  });

  it('clamps memory alone: a node over the memory budget still runs alone', () => {
    const { g } = build([{ id: 'fat', mem_gb: 20 }, { id: 'thin', mem_gb: 0.25 }], { budget, raiseInsufficient: false });
    g.start();
    expect(ids(g.admit())).toEqual(['fat']);
    expect(g.ledger.used).toEqual({ n_procs: 1, mem_gb: 8 });
    expect(byId(g, 'thin').state).toBe('ready');
  });

  it('with raise_insufficient the request is not clamped and never fits', () => {
    const { g } = build(nodes, { budget, raiseInsufficient: true });
    expect(byId(g, 'big').candidate.grant).toEqual({ n_procs: 16, mem_gb: 32 });
    g.start();
    g.admit();
    succeed(g, 's1');
    succeed(g, 's2');
    expect(g.admit()).toEqual([]);
    expect(g.waiting()).toEqual([{ id: 'big', reason: 'needs 16 procs, 4 free; needs 32 GB, 8 GB free' }]);
  });
});

describe('RunGraph: discrete-event simulation', () => {
  interface SimConfig {
    seed: number;
    size: number;
    order: SchedulerOrder;
    raiseInsufficient: boolean;
    /** Probability that a node fails. */
    failRate: number;
    /** Probability that a node asks for more than the budget (clamp mode only). */
    oversizedRate: number;
  }

  interface Generated {
    nodes: NodeSpec[];
    duration: number[];
    fails: boolean[];
  }

  function generate(c: SimConfig): Generated {
    const rand = seededRandom(c.seed);
    const nodes: NodeSpec[] = [];
    const duration: number[] = [];
    const fails: boolean[] = [];
    for (let i = 0; i < c.size; i++) {
      const needs = new Set<string>();
      // Few, mostly recent dependencies: wide layers with lots of overlap.
      const k = Math.floor(rand() * 3);
      for (let j = 0; j < k && i > 0; j++) needs.add(`n${Math.max(0, i - 1 - Math.floor(rand() * 40))}`);
      let n_procs = 1 + Math.floor(rand() * 4);
      let mem_gb = 0.25 + Math.round(rand() * 775) / 100; // 0.25 .. 8 GB in 0.01 steps
      if (rand() < c.oversizedRate) {
        if (rand() < 0.5) n_procs = 9 + Math.floor(rand() * 8);
        else mem_gb = 16.5 + Math.round(rand() * 1500) / 100;
      }
      nodes.push({ id: `n${i}`, needs: [...needs], n_procs, mem_gb });
      duration.push(1 + Math.floor(rand() * 100));
      fails.push(rand() < c.failRate);
    }
    return { nodes, duration, fails };
  }

  function simulate(c: SimConfig): void {
    const { nodes, duration, fails } = generate(c);
    const oversized = (i: number): boolean => {
      const s = nodes[i] as NodeSpec;
      return (s.n_procs ?? 1) > BUDGET.n_procs || (s.mem_gb ?? 0.25) > BUDGET.mem_gb;
    };
    if (c.raiseInsufficient) {
      // The scheduler refuses oversized workloads before building the graph.
      assertFitsBudget(
        nodes.map((s) => ({ id: s.id, request: { n_procs: s.n_procs ?? 1, mem_gb: s.mem_gb ?? 0.25 } })),
        BUDGET,
      );
    }
    const clock = new FakeClock(0);
    const g = new RunGraph({
      workflow: makeWorkflow(nodes, 'sim'),
      budget: BUDGET,
      order: c.order,
      raiseInsufficient: c.raiseInsufficient,
      workDir: '/tmp/x',
      clock: clock.read,
    });
    /** Our own view of what is in flight: index -> finish time and attempt. */
    const inFlight = new Map<number, { end: number; attempt: number }>();
    let peakNodes = 0;
    let peakProcs = 0;
    let oversizedRuns = 0;

    const checkInstant = (when: string): void => {
      let procs = 0;
      let memMicro = 0;
      for (const i of inFlight.keys()) {
        const grant = g.node(i).candidate.grant;
        procs += grant.n_procs;
        memMicro += Math.round(grant.mem_gb * 1e6);
      }
      if (procs > BUDGET.n_procs || memMicro > BUDGET.mem_gb * 1e6) {
        expect.fail(`${when} at t=${clock.now}: in flight ${procs} procs / ${memMicro / 1e6} GB exceeds the budget`);
      }
      expect(g.inFlight).toBe(inFlight.size);
      expect(g.ledger.used).toEqual({ n_procs: procs, mem_gb: memMicro / 1e6 });
      for (const i of inFlight.keys()) {
        if (oversized(i) && inFlight.size !== 1) expect.fail(`${when}: oversized node n${i} shares the budget with ${inFlight.size - 1} other(s)`);
      }
      peakNodes = Math.max(peakNodes, inFlight.size);
      peakProcs = Math.max(peakProcs, procs);
    };

    g.start();
    for (let steps = 0; ; steps++) {
      if (steps > 10 * c.size) expect.fail('simulation did not finish');
      const admitted = g.admit();
      for (const n of admitted) {
        for (const p of g.dag.preds[n.index] ?? []) {
          if (g.node(p).state !== 'succeeded') expect.fail(`n${n.index} admitted before its predecessor n${p} succeeded`);
        }
        const expectedGrant = c.raiseInsufficient
          ? n.candidate.request
          : { n_procs: Math.min(n.node.n_procs, BUDGET.n_procs), mem_gb: Math.min(n.node.mem_gb, BUDGET.mem_gb) };
        expect(n.candidate.grant).toEqual(expectedGrant);
        if (oversized(n.index)) oversizedRuns++;
        expect(g.markRunning(n.index, n.attempt)).toBe(true);
        inFlight.set(n.index, { end: clock.now + (duration[n.index] as number), attempt: n.attempt });
      }
      checkInstant('after admission');
      // First fit leaves no ready node that would fit now.
      for (const r of g.waiting()) {
        const ready = byId(g, r.id);
        if (g.ledger.fits(ready.candidate.grant)) expect.fail(`${r.id} fits but was not admitted`);
      }
      if (g.done) break;
      if (inFlight.size === 0) expect.fail(`stuck at t=${clock.now}: nothing in flight, ${g.readyCount} ready`);
      // Next event: the earliest finish (ties by index, deterministic).
      let next = -1;
      for (const [i, f] of inFlight) {
        const best = inFlight.get(next);
        if (best === undefined || f.end < best.end || (f.end === best.end && i < next)) next = i;
      }
      const ev = inFlight.get(next) as { end: number; attempt: number };
      inFlight.delete(next);
      clock.now = ev.end;
      if (fails[next] === true) {
        expect(g.fail(next, ev.attempt, 'exit code 1', outcome({ exit_code: 1 }))).toBeDefined();
      } else {
        expect(g.complete(next, ev.attempt, outcome())).toBe(true);
      }
      checkInstant('after completion');
    }

    // Everything finished, and the run was genuinely concurrent.
    expect(g.done).toBe(true);
    expect(peakNodes).toBeGreaterThan(3);
    expect(peakProcs).toBeGreaterThanOrEqual(BUDGET.n_procs - 1);
    if (c.oversizedRate > 0) expect(oversizedRuns).toBeGreaterThan(0);

    // Each node's fate follows from the failures upstream of it.
    const failedAncestor = new Array<boolean>(nodes.length).fill(false);
    for (const i of g.dag.topoOrder) {
      const ns = g.node(i);
      const upstreamFailed = (g.dag.preds[i] ?? []).some((p) => failedAncestor[p] === true || g.node(p).state === 'failed');
      failedAncestor[i] = upstreamFailed;
      if (upstreamFailed) {
        expect(ns.state, ns.node.id).toBe('skipped');
        const cause = ns.record.skipped_because as string;
        expect(g.node(g.dag.indexOf(cause) as number).state).toBe('failed');
        expect(ns.record.attempts).toBe(0);
      } else {
        expect(ns.state, ns.node.id).toBe(fails[i] === true ? 'failed' : 'succeeded');
        expect(ns.record.attempts).toBe(1);
        const admittedAt = ns.record.admitted_ms as number;
        expect(ns.record.released_ms).toBe(admittedAt + (duration[i] as number));
        for (const p of g.dag.preds[i] ?? []) expect(g.node(p).record.released_ms as number).toBeLessThanOrEqual(admittedAt);
      }
    }
    if (c.failRate === 0) expect(g.counts().succeeded).toBe(c.size);
    expect(g.ledger.used).toEqual({ n_procs: 0, mem_gb: 0 });
  }

  it.each([
    { seed: 1, size: 400, order: 'tsort', raiseInsufficient: true, failRate: 0, oversizedRate: 0 },
    { seed: 2, size: 400, order: 'mem_thread', raiseInsufficient: true, failRate: 0, oversizedRate: 0 },
    { seed: 3, size: 400, order: 'tsort', raiseInsufficient: true, failRate: 0.03, oversizedRate: 0 },
    { seed: 4, size: 400, order: 'mem_thread', raiseInsufficient: true, failRate: 0.03, oversizedRate: 0 },
    { seed: 5, size: 400, order: 'tsort', raiseInsufficient: false, failRate: 0, oversizedRate: 0.05 },
    { seed: 6, size: 400, order: 'mem_thread', raiseInsufficient: false, failRate: 0.02, oversizedRate: 0.05 },
  ] satisfies SimConfig[])(
    'never exceeds 8 procs / 16 GB and finishes every node (seed $seed, $order, raise $raiseInsufficient, fail $failRate)',
    (c) => {
      simulate(c);
    },
  );
});

describe('RunGraph: retries', () => {
  it('keeps the hold across attempts and fails only after the last retry', () => {
    const { g } = build([{ id: 'flaky', retries: 2, n_procs: 3, mem_gb: 2 }, { id: 'after', needs: ['flaky'] }], { budget: { n_procs: 4, mem_gb: 4 } });
    g.start();
    expect(ids(g.admit())).toEqual(['flaky']);
    for (const attempt of [1, 2]) {
      g.markRunning(0, attempt);
      const r = g.fail(0, attempt, `exit code ${attempt}`, outcome({ exit_code: attempt }));
      expect(r?.retry).toBe(true);
      expect(byId(g, 'flaky').state).toBe('queued');
      expect(byId(g, 'flaky').attempt).toBe(attempt + 1);
      // Still holding its 3 procs / 2 GB: nothing was released between attempts.
      expect(g.ledger.used).toEqual({ n_procs: 3, mem_gb: 2 });
      expect(byId(g, 'flaky').record.released_ms).toBeNull();
    }
    // A stale event for an earlier attempt changes nothing.
    expect(g.fail(0, 1, 'late', undefined)).toBeUndefined();
    const last = g.fail(0, 3, 'exit code 9', outcome({ exit_code: 9 }));
    expect(skippedOf(last).map((n) => n.node.id)).toEqual(['after']);
    const rec = byId(g, 'flaky').record;
    expect(rec).toMatchObject({ status: 'failed', attempts: 3, reason: 'exit code 9' });
    expect(rec.attempt_history.map((a) => [a.attempt, a.status, a.reason])).toEqual([
      [1, 'failed', 'exit code 1'],
      [2, 'failed', 'exit code 2'],
      [3, 'failed', 'exit code 9'],
    ]);
    expect(g.ledger.used).toEqual({ n_procs: 0, mem_gb: 0 });
  });

  it('succeeds on a later attempt and then releases its successors', () => {
    const { g } = build([{ id: 'flaky', retries: 1 }, { id: 'after', needs: ['flaky'] }]);
    g.start();
    g.admit();
    expect(g.fail(0, 1, 'exit code 1', outcome({ exit_code: 1 }))?.retry).toBe(true);
    expect(g.complete(0, 2, outcome())).toBe(true);
    expect(byId(g, 'flaky').record).toMatchObject({ status: 'succeeded', attempts: 2, reason: null });
    expect(ids(g.admit())).toEqual(['after']);
  });

  it('does not retry once the run stopped admitting', () => {
    const { g } = build([{ id: 'flaky', retries: 3 }, { id: 'other' }], { budget: { n_procs: 1, mem_gb: 16 } });
    g.start();
    g.admit();
    g.stopAdmitting('stop-on-first-crash');
    expect(g.fail(0, 1, 'exit code 1', undefined)?.retry).toBe(false);
    expect(byId(g, 'flaky').state).toBe('failed');
  });
});

