/**
 * The chaos suite's pure parts: the checks (ledger against attempts, budget
 * per instant, Redis keys, final states), the recovery figures and the
 * seeded plans.
 */
import { describe, expect, it } from 'vitest';
import {
  checkBudget,
  checkExecutions,
  checkFinalStates,
  checkRedisKeys,
  parseBegins,
  parseLedger,
  type BeginLine,
  type LedgerLine,
  type NodeAccount,
} from '../chaos/checks.js';
import { openExecutions, rerunDelays, resumeDelayMs, type FaultRecord } from '../chaos/faults.js';
import { kindFits, planEpisode } from '../chaos/plan.js';
import { Random } from '../chaos/random.js';

const line = (node: string, pid: number, startMs: number, endMs: number, nProcs = 1, memGb = 0.5): LedgerLine => ({ run: 'r', node, exec: 1, pid, startMs, endMs, nProcs, memGb });
const begin = (node: string, pid: number, startMs: number, workerPid = 10): BeginLine => ({ run: 'r', node, pid, workerPid, startMs });
const account = (id: string, status: string, history: string[]): NodeAccount => ({
  run: 'r',
  id,
  status,
  attempts: 1,
  attempt_history: history.map((s) => ({ attempt: 1, status: s })),
});

describe('parsing what nodes wrote', () => {
  it('reads ledger and begin lines and sets torn ones apart', () => {
    const ledger = parseLedger('r a 1 42 1000 2000 2 0.5\nr b 1 43 10\n\n');
    expect(ledger.lines).toEqual([{ run: 'r', node: 'a', exec: 1, pid: 42, startMs: 1000, endMs: 2000, nProcs: 2, memGb: 0.5 }]);
    expect(ledger.malformed).toEqual(['r b 1 43 10']);
    const begins = parseBegins('r a 42 7 1000\nr a 42 7 10r b 1 2 3\n');
    expect(begins.lines).toEqual([{ run: 'r', node: 'a', pid: 42, workerPid: 7, startMs: 1000 }]);
    expect(begins.malformed).toHaveLength(1);
  });
});

describe('ledger against attempts', () => {
  it('accepts one execution per succeeded node, and a rerun after a killed execution', () => {
    const res = checkExecutions(
      [account('a', 'succeeded', ['succeeded']), account('b', 'succeeded', ['killed', 'succeeded']), account('c', 'skipped', [])],
      [line('a', 1, 0, 10), line('b', 2, 0, 10), line('b', 3, 20, 30)],
      [begin('a', 1, 0), begin('b', 2, 0), begin('b', 3, 20)],
    );
    expect(res.violations).toEqual([]);
    expect(res.tally).toEqual({ documentedReruns: 1, executions: 3 });
  });

  it('accepts an execution stopped by a cancel and the retry after it', () => {
    const res = checkExecutions([account('c', 'succeeded', ['cancelled', 'succeeded'])], [line('c', 2, 20, 30)], [begin('c', 1, 0), begin('c', 2, 20)]);
    expect(res.violations).toEqual([]);
  });

  it('finds a lost node, a doubled one, an unseen execution and two executions at once', () => {
    const res = checkExecutions(
      [account('lost', 'succeeded', ['succeeded']), account('twice', 'succeeded', ['succeeded']), account('hidden', 'succeeded', ['succeeded']), account('overlap', 'succeeded', ['killed', 'succeeded'])],
      [line('twice', 1, 0, 10), line('twice', 2, 20, 30), line('hidden', 3, 50, 60), line('overlap', 4, 0, 100), line('overlap', 5, 50, 150)],
      [begin('twice', 1, 0), begin('twice', 2, 20), begin('hidden', 9, 40), begin('hidden', 3, 50), begin('overlap', 4, 0), begin('overlap', 5, 50)],
    );
    expect(res.violations.map((v) => `${v.kind} ${v.detail.split(':')[0]}`)).toEqual([
      'lost-node r lost',
      'double-run r twice',
      'unseen-execution r twice',
      'unseen-execution r hidden',
      'double-run r overlap',
    ]);
  });

  it('counts a failed execution as seen', () => {
    const res = checkExecutions([account('flaky', 'succeeded', ['failed', 'succeeded'])], [line('flaky', 2, 20, 30)], [begin('flaky', 1, 0), begin('flaky', 2, 20)]);
    expect(res.violations).toEqual([]);
  });
});

describe('budget per instant', () => {
  const budget = { n_procs: 2, memory_gb: 1 };
  it('holds when the sum never exceeds the budget; an end and a start at the same instant do not overlap', () => {
    const report = checkBudget(
      [
        { label: 'a', startMs: 0, endMs: 10, nProcs: 1, memGb: 0.5 },
        { label: 'b', startMs: 5, endMs: 20, nProcs: 1, memGb: 0.5 },
        { label: 'c', startMs: 10, endMs: 30, nProcs: 1, memGb: 0.5 },
      ],
      budget,
    );
    expect(report.violations).toEqual([]);
    expect(report.peak).toEqual({ n_procs: 2, mem_gb: 1, concurrent: 2 });
  });

  it('reports each stretch above the budget once, naming who held what', () => {
    const report = checkBudget(
      [
        { label: 'a', startMs: 0, endMs: 100, nProcs: 2, memGb: 0.25 },
        { label: 'b', startMs: 10, endMs: 20, nProcs: 1, memGb: 0.25 },
        { label: 'c', startMs: 12, endMs: 18, nProcs: 1, memGb: 0.25 },
        { label: 'd', startMs: 50, endMs: 60, nProcs: 0, memGb: 0.9 },
      ],
      budget,
    );
    expect(report.violations.map((v) => v.detail)).toEqual(['at 10: 3 procs / 0.5 GB held, budget 2 / 1, by a, b', 'at 50: 2 procs / 1.15 GB held, budget 2 / 1, by a, d']);
    expect(report.peak.n_procs).toBe(4);
  });
});

describe('Redis keys after the runs ended', () => {
  it('accepts what a clean run leaves', () => {
    const keys = ['fg:runs', 'fg:run:x:meta', 'fg:run:x:states', 'fg:run:x:remaining', 'fg:run:x:nodes', 'fg:run:x:claims', 'fg:run:x:outcomes', 'fg:workdir:ab12', 'fg:dirlock:ab12:waited', 'nodes:completed', 'nodes:failed', 'nodes:events', 'nodes:id', 'nodes:meta', 'nodes:stalled-check', 'nodes:x.0.1', 'nodes@h1:meta', 'nodes@h1:stalled-check', 'nodes@h1:x.0.2', 'fg:leader', 'fg:service', 'fg:workers', 'fg:worker:h:1'];
    expect(checkRedisKeys({ keys, claims: { x: { '0': '{"state":"succeeded"}', '1': '{"state":"failed"}' } }, halfWrittenJobs: [], unfinishedMeta: [] })).toEqual([]);
  });

  it('finds holds, leases, locks, jobs in flight, running claims, half-written jobs and unknown keys', () => {
    const keys = ['fg:run:x:holds', 'fg:run:x:lease', 'fg:run:x:admits', 'fg:dirlock:ff', 'nodes:x.0.1:lock', 'nodes:active', 'nodes@h1:wait', 'fg:something'];
    const found = checkRedisKeys({ keys, claims: { x: { '3': '{"state":"running"}' } }, halfWrittenJobs: ['nodes:x.1.1'], unfinishedMeta: ['x'] });
    expect(found.map((v) => v.detail)).toEqual([
      'fg:run:x:holds: resource holds left after the run ended',
      'fg:run:x:lease: run lease left after the run ended',
      'fg:run:x:admits: admissions left after the run ended',
      'fg:dirlock:ff: node directory lock left after the run ended',
      'nodes:x.0.1:lock: job lock left after the run ended',
      'nodes:active: jobs in flight left after the run ended',
      'nodes@h1:wait: jobs in flight left after the run ended',
      'fg:something: a key no clean run leaves',
      'run x node #3: claim left running',
      'nodes:x.1.1: half-written job hash',
      'run x: meta without a final status and summary',
    ]);
    expect(found.every((v) => v.kind === 'redis-leftover')).toBe(true);
  });
});

describe('final states', () => {
  it('wants an ended run with every node final', () => {
    expect(checkFinalStates('x', 'succeeded', [{ id: 'a', state: 'succeeded' }, { id: 'b', state: 'skipped' }])).toEqual([]);
    expect(checkFinalStates('x', 'orphaned', [{ id: 'a', state: 'running' }]).map((v) => v.detail)).toEqual(['run x is orphaned', 'run x node a is running']);
  });
});

describe('recovery figures', () => {
  const kill: FaultRecord = { kind: 'worker-kill', atMs: 100, healedMs: 100, target: 'worker 10' };
  const outage: FaultRecord = { kind: 'redis-restart', atMs: 1000, healedMs: 2000, target: 'redis' };
  const begins = [begin('a', 1, 50), begin('b', 2, 60), begin('c', 4, 500), begin('a', 3, 5000), begin('c', 5, 3000)];
  const ledger = [line('b', 2, 60, 400), line('a', 3, 5000, 5200), line('c', 5, 3000, 3100)];
  it('measures from a fault to the next start of the nodes whose execution died during it', () => {
    expect(openExecutions(begins, ledger)).toEqual([begin('a', 1, 50), begin('c', 4, 500)]);
    // a died at the kill (last seen at 120), c during the outage (last seen at 1500).
    const lastSeen = (pid: number): number | undefined => ({ 1: 120, 4: 1500 })[pid];
    expect(rerunDelays([kill, outage], begins, ledger, lastSeen)).toEqual([4900, 2000]);
    // A skipped fault kills nothing; an execution never seen alive is not counted.
    expect(rerunDelays([kill, { ...outage, skipped: 'runs over' }], begins, ledger, lastSeen)).toEqual([4900, undefined]);
    expect(rerunDelays([kill], begins, ledger, () => undefined)).toEqual([undefined]);
    expect(resumeDelayMs(kill, begins, ledger)).toBe(300);
    expect(resumeDelayMs(outage, begins, ledger)).toBe(1000);
  });
});

describe('plans', () => {
  it('are the same for the same seed, and fit their mode and budget', () => {
    const limits = { redisOutageMs: 4000, runLeaseMs: 15_000, lockDurationMs: 30_000 };
    for (let i = 0; i < 50; i++) {
      const seed = Random.episodeSeed(7, i);
      const plan = planEpisode(seed, limits);
      expect(planEpisode(seed, limits)).toEqual(plan);
      for (const f of plan.faults) {
        expect(kindFits(f.kind, plan.mode)).toBe(true);
        if (f.kind === 'redis-restart') expect(f.durationMs).toBeLessThan(limits.redisOutageMs);
        if (f.kind === 'redis-outage-long') {
          expect(f.durationMs).toBeGreaterThan(plan.mode === 'run' ? limits.redisOutageMs : limits.runLeaseMs);
          expect(f.durationMs).toBeLessThan(limits.lockDurationMs);
        }
      }
      for (const n of plan.workflows.flatMap((w) => w.nodes)) {
        expect(n.n_procs).toBeLessThanOrEqual(plan.budget.n_procs);
        expect(n.mem_gb).toBeLessThanOrEqual(plan.budget.memory_gb);
      }
    }
    expect(new Set(Array.from({ length: 20 }, (_, i) => Random.episodeSeed(7, i))).size).toBe(20);
  });
});
