/**
 * Admission across the runs of the scheduler service: one ledger, runs served
 * in submission order, first fit inside and across runs. Real RunSchedulers
 * (not started: admission is pure and needs no Redis).
 */
import { describe, expect, it } from 'vitest';
import { RunScheduler } from '../../src/scheduler/scheduler.js';
import { ServiceAdmission } from '../../src/scheduler/shared-admission.js';
import { silentLogger } from '../../src/shared/logger.js';
import { makeWorkflow, type NodeSpec } from './support.js';

function run(admission: ServiceAdmission, runId: string, nodes: readonly NodeSpec[], submittedMs: number): RunScheduler {
  const r = new RunScheduler({
    runId,
    workflow: makeWorkflow(nodes),
    budget: admission.ledger.budget,
    order: 'tsort',
    raiseInsufficient: true,
    stopOnFirstCrash: false,
    workDir: '/tmp/unused',
    crashdumpDir: '/tmp/unused',
    memoryMargin: null,
    redisUrl: 'redis://127.0.0.1:1',
    prefix: 'unused',
    logger: silentLogger(),
    admission,
  });
  r.graph.start();
  admission.add(r, submittedMs);
  return r;
}

const queued = (r: RunScheduler): string[] => r.graph.nodes.filter((n) => n.state === 'queued').map((n) => n.node.id);

describe('ServiceAdmission', () => {
  it('serves the oldest submission first whichever run asks', () => {
    const adm = new ServiceAdmission({ n_procs: 3, mem_gb: 100 });
    const young = run(adm, 'young', [{ id: 'y1' }, { id: 'y2' }], 2000);
    const old = run(adm, 'old', [{ id: 'o1' }, { id: 'o2' }], 1000);
    // The young run asks, but the old run's nodes take the budget first.
    const got = adm.admit(young);
    expect(queued(old)).toEqual(['o1', 'o2']);
    expect(got.map((n) => n.node.id)).toEqual(['y1']);
    expect(adm.ledger.free.n_procs).toBe(0);
  });

  it('lets a small node of a younger run start beside an older run\'s node that does not fit (first fit)', () => {
    const adm = new ServiceAdmission({ n_procs: 4, mem_gb: 8 });
    const old = run(adm, 'old', [{ id: 'a', mem_gb: 6 }, { id: 'b', mem_gb: 6 }], 1);
    const young = run(adm, 'young', [{ id: 'small', mem_gb: 1 }], 2);
    expect(adm.admit(old).map((n) => n.node.id)).toEqual(['a']);
    expect(queued(young)).toEqual(['small']);
    expect(adm.ledger.used).toEqual({ n_procs: 2, mem_gb: 7 });
  });

  it('admits nothing for a run it does not know, and frees what a removed run held', () => {
    const adm = new ServiceAdmission({ n_procs: 2, mem_gb: 4 });
    const a = run(adm, 'a', [{ id: 'x' }, { id: 'y' }], 1);
    expect(adm.admit(a)).toHaveLength(2);
    adm.remove(a);
    expect(adm.size).toBe(0);
    expect(adm.ledger.used).toEqual({ n_procs: 0, mem_gb: 0 });
    const stranger = run(new ServiceAdmission({ n_procs: 2, mem_gb: 4 }), 'b', [{ id: 'z' }], 1);
    expect(adm.admit(stranger)).toEqual([]);
  });
});
