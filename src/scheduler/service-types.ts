/**
 * The options and events of the scheduler service (service.ts).
 */
import type { Logger } from '../shared/logger.js';
import type { Resources } from './ledger.js';
import type { RetentionPolicy } from './prune-plan.js';
import type { RunSummary } from './summary.js';

/** Options of a {@link SchedulerService}. */
export interface ServiceOptions {
  redisUrl: string;
  prefix: string;
  /** The host budget every run shares (pool placement), or the cap on the fleet's (hosts placement). */
  budget: Resources & { resources?: Readonly<Record<string, number>> };
  /**
   * `pool` (default): one budget for every worker, one shared queue.
   * `hosts`: one ledger per registered host; each node is placed on one host
   * and its job goes to that host's queue.
   */
  placement?: 'pool' | 'hosts';
  /** Hosts placement: cap the fleet's threads and memory at `budget` (default: the live hosts' sum alone). */
  capFleet?: { n_procs: boolean; mem_gb: boolean };
  /** Work dir of runs submitted without one. */
  workDir: string;
  logger: Logger;
  /** Leader lease time to live; a dead leader is replaced after at most this long. Default 10000. */
  leaderTtlMs?: number;
  /** Safety sweep period of each run. Default 5000. */
  reconcileIntervalMs?: number;
  /** Safety check of the submitted list (a lost pub/sub message). Default 5000. */
  pickupIntervalMs?: number;
  /** Finished runs kept in Redis, applied by the leader after runs finish. Default {@link DEFAULT_RETENTION}. */
  retention?: RetentionPolicy;
  /** Retention is applied at most once per this period. Default 10000. */
  retentionIntervalMs?: number;
}

/** Events of the service. */
export interface ServiceEvents {
  leading: { holder: string };
  passive: { leader: string };
  'run:started': { runId: string; resumed: boolean };
  'run:finished': RunSummary;
  'run:rejected': { runId: string; error: string };
  'retention:applied': { removed: number; jobs: number };
}
