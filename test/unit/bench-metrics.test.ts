import { describe, expect, it } from 'vitest';
import {
  criticalPathMs,
  hopLatencies,
  medianIndex,
  peakDeclared,
  percentile,
  perNodeOverheadMs,
  stats,
  withinBudget,
  type TimedNode,
} from '../../bench/metrics.js';

function node(id: string, start: number | null, end: number | null, procs = 1, mem = 1): TimedNode {
  return { id, start_ms: start, end_ms: end, granted: { n_procs: procs, mem_gb: mem } };
}

describe('percentile / stats', () => {
  it('interpolates linearly between closest ranks', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([0, 10], 95)).toBeCloseTo(9.5);
    expect(percentile([5, 1, 9], 0)).toBe(1);
    expect(percentile([5, 1, 9], 100)).toBe(9);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('summarises a sample, null fields when empty', () => {
    expect(stats([])).toEqual({ n: 0, p50: null, p95: null, mean: null, max: null });
    const s = stats([4, 1, 3, 2]);
    expect(s).toMatchObject({ n: 4, p50: 2.5, mean: 2.5, max: 4 });
    expect(s.p95).toBeCloseTo(3.85);
  });
});

describe('hopLatencies', () => {
  it('measures start minus the latest predecessor end, for nodes with predecessors only', () => {
    const nodes = [node('a', 0, 10), node('b', 0, 20), node('c', 23, 30), node('d', 34, 40)];
    const preds = new Map([
      ['c', ['a', 'b']],
      ['d', ['c']],
    ]);
    expect(hopLatencies(nodes, preds)).toEqual([3, 4]);
  });

  it('skips nodes that did not run or whose predecessor has no end time', () => {
    const nodes = [node('a', 0, null), node('b', null, null), node('c', 5, 6)];
    expect(hopLatencies(nodes, new Map([['b', ['a']], ['c', ['a']]]))).toEqual([]);
  });
});

describe('criticalPathMs', () => {
  it('is the longest path weighted by actual durations', () => {
    // a(10) -> c(5); b(20) -> c; c -> d(1); e(30) alone
    const nodes = [node('a', 0, 10), node('b', 0, 20), node('c', 25, 30), node('d', 31, 32), node('e', 0, 30)];
    const preds = new Map([
      ['c', ['a', 'b']],
      ['d', ['c']],
    ]);
    expect(criticalPathMs(nodes, preds)).toBe(30); // max(b+c+d = 26, e = 30)
    expect(criticalPathMs(nodes.slice(0, 4), preds)).toBe(26);
  });

  it('handles deep chains without recursion and rejects cycles', () => {
    const n = 20_000;
    const nodes = Array.from({ length: n }, (_, i) => node(`n${i}`, i * 2, i * 2 + 1));
    const preds = new Map(Array.from({ length: n - 1 }, (_, i) => [`n${i + 1}`, [`n${i}`]] as [string, string[]]));
    expect(criticalPathMs(nodes, preds)).toBe(n);
    expect(() => criticalPathMs([node('x', 0, 1), node('y', 1, 2)], new Map([['x', ['y']], ['y', ['x']]]))).toThrow(/cycle/);
  });
});

describe('peakDeclared', () => {
  it('sums granted resources of overlapping intervals', () => {
    const peak = peakDeclared([node('a', 0, 10, 2, 4), node('b', 5, 15, 3, 0.5), node('c', 12, 20, 4, 8), node('x', null, null, 99, 99)]);
    expect(peak).toEqual({ n_procs: 7, mem_gb: 8.5, concurrent: 2 });
  });

  it('does not overlap an end and a start at the same ms', () => {
    expect(peakDeclared([node('a', 0, 10, 8, 16), node('b', 10, 20, 8, 16)])).toEqual({ n_procs: 8, mem_gb: 16, concurrent: 1 });
  });

  it('counts a zero-length node only against intervals strictly containing it', () => {
    const nodes = [node('long', 0, 10, 1, 1), node('z', 5, 5, 2, 2), node('endsAt7', 2, 7, 1, 1), node('z7', 7, 7, 4, 4), node('startsAt7', 7, 9, 1, 1)];
    // at 5: long + endsAt7 + z = 4 procs; at 7: long + z7 = 5 (endsAt7 ended, startsAt7 not yet started)
    expect(peakDeclared(nodes)).toEqual({ n_procs: 5, mem_gb: 5, concurrent: 3 });
    expect(peakDeclared([node('z', 3, 3, 1, 0.25)])).toEqual({ n_procs: 1, mem_gb: 0.25, concurrent: 1 });
  });

  it('sums memory without float drift', () => {
    const nodes = Array.from({ length: 10 }, (_, i) => node(`m${i}`, 0, 10, 1, 0.1));
    const peak = peakDeclared(nodes);
    expect(peak.mem_gb).toBe(1);
    expect(withinBudget(peak, { n_procs: 10, memory_gb: 1 })).toBe(true);
    expect(withinBudget(peak, { n_procs: 9, memory_gb: 1 })).toBe(false);
    expect(withinBudget(peak, { n_procs: 10, memory_gb: 0.9 })).toBe(false);
  });
});

describe('perNodeOverheadMs / medianIndex', () => {
  it('charges wall time beyond max(LB, critical path) per node', () => {
    expect(perNodeOverheadMs(2, 0, 500, 100)).toBe(15);
    expect(perNodeOverheadMs(10, 9, 600, 60)).toBeCloseTo(1000 / 60);
    expect(perNodeOverheadMs(1, 0, 0, 0)).toBeNull();
  });

  it('picks the median run, the lower middle for an even count', () => {
    expect(medianIndex([5, 1, 3], (x) => x)).toBe(2);
    expect(medianIndex([4, 1, 3, 2], (x) => x)).toBe(3);
    expect(medianIndex([1, Infinity, 2], (x) => x)).toBe(2);
  });
});
