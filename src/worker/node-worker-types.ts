/**
 * The options of a node worker (node-worker.ts): where its queue is, how many
 * nodes it runs at once, what its host offers, and how it starts node
 * processes.
 */
import type { Logger } from '../shared/logger.js';
import type { HostCapacity } from '../shared/host-capacity.js';
import type { SpawnerChoice } from './launcher.js';

/** Options of a {@link NodeWorker}. */
export interface NodeWorkerOptions {
  redisUrl: string;
  prefix: string;
  /** Jobs run at once. */
  concurrency: number;
  /** Worker name, unique per prefix; default `host:pid`. */
  name?: string;
  /** The host it belongs to (`--host-id`); default this host name. */
  hostId?: string;
  /** What the host offers (`--capacity`); default this host's CPUs and 90 % of its memory. */
  capacity?: HostCapacity;
  /** Host labels (`--label`). */
  labels?: Record<string, string>;
  /** BullMQ lock duration: how long a job survives its worker's death (default 30000). */
  lockDurationMs?: number;
  /** How often stalled (lost) jobs are looked for (default 30000). */
  stalledIntervalMs?: number;
  /** How often a lost job is put back to run again before it fails as "worker lost" (default 1). */
  maxStalledCount?: number;
  /** Heartbeat period (default 2000). */
  heartbeatMs?: number;
  /** Resource sampling period of node process trees (default 1000). */
  sampleIntervalMs?: number;
  /**
   * nipype's `maxtasksperchild`: an executor process that ran this many
   * function nodes is replaced. Command nodes always run in a fresh process.
   */
  maxTasksPerChild: number;
  /**
   * How node processes are started (default `auto`: the compiled launcher
   * when the build made it, else Node's spawn).
   */
  spawner?: SpawnerChoice;
  /**
   * Nodes (and the executors of function nodes) start from a minimal
   * environment instead of this process's: see {@link cleanEnv} (default false).
   */
  cleanEnv?: boolean;
  /** Told about every node process started and ended (the local fleet uses it to clean up after a dead worker). */
  onNodeProcess?: (event: 'spawned' | 'exited', pid: number) => void;
  logger: Logger;
}
