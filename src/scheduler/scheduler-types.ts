/**
 * The types of a run's scheduler: its options, events and progress view, and
 * the contract of admission shared between runs (scheduler service).
 */
import type { Logger } from '../shared/logger.js';
import type { JobChannel } from './job-channel.js';
import type { Ledger, Resources } from './ledger.js';
import type { RunDefinition } from './run-definition.js';
import type { NodeRuntime, RunGraph } from './run-graph.js';
import type { RunSummary } from './summary.js';

/** Options of a run's scheduler: the run's definition plus where and how to run it. */
export interface SchedulerOptions extends RunDefinition {
  redisUrl: string;
  prefix: string;
  /** Continue a run that exists in Redis instead of creating it (after a scheduler crash). */
  resume?: boolean;
  /** What raises the budget, in the message refusing a node larger than it (default: `--n-procs/--memory-gb`). */
  budgetHint?: string;
  /**
   * Refuse to start while the previous run of this workflow in this work dir
   * is still running or died without finishing (`flowgate run` without
   * `--force`); its node directories would be shared.
   */
  refuseWhilePreviousRun?: boolean;
  /** Period of the safety sweep that reconciles with job state; default 5000. */
  reconcileIntervalMs?: number;
  /** Period of the check for workers that stopped beating while they hold this run's nodes; default 1000. */
  lostCheckIntervalMs?: number;
  /** After a cancel, nodes whose processes never report are cancelled after this; default 10000. */
  cancelGraceMs?: number;
  /** Redis unreachable for longer than this ends the run with an infrastructure error; default 60000. */
  redisOutageMs?: number;
  logger: Logger;
  clock?: () => number;
  /** A queue channel shared with other runs (scheduler service); default: one of its own. */
  channel?: JobChannel;
  /** Time to live of the run's lease (a dead scheduler's run can be resumed after it); default 15000. */
  leaseTtlMs?: number;
  /** Admission across runs sharing one budget (scheduler service); default: this run alone. */
  admission?: SharedAdmission;
}

/**
 * Admission for runs that share one ledger. `admit(run)` runs an admission
 * pass over every run in the service's order and returns what `run` got;
 * other runs that got nodes are handed them with `hand`.
 */
export interface SharedAdmission {
  readonly ledger: Ledger;
  admit(run: AdmissionRun): NodeRuntime[];
  /** True while runs are being adopted: nothing is admitted until every adopted run's holds are back in the ledger. */
  readonly paused: boolean;
}

/** What shared admission needs of a run: its graph, and a way to hand it admitted nodes. */
export interface AdmissionRun {
  readonly graph: RunGraph;
  hand(nodes: NodeRuntime[]): void;
  /** Asks the run for a step (admission runs in it). */
  kick(): void;
}

/** Events a scheduler emits. */
export interface SchedulerEvents {
  'node:admitted': { id: string; attempt: number };
  'node:started': { id: string };
  'node:finished': { id: string; status: string; reason: string | null };
  'node:retrying': { id: string; attempt: number; reason: string };
  'run:finished': RunSummary;
}


/** Threads and memory, with the named resources in slots when there are any (`resources: {gpu: 2}`). */
export type NamedAmounts = Resources & { resources?: Record<string, number> };

/** Live view of a run for progress output. */
export interface RunProgress {
  counts: Record<string, number>;
  running: string[];
  free: NamedAmounts;
  budget: NamedAmounts;
  waiting: Array<{ id: string; reason: string }>;
  /** Registered workers: alive, and lost (missed three heartbeats). */
  workers: { alive: number; lost: number };
}
