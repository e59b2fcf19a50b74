/**
 * Admission as nipype MultiProc does it: tsort vs mem_thread order, greedy
 * first fit, clamping, and the pre-run budget check.
 */
import { describe, expect, it } from 'vitest';
import {
  SCHEDULER_ORDERS,
  admitFirstFit,
  assertFitsBudget,
  clampToBudget,
  findOversized,
  sortReady,
  waitingReason,
  type AdmissionCandidate,
} from '../../src/scheduler/admission.js';
import { ResourceLedger } from '../../src/scheduler/ledger.js';
import { ValidationError } from '../../src/shared/errors.js';
import { catchError } from './support.js';

/** A candidate whose topological rank is its file index and whose grant is its request. */
function cand(index: number, id: string, mem_gb: number, n_procs: number, grant?: { n_procs: number; mem_gb: number }): AdmissionCandidate {
  const request = { n_procs, mem_gb };
  return { index, id, topoRank: index, request, grant: grant ?? request };
}

/** nipype's verified example: six ready independent nodes, (mem_gb, n_procs), in this file order. */
function nipypeExample(): AdmissionCandidate[] {
  return [cand(0, 'a', 3, 1), cand(1, 'b', 1, 2), cand(2, 'c', 2, 1), cand(3, 'd', 1, 1), cand(4, 'e', 0.5, 3), cand(5, 'f', 3, 2)];
}

const ids = (cs: readonly AdmissionCandidate[]): string[] => cs.map((c) => c.id);
const key = (c: AdmissionCandidate): string => String(c.index);

describe('sortReady', () => {
  it('knows exactly the two nipype orders', () => {
    expect(SCHEDULER_ORDERS).toEqual(['tsort', 'mem_thread']);
  });

  it('mem_thread sorts ascending by (mem_gb, n_procs): e, d, b, c, a, f', () => {
    expect(ids(sortReady(nipypeExample(), 'mem_thread'))).toEqual(['e', 'd', 'b', 'c', 'a', 'f']);
  });

  it('tsort keeps topological order: a..f', () => {
    expect(ids(sortReady(nipypeExample(), 'tsort'))).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('sorts by rank, not by the order it was given', () => {
    const shuffled = nipypeExample().reverse();
    expect(ids(sortReady([...shuffled], 'tsort'))).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(ids(sortReady([...shuffled], 'mem_thread'))).toEqual(['e', 'd', 'b', 'c', 'a', 'f']);
  });

  it('mem_thread breaks full ties by topological rank', () => {
    const cs = [
      { ...cand(0, 'late', 1, 1), topoRank: 9 },
      { ...cand(1, 'early', 1, 1), topoRank: 2 },
      { ...cand(2, 'mid', 1, 1), topoRank: 5 },
    ];
    expect(ids(sortReady(cs, 'mem_thread'))).toEqual(['early', 'mid', 'late']);
  });

  it('mem_thread sorts by the request, not the clamped grant', () => {
    const cs = [cand(0, 'huge', 64, 1, { n_procs: 1, mem_gb: 4 }), cand(1, 'medium', 8, 1)];
    expect(ids(sortReady(cs, 'mem_thread'))).toEqual(['medium', 'huge']);
  });

  it('sorts in place and returns the same array', () => {
    const cs = nipypeExample();
    expect(sortReady(cs, 'mem_thread')).toBe(cs);
    expect(ids(cs)[0]).toBe('e');
  });
});

describe('admitFirstFit', () => {
  it('admits the nipype example in mem_thread order when everything fits', () => {
    const ledger = new ResourceLedger({ n_procs: 16, mem_gb: 16 });
    const admitted = admitFirstFit(sortReady(nipypeExample(), 'mem_thread'), ledger, key);
    expect(ids(admitted)).toEqual(['e', 'd', 'b', 'c', 'a', 'f']);
    expect(ledger.used).toEqual({ n_procs: 10, mem_gb: 10.5 });
    expect(ledger.holdCount).toBe(6);
    for (const c of admitted) expect(ledger.has(String(c.index))).toBe(true);
  });

  it('admits the nipype example in tsort order when everything fits', () => {
    const ledger = new ResourceLedger({ n_procs: 16, mem_gb: 16 });
    expect(ids(admitFirstFit(sortReady(nipypeExample(), 'tsort'), ledger, key))).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('picks different nodes under a tight budget depending on the order', () => {
    // 4 procs / 4 GB. mem_thread: e(0.5,3), d(1,1) -> procs exhausted.
    const memThread = new ResourceLedger({ n_procs: 4, mem_gb: 4 });
    expect(ids(admitFirstFit(sortReady(nipypeExample(), 'mem_thread'), memThread, key))).toEqual(['e', 'd']);
    expect(memThread.used).toEqual({ n_procs: 4, mem_gb: 1.5 });
    // tsort: a(3,1), b(1,2) -> memory exhausted, c..f skipped.
    const tsort = new ResourceLedger({ n_procs: 4, mem_gb: 4 });
    expect(ids(admitFirstFit(sortReady(nipypeExample(), 'tsort'), tsort, key))).toEqual(['a', 'b']);
    expect(tsort.used).toEqual({ n_procs: 3, mem_gb: 4 });
  });

  it('skips a node that does not fit and admits a later, smaller one in the same pass', () => {
    const ledger = new ResourceLedger({ n_procs: 4, mem_gb: 4 });
    const ready = [cand(0, 'big', 3, 1), cand(1, 'medium', 2, 1), cand(2, 'small', 1, 1)];
    expect(ids(admitFirstFit(ready, ledger, key))).toEqual(['big', 'small']);
    expect(ledger.has('1')).toBe(false);
    expect(ledger.used).toEqual({ n_procs: 2, mem_gb: 4 });
  });

  it('skips on procs as well as memory', () => {
    const ledger = new ResourceLedger({ n_procs: 4, mem_gb: 16 });
    const ready = [cand(0, 'wide', 1, 3), cand(1, 'wider', 1, 2), cand(2, 'narrow', 1, 1)];
    expect(ids(admitFirstFit(ready, ledger, key))).toEqual(['wide', 'narrow']);
  });

  it('reserves the grant, not the request', () => {
    const ledger = new ResourceLedger({ n_procs: 4, mem_gb: 8 });
    const admitted = admitFirstFit([cand(0, 'clamped', 32, 16, { n_procs: 4, mem_gb: 8 })], ledger, key);
    expect(ids(admitted)).toEqual(['clamped']);
    expect(ledger.used).toEqual({ n_procs: 4, mem_gb: 8 });
  });

  it('admits nothing when nothing fits, and nothing from an empty list', () => {
    const ledger = new ResourceLedger({ n_procs: 2, mem_gb: 2 });
    ledger.reserve('busy', { n_procs: 1, mem_gb: 1.9 });
    expect(admitFirstFit([cand(0, 'x', 0.5, 1), cand(1, 'y', 1, 2)], ledger, key)).toEqual([]);
    expect(admitFirstFit([], ledger, key)).toEqual([]);
    expect(ledger.holdCount).toBe(1);
  });

  it('admits a node that needs exactly what is free', () => {
    const ledger = new ResourceLedger({ n_procs: 3, mem_gb: 1 });
    ledger.reserve('busy', { n_procs: 1, mem_gb: 0.7 });
    expect(ids(admitFirstFit([cand(0, 'exact', 0.3, 2)], ledger, key))).toEqual(['exact']);
    expect(ledger.free).toEqual({ n_procs: 0, mem_gb: 0 });
  });

  it('uses the key function for the ledger holds', () => {
    const ledger = new ResourceLedger({ n_procs: 4, mem_gb: 4 });
    admitFirstFit([cand(7, 'x', 1, 1)], ledger, (c) => `run-1:${c.id}`);
    expect(ledger.has('run-1:x')).toBe(true);
    expect(ledger.has('7')).toBe(false);
  });
});

describe('waitingReason', () => {
  const ledger = (): ResourceLedger => {
    const l = new ResourceLedger({ n_procs: 8, mem_gb: 16 });
    l.reserve('busy', { n_procs: 7, mem_gb: 12 });
    return l;
  };

  it('names the resource that is short', () => {
    expect(waitingReason(cand(0, 'x', 1, 3), ledger())).toBe('needs 3 procs, 1 free');
    expect(waitingReason(cand(0, 'x', 12, 1), ledger())).toBe('needs 12 GB, 4 GB free');
    expect(waitingReason(cand(0, 'x', 4.5, 2), ledger())).toBe('needs 2 procs, 1 free; needs 4.5 GB, 4 GB free');
  });

  it('says the node waits for its turn when it would fit', () => {
    expect(waitingReason(cand(0, 'x', 4, 1), ledger())).toBe('waiting for its turn');
  });
});

describe('clampToBudget', () => {
  const budget = { n_procs: 8, mem_gb: 16 };
  it('clamps each resource separately to the budget', () => {
    expect(clampToBudget({ n_procs: 16, mem_gb: 32 }, budget)).toEqual({ n_procs: 8, mem_gb: 16 });
    expect(clampToBudget({ n_procs: 2, mem_gb: 32 }, budget)).toEqual({ n_procs: 2, mem_gb: 16 });
    expect(clampToBudget({ n_procs: 12, mem_gb: 0.5 }, budget)).toEqual({ n_procs: 8, mem_gb: 0.5 });
  });
  it('leaves a request within the budget alone', () => {
    expect(clampToBudget({ n_procs: 8, mem_gb: 16 }, budget)).toEqual({ n_procs: 8, mem_gb: 16 });
    expect(clampToBudget({ n_procs: 1, mem_gb: 0.25 }, budget)).toEqual({ n_procs: 1, mem_gb: 0.25 });
  });
});

describe('findOversized / assertFitsBudget', () => {
  const budget = { n_procs: 8, mem_gb: 16 };
  const node = (id: string, n_procs: number, mem_gb: number): { id: string; request: { n_procs: number; mem_gb: number } } => ({
    id,
    request: { n_procs, mem_gb },
  });

  it('uses a strict `>`: a node equal to the budget is fine', () => {
    const nodes = [node('exact', 8, 16), node('small', 1, 0.25)];
    expect(findOversized(nodes, budget)).toEqual([]);
    expect(() => assertFitsBudget(nodes, budget)).not.toThrow();
  });

  it('finds nodes over on procs, on memory, or both', () => {
    const nodes = [node('ok', 8, 16), node('procs', 9, 1), node('mem', 1, 16.5), node('both', 12, 40)];
    expect(findOversized(nodes, budget).map((n) => n.id)).toEqual(['procs', 'mem', 'both']);
  });

  it('throws NODE_EXCEEDS_BUDGET listing every oversized node with "over by" amounts', () => {
    const nodes = [node('ok', 8, 16), node('procs', 9, 1), node('mem', 1, 16.5), node('both', 12, 40)];
    const err = catchError(() => assertFitsBudget(nodes, budget, 'wf.yaml'), ValidationError);
    expect(err.code).toBe('NODE_EXCEEDS_BUDGET');
    expect(err.exitCode).toBe(2);
    expect(err.issues).toEqual([
      {
        file: 'wf.yaml',
        node: 'procs',
        field: 'n_procs',
        message: 'insufficient resources: needs 9 procs but the budget is 8 (over by 1)',
      },
      {
        file: 'wf.yaml',
        node: 'mem',
        field: 'mem_gb',
        message: 'insufficient resources: needs 16.5 GB but the budget is 16 GB (over by 0.5 GB)',
      },
      {
        file: 'wf.yaml',
        node: 'both',
        field: 'n_procs',
        message: 'insufficient resources: needs 12 procs but the budget is 8 (over by 4); needs 40 GB but the budget is 16 GB (over by 24 GB)',
      },
      {
        message:
          '3 node(s) exceed the budget of 8 procs / 16 GB; raise --n-procs/--memory-gb or pass --no-raise-insufficient to run them alone with the whole budget',
      },
    ]);
    expect(err.message.split('\n')[0]).toBe(
      'wf.yaml: node "procs", field "n_procs": insufficient resources: needs 9 procs but the budget is 8 (over by 1)',
    );
    expect(err.message).not.toContain('"ok"');
  });

  it('rounds fractional "over by" amounts and works without a file', () => {
    const err = catchError(() => assertFitsBudget([node('m', 1, 0.3)], { n_procs: 1, mem_gb: 0.1 }), ValidationError);
    expect(err.issues[0]).toEqual({
      node: 'm',
      field: 'mem_gb',
      message: 'insufficient resources: needs 0.3 GB but the budget is 0.1 GB (over by 0.2 GB)',
    });
  });
});
