/**
 * What an episode of the chaos suite does, drawn from its seed (pure): the
 * mode (all-in-one `flowgate run`, or the scheduler service), the workflows,
 * the budget and the faults with their offsets and parameters. The same seed
 * gives the same plan; what the processes then do is up to the machine.
 */
import { Random } from './random.js';

/** How flowgate runs in an episode. */
export type Mode = 'run' | 'service';

/** Every kind of fault the suite injects. */
export const FAULT_KINDS = [
  'worker-kill', // SIGKILL of a worker process (one running nodes when there is one)
  'worker-term', // SIGTERM of a worker: it drains and exits
  'run-kill', // SIGKILL of `flowgate run` / `resume` (run mode): continued with `flowgate resume`
  'run-term', // SIGTERM of `flowgate run` / `resume`: the run is cancelled, continued with `flowgate retry`
  'leader-kill', // SIGKILL of the leading scheduler service (service mode)
  'leader-term', // SIGTERM of the leading scheduler service
  'redis-restart', // Redis stopped (SIGTERM or SIGKILL) and started again within the outage limit
  'redis-outage-long', // Redis away beyond the limit: `--redis-outage-ms` under `run`, the run lease (15 s) in the service
  'proxy-delay', // every chunk to and from Redis delayed
  'proxy-stall', // no byte to or from Redis for a while, connections kept
  'proxy-cut', // every Redis connection reset
] as const;
/** A kind of fault. */
export type FaultKind = (typeof FAULT_KINDS)[number];

const RUN_KINDS: FaultKind[] = ['worker-kill', 'worker-term', 'run-kill', 'run-term', 'redis-restart', 'redis-outage-long', 'proxy-delay', 'proxy-stall', 'proxy-cut'];
const SERVICE_KINDS: FaultKind[] = ['worker-kill', 'worker-term', 'leader-kill', 'leader-term', 'redis-restart', 'redis-outage-long', 'proxy-delay', 'proxy-stall', 'proxy-cut'];

/** Whether a fault kind applies to a mode. */
export function kindFits(kind: FaultKind, mode: Mode): boolean {
  return (mode === 'run' ? RUN_KINDS : SERVICE_KINDS).includes(kind);
}

/** One planned fault. */
export interface PlannedFault {
  kind: FaultKind;
  /** Wait this long after the previous fault was healed (or the episode started). */
  afterMs: number;
  /** How long the fault lasts (outages, delays, stalls); 0 for one-shot faults. */
  durationMs: number;
  /** Redis stop signal, for Redis faults. */
  signal: 'SIGTERM' | 'SIGKILL';
  /** Added latency, for `proxy-delay`. */
  delayMs: number;
}

/** One node of a generated workflow. */
export interface PlannedNode {
  id: string;
  needs: string[];
  n_procs: number;
  mem_gb: number;
  /** How long the node's process sleeps. */
  sleepMs: number;
  /** Fails its first execution (exit 7) and has one retry. */
  flaky: boolean;
}

/** One generated workflow. */
export interface PlannedWorkflow {
  name: string;
  nodes: PlannedNode[];
}

/** An episode's plan. */
export interface EpisodePlan {
  seed: number;
  mode: Mode;
  budget: { n_procs: number; memory_gb: number };
  workflows: PlannedWorkflow[];
  faults: PlannedFault[];
}

/** Settings of the outage limits, so that plans put "within" and "beyond" on the right side. */
export interface PlanLimits {
  /** `--redis-outage-ms` given to `flowgate run` / `resume`. */
  redisOutageMs: number;
  /** The run lease's lifetime (15 s in flowgate). */
  runLeaseMs: number;
  /** `--lock-duration-ms`: outages stay below it (a longer one reruns nodes, as documented). */
  lockDurationMs: number;
}

/** What the caller may restrict. */
export interface PlanOptions {
  mode?: Mode;
  /** Only these kinds (those that fit the mode). */
  kinds?: readonly FaultKind[];
  /** Exactly these faults, in this order (parameters still drawn from the seed); overrides `kinds`. */
  sequence?: readonly FaultKind[];
  /** At most this many faults per episode (default 3). */
  maxFaults?: number;
  /** Longest wait before a fault, after the previous one or the start (default 4000 ms). */
  maxGapMs?: number;
  /** Most nodes per workflow (default 14; at least 6). */
  maxNodes?: number;
  /** Longest node (default 2500 ms). */
  maxSleepMs?: number;
}

const MEMS = [0.25, 0.5, 1, 1.5];

function planWorkflow(rng: Random, name: string, budget: EpisodePlan['budget'], options: PlanOptions): PlannedWorkflow {
  const count = rng.int(6, Math.max(6, options.maxNodes ?? 14));
  const nodes: PlannedNode[] = [];
  for (let i = 0; i < count; i++) {
    const needs: string[] = [];
    const wanted = i === 0 ? 0 : rng.int(0, Math.min(2, i));
    while (needs.length < wanted) {
      const dep = `n${rng.int(0, i - 1)}`;
      if (!needs.includes(dep)) needs.push(dep);
    }
    nodes.push({
      id: `n${i}`,
      needs,
      n_procs: rng.int(1, Math.min(2, budget.n_procs)),
      mem_gb: rng.pick(MEMS.filter((m) => m <= budget.memory_gb)),
      sleepMs: rng.int(200, Math.max(200, options.maxSleepMs ?? 2500)),
      flaky: false,
    });
  }
  if (rng.chance(0.5)) {
    const flaky = rng.pick(nodes);
    flaky.flaky = true;
  }
  return { name, nodes };
}

function planFault(rng: Random, kind: FaultKind, mode: Mode, limits: PlanLimits, maxGapMs: number): PlannedFault {
  const fault: PlannedFault = { kind, afterMs: rng.int(300, Math.max(300, maxGapMs)), durationMs: 0, signal: rng.chance(0.5) ? 'SIGTERM' : 'SIGKILL', delayMs: 0 };
  switch (kind) {
    case 'redis-restart':
      fault.durationMs = rng.int(500, Math.min(5000, limits.redisOutageMs - 1000));
      break;
    case 'redis-outage-long': {
      // Beyond what the mode's driver tolerates, but shorter than the job lock.
      const floor = mode === 'run' ? limits.redisOutageMs + 1000 : limits.runLeaseMs + 1000;
      const drawn = rng.int(floor, floor + 4000);
      // With a job lock shorter than that (fast-lock soaks) the outage also outlasts the lock: nodes rerun, as documented.
      fault.durationMs = limits.lockDurationMs - 3000 >= floor ? Math.min(drawn, limits.lockDurationMs - 3000) : drawn;
      break;
    }
    case 'proxy-delay':
      fault.durationMs = rng.int(1000, 6000);
      fault.delayMs = rng.int(20, 400);
      break;
    case 'proxy-stall':
      fault.durationMs = rng.int(500, 5000);
      break;
    default:
      break;
  }
  return fault;
}

/** The plan of the episode seeded with `seed`. */
export function planEpisode(seed: number, limits: PlanLimits, options: PlanOptions = {}): EpisodePlan {
  const rng = new Random(seed);
  const mode = options.mode ?? (rng.chance(0.5) ? 'run' : 'service');
  const budget = { n_procs: rng.int(2, 4), memory_gb: rng.pick([2, 3, 4]) };
  const runs = mode === 'service' ? rng.int(1, 2) : 1;
  const workflows = Array.from({ length: runs }, (_, i) => planWorkflow(rng, `chaos${i}`, budget, options));
  const kinds = (options.kinds ?? FAULT_KINDS).filter((k) => kindFits(k, mode));
  const count = kinds.length === 0 ? 0 : rng.int(1, options.maxFaults ?? 3);
  const chosen = options.sequence?.filter((k) => kindFits(k, mode)) ?? Array.from({ length: count }, () => rng.pick(kinds));
  const faults = chosen.map((kind) => planFault(rng, kind, mode, limits, options.maxGapMs ?? 4000));
  return { seed, mode, budget, workflows, faults };
}
