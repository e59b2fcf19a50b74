/**
 * Admission over a fleet of hosts (fleet-ledger.ts with RunGraph): nodes
 * placed whole on one host by best fit, named slots, pins and labels, an
 * optional cap, holds restored on hosts not yet live, a lost host's nodes
 * placed again as new attempts, and a random simulation that checks every
 * host's capacity at every step. Pure: no Redis.
 */
import { describe, expect, it } from 'vitest';
import { FleetLedger } from '../../src/scheduler/fleet-ledger.js';
import { ResourceLedger } from '../../src/scheduler/ledger.js';
import type { HostSpec } from '../../src/scheduler/placement.js';
import { RunGraph, type NodeRuntime } from '../../src/scheduler/run-graph.js';
import { FakeClock, makeWorkflow, outcome, seededRandom, type NodeSpec } from './support.js';

const A: HostSpec = { id: 'a', capacity: { n_procs: 2, mem_gb: 4, resources: { gpu: 2 } }, labels: { gpu: 'a100' } };
const B: HostSpec = { id: 'b', capacity: { n_procs: 4, mem_gb: 8 } };

function graphOn(ledger: FleetLedger, nodes: readonly NodeSpec[]): RunGraph {
  const clock = new FakeClock(1_000);
  const g = new RunGraph({ workflow: makeWorkflow(nodes), budget: { n_procs: 1, mem_gb: 1 }, order: 'tsort', raiseInsufficient: true, workDir: '/tmp/x', clock: clock.read, ledger, holdPrefix: 'r/' });
  g.start();
  return g;
}

const where = (ns: readonly NodeRuntime[]): Record<string, string | undefined> => Object.fromEntries(ns.map((n) => [n.node.id, n.record.host]));

describe('FleetLedger with RunGraph', () => {
  it('places each node whole on one host, best fit, honouring GPU slots, pins and labels', () => {
    const fleet = new FleetLedger();
    fleet.setHost(A);
    fleet.setHost(B);
    expect(fleet.budget).toEqual({ n_procs: 6, mem_gb: 12 });
    const g = graphOn(fleet, [
      { id: 'big', n_procs: 3 },
      { id: 'g1', resources: { gpu: 1 } },
      { id: 'g2', resources: { gpu: 1 } },
      { id: 'g3', resources: { gpu: 1 } },
      { id: 'onb', host: ['b'] },
      { id: 'lab', host_labels: { gpu: 'a100' } },
    ]);
    const admitted = g.admit();
    // big only fits b; g1, g2 take a's two GPUs (distinct slots); g3 waits for a GPU;
    // onb is pinned to b; lab needs a's label but a is full (2 procs held).
    expect(where(admitted)).toEqual({ big: 'b', g1: 'a', g2: 'a', onb: 'b' });
    expect(admitted.filter((n) => n.node.id.startsWith('g')).map((n) => n.record.slots)).toEqual([{ gpu: [0] }, { gpu: [1] }]);
    const waiting = Object.fromEntries(g.waiting().map((w) => [w.id, w.reason]));
    expect(waiting['g3']).toMatch(/needs 1 procs, 0.25 GB, gpu 1; free a: 0\/2 procs/);
    expect(waiting['lab']).toMatch(/needs 1 procs, 0.25 GB; free a: 0\/2 procs/);
    // g1 finishes: its slot is free again and g3 takes it.
    const g1 = admitted.find((n) => n.node.id === 'g1') as NodeRuntime;
    g.complete(g1.index, g1.attempt, outcome());
    const next = g.admit();
    expect(where(next)).toEqual({ g3: 'a' });
    expect(next[0]?.record.slots).toEqual({ gpu: [0] });
  });

  it('a node pinned to a host that is not live waits, naming the live hosts, and is placed when the host joins', () => {
    const fleet = new FleetLedger();
    fleet.setHost(B);
    const g = graphOn(fleet, [{ id: 'p', host: ['gpu1'] }]);
    expect(g.admit()).toEqual([]);
    expect(g.waiting()[0]?.reason).toBe('no live host matches hosts [gpu1] (live: b)');
    fleet.setHost({ id: 'gpu1', capacity: { n_procs: 1, mem_gb: 1 } });
    expect(where(g.admit())).toEqual({ p: 'gpu1' });
  });

  it('caps the fleet at the given budget', () => {
    const fleet = new FleetLedger({ n_procs: 3 });
    fleet.setHost(A);
    fleet.setHost(B);
    const g = graphOn(fleet, Array.from({ length: 6 }, (_, i) => ({ id: `n${i}` })));
    expect(g.admit()).toHaveLength(3);
    expect(g.waiting()[0]?.reason).toMatch(/the fleet's cap leaves 0 procs/);
  });

  it('the budget follows hosts joining, changing their capacity and leaving, under the cap', () => {
    const fleet = new FleetLedger({ mem_gb: 10 });
    expect(fleet.budget).toEqual({ n_procs: 0, mem_gb: 0 });
    expect(fleet.namedBudget()).toEqual({});
    fleet.setHost(A);
    expect(fleet.budget).toEqual({ n_procs: 2, mem_gb: 4 });
    expect(fleet.namedBudget()).toEqual({ gpu: 2 });
    fleet.setHost(B);
    expect(fleet.budget).toEqual({ n_procs: 6, mem_gb: 10 });
    expect(fleet.free).toEqual({ n_procs: 6, mem_gb: 10 });
    // The same declaration again changes nothing; a new capacity replaces the old one.
    expect(fleet.setHost({ ...B })).toBe(false);
    expect(fleet.setHost({ id: 'b', capacity: { n_procs: 1, mem_gb: 2, resources: { gpu: 1 } } })).toBe(true);
    expect(fleet.budget).toEqual({ n_procs: 3, mem_gb: 6 });
    expect(fleet.namedBudget()).toEqual({ gpu: 3 });
    fleet.removeHost('a');
    expect(fleet.budget).toEqual({ n_procs: 1, mem_gb: 2 });
    expect(fleet.namedBudget()).toEqual({ gpu: 1 });
    fleet.removeHost('b');
    expect(fleet.budget).toEqual({ n_procs: 0, mem_gb: 0 });
    expect(fleet.namedBudget()).toEqual({});
  });

  it("a lost host's nodes go back to ready and are placed again as new attempts on a host that is left", () => {
    const fleet = new FleetLedger();
    fleet.setHost(A);
    fleet.setHost(B);
    const g = graphOn(fleet, [{ id: 'x', host_labels: {} }, { id: 'big', n_procs: 4 }]);
    const first = g.admit();
    expect(where(first)).toEqual({ x: 'a', big: 'b' });
    const x = first[0] as NodeRuntime;
    g.markRunning(x.index, x.attempt);
    expect(fleet.removeHost('a')).toEqual([`r/${x.index}`]);
    expect(fleet.budget).toEqual({ n_procs: 4, mem_gb: 8 });
    expect(g.unplace(x.index, 1, 'host lost: host a stopped heartbeating', { worker: 'w1', start_ms: 5 })).toBe(true);
    expect(x.state).toBe('ready');
    expect(x.record.attempt_history).toMatchObject([{ attempt: 1, status: 'lost', worker: 'w1', start_ms: 5 }]);
    // b is full (big holds 4): x waits; when big ends, x is placed on b as attempt 2.
    expect(g.admit()).toEqual([]);
    const big = first[1] as NodeRuntime;
    g.complete(big.index, big.attempt, outcome());
    expect(where(g.admit())).toEqual({ x: 'b' });
    expect(x.attempt).toBe(2);
    // A stale event of the lost attempt changes nothing.
    expect(g.complete(x.index, 1, outcome())).toBe(false);
    // A host loss uses no retry: attempt 2 failing with retries 0 is final, as it would be on attempt 1.
    expect(g.fail(x.index, 2, 'exit 1', outcome({ ok: false }))).toMatchObject({ retry: false });
  });

  it('restores holds on a host that is not live yet: they count when it joins, and are handed back if it never does', () => {
    const fleet = new FleetLedger();
    fleet.restore('r/0', { n_procs: 2, mem_gb: 1 }, { host: 'a', slots: {} });
    fleet.restore('r/1', { n_procs: 1, mem_gb: 1 }, { host: 'gone', slots: {} });
    fleet.setHost(A);
    expect(fleet.fits({ n_procs: 1, mem_gb: 1, constraint: { hosts: ['a'] } })).toBe(false);
    expect(fleet.used).toEqual({ n_procs: 3, mem_gb: 2 });
    expect([...fleet.releaseOffline()]).toEqual([['gone', ['r/1']]]);
    expect(fleet.used).toEqual({ n_procs: 2, mem_gb: 1 });
  });

  it('random placement over three hosts never holds more than any host has, in any dimension', () => {
    const rand = seededRandom(17);
    const hosts: HostSpec[] = [A, B, { id: 'c', capacity: { n_procs: 3, mem_gb: 2, resources: { gpu: 1, lic: 1 } } }];
    const fleet = new FleetLedger();
    for (const h of hosts) fleet.setHost(h);
    const nodes: NodeSpec[] = Array.from({ length: 300 }, (_, i) => ({
      id: `n${i}`,
      n_procs: 1 + Math.floor(rand() * 2),
      mem_gb: Math.round(rand() * 20) / 10,
      ...(rand() < 0.2 ? { resources: { gpu: 1 } } : rand() < 0.1 ? { resources: { lic: 1 } } : {}),
    }));
    const g = graphOn(fleet, nodes);
    const running: NodeRuntime[] = [];
    for (let step = 0; step < 2000 && !g.done; step++) {
      running.push(...g.admit());
      for (const h of hosts) {
        const on = running.filter((n) => n.record.host === h.id);
        expect(on.reduce((s, n) => s + n.candidate.grant.n_procs, 0)).toBeLessThanOrEqual(h.capacity.n_procs);
        expect(on.reduce((s, n) => s + n.candidate.grant.mem_gb, 0)).toBeLessThanOrEqual(h.capacity.mem_gb + 1e-9);
        for (const [name, cap] of Object.entries(h.capacity.resources ?? {})) {
          const slots = on.flatMap((n) => n.record.slots?.[name] ?? []);
          expect(slots.length).toBeLessThanOrEqual(cap);
          expect(new Set(slots).size).toBe(slots.length);
        }
      }
      if (running.length > 0) {
        const done = running.splice(Math.floor(rand() * running.length), 1)[0] as NodeRuntime;
        g.complete(done.index, done.attempt, outcome());
      }
    }
    expect(g.done).toBe(true);
  });

  it('the single-budget ledger numbers named slots too', () => {
    const l = new ResourceLedger({ n_procs: 4, mem_gb: 4 }, { gpu: 2 });
    expect(l.reserve('x', { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } })).toEqual({ slots: { gpu: [0] } });
    expect(l.reserve('y', { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } })).toEqual({ slots: { gpu: [1] } });
    expect(l.fits({ n_procs: 1, mem_gb: 1, resources: { gpu: 1 } })).toBe(false);
    expect(l.waitingReason({ n_procs: 1, mem_gb: 1, resources: { gpu: 1 } })).toBe('needs gpu 1, 0 free');
    l.release('x');
    expect(l.reserve('z', { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } })).toEqual({ slots: { gpu: [0] } });
  });
});
