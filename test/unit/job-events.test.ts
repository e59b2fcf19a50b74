/**
 * The pure application of job events (job-events.ts), with no Redis: node
 * state changes in the run graph and the effects handed to the sink — events
 * to emit, directories released, retries, crash records, jobs to remove —
 * plus the staging of changed nodes and the check for a run that is stuck.
 */
import { describe, expect, it } from 'vitest';
import { applyJobEvent, stageChanges, stuckReason, type ApplyContext, type EventSink, type Notice, type StagedWrites } from '../../src/scheduler/job-events.js';
import { RunGraph, type NodeRuntime } from '../../src/scheduler/run-graph.js';
import { silentLogger } from '../../src/shared/logger.js';
import { REFUSED_PREFIX } from '../../src/shared/node-claim.js';
import { nodeJobId } from '../../src/shared/payloads.js';
import { FakeClock, makeWorkflow, outcome, type NodeSpec } from './support.js';

interface Recorded {
  notices: Notice[];
  released: number[];
  settled: number[];
  removed: string[];
  retried: string[];
  crashes: string[];
  stopReasons: string[];
}

function setup(nodes: readonly NodeSpec[], over: Partial<ApplyContext> = {}): { g: RunGraph; cx: ApplyContext; rec: Recorded; byId: (id: string) => NodeRuntime } {
  const g = new RunGraph({ workflow: makeWorkflow(nodes), budget: { n_procs: 4, mem_gb: 8 }, order: 'tsort', raiseInsufficient: true, workDir: '/tmp/x', clock: new FakeClock().read });
  g.start();
  const rec: Recorded = { notices: [], released: [], settled: [], removed: [], retried: [], crashes: [], stopReasons: [] };
  const sink: EventSink = {
    notice: (n) => rec.notices.push(n),
    workerReleased: (i) => rec.released.push(i),
    settled: (i) => rec.settled.push(i),
    removeJob: (id) => rec.removed.push(id),
    retry: (n) => rec.retried.push(n.node.id),
    writeCrash: (n) => {
      rec.crashes.push(n.node.id);
      return `/crashes/${n.node.id}.json`;
    },
    stopReason: (r) => rec.stopReasons.push(r),
  };
  const cx: ApplyContext = { graph: g, runId: 'r1', cancelReason: undefined, stopOnFirstCrash: false, log: silentLogger(), sink, ...over };
  const byId = (id: string): NodeRuntime => g.node(g.dag.indexOf(id) as number);
  return { g, cx, rec, byId };
}

const finishedOf = (rec: Recorded): string[] => rec.notices.flatMap((n) => (n.event === 'node:finished' ? [`${n.data.id}:${n.data.status}`] : []));

describe('applyJobEvent', () => {
  it('active then completed: the node runs, succeeds, its directory and event tracking are let go', () => {
    const { g, cx, rec, byId } = setup([{ id: 'a' }, { id: 'b', needs: ['a'] }]);
    g.admit();
    const a = byId('a');
    applyJobEvent({ kind: 'active', index: a.index, attempt: a.attempt }, cx);
    expect(a.state).toBe('running');
    applyJobEvent({ kind: 'completed', index: a.index, attempt: a.attempt, outcome: outcome() }, cx);
    expect(a.state).toBe('succeeded');
    expect(byId('b').state).toBe('ready');
    expect(rec.notices.map((n) => n.event)).toEqual(['node:started', 'node:finished']);
    expect(rec.released).toEqual([a.index]);
    expect(rec.settled).toEqual([a.index]);
  });

  it('a stale event (an older attempt) changes nothing', () => {
    const { g, cx, rec, byId } = setup([{ id: 'a' }]);
    g.admit();
    const a = byId('a');
    applyJobEvent({ kind: 'completed', index: a.index, attempt: a.attempt + 1, outcome: outcome() }, cx);
    expect(a.state).toBe('queued');
    expect(rec.notices).toEqual([]);
  });

  it('a failure with retries left asks for the next attempt and keeps the hold', () => {
    const { g, cx, rec, byId } = setup([{ id: 'a', retries: 1 }]);
    g.admit();
    const a = byId('a');
    applyJobEvent({ kind: 'failed', index: a.index, attempt: a.attempt, reason: 'exit code 1', outcome: outcome({ exit_code: 1 }) }, cx);
    expect(rec.retried).toEqual(['a']);
    expect(a.state).toBe('queued');
    expect(g.ledger.holdCount).toBe(1);
    expect(rec.notices.map((n) => n.event)).toEqual(['node:retrying']);
    expect(rec.crashes).toEqual([]);
  });

  it('a final failure writes the crash record, skips descendants and, with stop-on-first-crash, stops the run', () => {
    const { g, cx, rec, byId } = setup([{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c' }, { id: 'd' }], { stopOnFirstCrash: true });
    g.admit();
    const a = byId('a');
    applyJobEvent({ kind: 'failed', index: a.index, attempt: a.attempt, reason: 'exit code 2', outcome: outcome({ exit_code: 2 }) }, cx);
    expect(a.state).toBe('failed');
    expect(a.record.crash_file).toBe('/crashes/a.json');
    expect(rec.crashes).toEqual(['a']);
    expect(finishedOf(rec)).toContain('a:failed');
    expect(finishedOf(rec)).toContain('b:skipped');
    expect(rec.stopReasons).toEqual(['stop-on-first-crash: node "a" failed']);
  });

  it('a refused job is not an outcome of the node', () => {
    const { g, cx, rec, byId } = setup([{ id: 'a' }]);
    g.admit();
    const a = byId('a');
    applyJobEvent({ kind: 'failed', index: a.index, attempt: a.attempt, reason: `${REFUSED_PREFIX}not admitted` }, cx);
    expect(a.state).toBe('queued');
    expect(rec.notices).toEqual([]);
    expect(rec.released).toEqual([]);
  });

  it('a lost worker (stalled) puts the node back to queued; while cancelling, it ends cancelled and its job is removed', () => {
    const { g, cx, rec, byId } = setup([{ id: 'a' }]);
    g.admit();
    const a = byId('a');
    applyJobEvent({ kind: 'active', index: a.index, attempt: a.attempt }, cx);
    applyJobEvent({ kind: 'stalled', index: a.index, attempt: a.attempt }, cx);
    expect(a.state).toBe('queued');
    expect(rec.notices.map((n) => n.event)).toEqual(['node:started', 'node:retrying']);
    applyJobEvent({ kind: 'stalled', index: a.index, attempt: a.attempt }, { ...cx, cancelReason: 'user' });
    expect(a.state).toBe('cancelled');
    expect(rec.removed).toEqual([nodeJobId('r1', a.index, a.attempt)]);
    expect(finishedOf(rec)).toEqual(['a:cancelled']);
  });
});

describe('stageChanges', () => {
  it('stages each changed node once: state, counters, record, hold; a final node loses its admission', () => {
    const { g, cx, byId } = setup([{ id: 'a' }, { id: 'b', needs: ['a'] }]);
    g.admit();
    const a = byId('a');
    const calls: string[] = [];
    const store: StagedWrites = {
      setState: (i, s) => calls.push(`state ${i} ${s}`),
      setRemaining: (i, r) => calls.push(`remaining ${i} ${r}`),
      setRecord: (i) => calls.push(`record ${i}`),
      hold: (i) => calls.push(`hold ${i}`),
      release: (i) => calls.push(`release ${i}`),
      withdraw: (i) => calls.push(`withdraw ${i}`),
    };
    stageChanges(g, store, () => undefined);
    expect(calls).toContain(`hold ${a.index}`);
    calls.length = 0;
    const ended: string[] = [];
    applyJobEvent({ kind: 'completed', index: a.index, attempt: a.attempt, outcome: outcome() }, cx);
    stageChanges(g, store, (n) => ended.push(n.node.id));
    expect(calls).toContain(`state ${a.index} succeeded`);
    expect(calls).toContain(`release ${a.index}`);
    expect(calls).toContain(`withdraw ${a.index}`);
    expect(ended).toEqual(['a']);
    calls.length = 0;
    stageChanges(g, store, () => undefined);
    expect(calls).toEqual([]);
  });
});

describe('stuckReason', () => {
  it('is undefined while anything can still move, and names the waiting nodes otherwise', () => {
    const { g } = setup([{ id: 'a' }]);
    const idle = { pendingWork: false, handed: 0, admissionPaused: false };
    // Ready, nothing in flight, nothing admitted: stuck (admission would have taken it).
    expect(stuckReason(g, idle)).toMatch(/^no node could be admitted: a \(/);
    expect(stuckReason(g, { ...idle, pendingWork: true })).toBeUndefined();
    expect(stuckReason(g, { ...idle, handed: 1 })).toBeUndefined();
    expect(stuckReason(g, { ...idle, admissionPaused: true })).toBeUndefined();
    g.admit();
    expect(stuckReason(g, idle)).toBeUndefined();
  });

  it('names the first ten waiting nodes and counts the rest', () => {
    const { g } = setup(Array.from({ length: 25 }, (_, i) => ({ id: `n${i}` })));
    const reason = stuckReason(g, { pendingWork: false, handed: 0, admissionPaused: false }) ?? '';
    expect(reason.match(/n\d+ \(/g)).toHaveLength(10);
    expect(reason).toMatch(/^no node could be admitted: n0 \(.*n9 \([^)]*\), and 15 more$/);
  });

  it('with nothing ready, names the nodes left and the predecessors that can no longer succeed', () => {
    // As a resume finds a run whose failed node's descendants were set back to waiting.
    const g = new RunGraph({ workflow: makeWorkflow([{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['b'] }]), budget: { n_procs: 4, mem_gb: 8 }, order: 'tsort', raiseInsufficient: true, workDir: '/tmp/x', clock: new FakeClock().read });
    g.restore(new Map([[0, 'failed'], [1, 'waiting'], [2, 'waiting']]), new Map());
    const idle = { pendingWork: false, handed: 0, admissionPaused: false };
    expect(stuckReason(g, idle)).toBe('no node could be admitted: 2 node(s) wait for predecessors that can no longer succeed: b (needs a: failed), c (needs b: waiting)');
  });
});
