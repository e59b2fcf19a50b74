/**
 * The run model at scale: per-event work does not grow with the run. A full
 * budget ends an admission pass without visiting every ready node, the
 * dashboards' waiting list is computed for its first entries only, and the
 * counts and in-flight set kept on every change agree with a scan of the
 * nodes throughout a simulated run.
 */
import { describe, expect, it, vi } from 'vitest';
import { admitFirstFit, compareCandidates } from '../../src/scheduler/admission.js';
import { ResourceLedger } from '../../src/scheduler/ledger.js';
import { HOLDING_STATES, NODE_STATES, type NodeState } from '../../src/scheduler/node-state.js';
import { RunGraph } from '../../src/scheduler/run-graph.js';
import { FakeClock, makeWorkflow, outcome, seededRandom, type NodeSpec } from './support.js';

function wide(n: number, mem_gb: number): NodeSpec[] {
  return Array.from({ length: n }, (_, i) => ({ id: `n${i}`, mem_gb }));
}

function graph(nodes: NodeSpec[], budget = { n_procs: 8, mem_gb: 4 }): RunGraph {
  const clock = new FakeClock(1_000);
  return new RunGraph({ workflow: makeWorkflow(nodes), budget, order: 'tsort', raiseInsufficient: true, workDir: '/tmp/x', clock: clock.read });
}

describe('admission of a memory-bound wide run', () => {
  it('looks at one ready node per group of equal grants, not at every ready node', () => {
    // 100,000 ready nodes of 200 different memory sizes; 8 procs but 4 GB free.
    const nodes: NodeSpec[] = Array.from({ length: 100_000 }, (_, i) => ({ id: `n${i}`, mem_gb: 1 + (i % 200) / 100 }));
    const g = graph(nodes, { n_procs: 8, mem_gb: 4 });
    g.start();
    const fits = vi.spyOn(g.ledger, 'fits');
    const first = g.admit();
    expect(first.map((n) => n.node.id)).toEqual(['n0', 'n1', 'n2']);
    for (let k = 0; k < 50; k++) {
      fits.mockClear();
      const done = g.inFlightNodes()[0];
      if (done === undefined) break;
      g.complete(done.index, done.attempt, outcome());
      g.admit();
      // At most every group's first node, and one more look per node admitted.
      expect(fits.mock.calls.length).toBeLessThanOrEqual(200 + 8);
    }
  });

  it('a pass with nothing that fits admits nothing, and a smaller node later in order is still found', () => {
    const nodes: NodeSpec[] = [...wide(5_000, 1), { id: 'small', mem_gb: 0.5 }];
    const g = graph(nodes, { n_procs: 8, mem_gb: 4.5 });
    g.start();
    expect(g.admit().map((n) => n.node.id)).toEqual(['n0', 'n1', 'n2', 'n3', 'small']);
    expect(g.admit()).toEqual([]);
    g.complete(0, 1, outcome());
    expect(g.admit().map((n) => n.node.id)).toEqual(['n4']);
  });

  for (const order of ['tsort', 'mem_thread'] as const) {
    it(`admits exactly what first fit over the whole ready list admits (${order}, random runs)`, () => {
      const random = seededRandom(order === 'tsort' ? 3 : 5);
      for (let round = 0; round < 30; round++) {
        const nodes: NodeSpec[] = Array.from({ length: 400 }, (_, i) => ({
          id: `n${i}`,
          n_procs: 1 + Math.floor(random() * 4),
          mem_gb: 0.25 * (1 + Math.floor(random() * 24)),
          needs: i > 20 && random() < 0.3 ? [`n${Math.floor(random() * i)}`] : [],
        }));
        const clock = new FakeClock(1_000);
        const budget = { n_procs: 4 + Math.floor(random() * 12), mem_gb: 6 + Math.floor(random() * 10) };
        const g = new RunGraph({ workflow: makeWorkflow(nodes), budget, order, raiseInsufficient: true, workDir: '/tmp/x', clock: clock.read });
        g.start();
        const compare = compareCandidates(order);
        for (let step = 0; !g.done && step < 2_000; step++) {
          // The reference: nipype's pass over every ready node, sorted, on a ledger holding what the run holds now.
          const ready = g.nodes.filter((n) => n.state === 'ready').map((n) => n.candidate).sort(compare);
          const ledger = new ResourceLedger(budget);
          for (const n of g.inFlightNodes()) ledger.reserve(String(n.index), n.candidate.grant);
          const expected = admitFirstFit(ready, ledger, (c) => String(c.index)).map((c) => c.id);
          expect(g.admit().map((n) => n.node.id)).toEqual(expected);
          const flying = g.inFlightNodes();
          const n = flying[Math.floor(random() * flying.length)];
          if (n === undefined) break;
          g.complete(n.index, n.attempt, outcome());
        }
        expect(g.done).toBe(true);
      }
    });
  }
});

describe('failures above one hub', () => {
  it('walk what lies beyond the hub once, not once per failure', () => {
    const roots: NodeSpec[] = Array.from({ length: 200 }, (_, i) => ({ id: `r${i}`, mem_gb: 0.01 }));
    const leaves: NodeSpec[] = Array.from({ length: 5_000 }, (_, i) => ({ id: `l${i}`, mem_gb: 0.01, needs: ['hub'] }));
    const g = graph([...roots, { id: 'hub', mem_gb: 0.01, needs: roots.map((r) => r.id) }, ...leaves], { n_procs: 1_000, mem_gb: 100 });
    g.start();
    expect(g.admit()).toHaveLength(200);
    const walk = vi.spyOn(g.dag, 'descendants');
    const first = g.fail(0, 1, 'boom', undefined);
    expect(first?.retry === false ? first.skipped.length : -1).toBe(5_001);
    for (let i = 1; i < 200; i++) {
      const r = g.fail(i, 1, 'boom', undefined);
      expect(r?.retry === false ? r.skipped : undefined).toEqual([]);
    }
    // Every node beyond the hub was visited by the first failure's walk only.
    const visited = walk.mock.results.reduce((k, r) => k + (r.value as number[]).length, 0);
    expect(visited).toBe(5_001);
    const hub = g.nodes[200];
    expect(hub?.state).toBe('skipped');
    expect(hub?.record.skipped_because).toBe('r0');
    expect(g.done).toBe(true);
  });
});

describe('the waiting list of a large run', () => {
  it('lists the first entries in admission order, computed for those only', () => {
    const g = graph(wide(5_000, 1));
    g.start();
    g.admit();
    const first = g.waiting(3);
    expect(first).toEqual([
      { id: 'n4', reason: 'needs 1 GB, 0 GB free' },
      { id: 'n5', reason: 'needs 1 GB, 0 GB free' },
      { id: 'n6', reason: 'needs 1 GB, 0 GB free' },
    ]);
    expect(g.waiting(0)).toEqual([]);
    expect(g.waiting()).toHaveLength(4_996);
  });
});

describe('counts and in-flight nodes kept on every change', () => {
  it('agree with a scan of the nodes at every step of a random run', () => {
    const random = seededRandom(7);
    const nodes: NodeSpec[] = Array.from({ length: 300 }, (_, i) => ({
      id: `n${i}`,
      mem_gb: 0.5 + Math.floor(random() * 3),
      needs: i > 10 && random() < 0.6 ? [`n${Math.floor(random() * i)}`] : [],
      retries: random() < 0.2 ? 1 : 0,
    }));
    const g = graph(nodes);
    g.start();
    const check = (): void => {
      const scan = Object.fromEntries(NODE_STATES.map((s) => [s, 0])) as Record<NodeState, number>;
      for (const n of g.nodes) scan[n.state]++;
      expect(g.counts()).toEqual(scan);
      expect(g.inFlightNodes().map((n) => n.index)).toEqual(g.nodes.filter((n) => HOLDING_STATES.has(n.state)).map((n) => n.index));
    };
    for (let round = 0; !g.done && round < 2_000; round++) {
      g.admit();
      check();
      const flying = g.inFlightNodes();
      const n = flying[Math.floor(random() * flying.length)];
      if (n === undefined) break;
      if (n.state === 'queued' && random() < 0.5) g.markRunning(n.index, n.attempt);
      else if (random() < 0.15) g.fail(n.index, n.attempt, 'boom', undefined);
      else g.complete(n.index, n.attempt, outcome());
      g.takeChanged();
      check();
    }
    expect(g.done).toBe(true);
  });
});
