/**
 * Every option default, choice list and bound of flowgate's components, each
 * written once. The zod schemas (`./run.ts`, `./worker.ts`, `./scheduler.ts`)
 * apply them; the CLI's flag specs quote them in `--help`, complete and check
 * the choices. Free of zod on purpose: `flowgate --help` and every worker of a
 * `flowgate run` read this file, and zod costs them ~50 ms of start-up.
 */
import { DEFAULT_MAX_NODES } from '../workflow/max-nodes.js';

/** Ready-node orderings: nipype's `tsort` and `mem_thread`. */
export const SCHEDULER_ORDERS = ['tsort', 'mem_thread'] as const;
/** A ready-node ordering. */
export type SchedulerOrder = (typeof SCHEDULER_ORDERS)[number];

/** Crash files per failure: a JSON record, its text twin (nipype's one file), or both. */
export const CRASHFILE_FORMATS = ['json', 'txt', 'both'] as const;
/** One of {@link CRASHFILE_FORMATS}. */
export type CrashfileFormat = (typeof CRASHFILE_FORMATS)[number];

/** How input files are fingerprinted for the cache: size + mtime, or content. */
export const HASH_METHODS = ['timestamp', 'content'] as const;

/** How workers start node processes: the compiled launcher when it passes its self-test, the launcher, or Node's spawn. */
export const SPAWNERS = ['auto', 'launcher', 'node'] as const;
/** One of {@link SPAWNERS}. */
export type SpawnerChoice = (typeof SPAWNERS)[number];

/** How the scheduler service budgets: one pool for every worker, or one ledger per registered host. */
export const PLACEMENTS = ['pool', 'hosts'] as const;
/** One of {@link PLACEMENTS}. */
export type Placement = (typeof PLACEMENTS)[number];

/** Where the workers of `flowgate run` come from: started by the run, or already registered on its Redis. */
export const FLEETS = ['local', 'external'] as const;
/** One of {@link FLEETS}. */
export type Fleet = (typeof FLEETS)[number];

/** What an exception thrown by the API's `status_callback` does: cancel the run, or be logged. */
export const CALLBACK_ERRORS = ['abort', 'log'] as const;

/** Defaults of a run's options (`flowgate run`, `submit`, `resume`, the API's `run()`). */
export const RUN_DEFAULTS = {
  /** Ready-node order. */
  scheduler: 'tsort' as SchedulerOrder,
  /** Refuse nodes larger than the budget before anything runs. */
  raise_insufficient: true,
  /** Stop admitting at the first failure. */
  stop_on_first_crash: false,
  /** nipype's `maxtasksperchild`: function nodes a realm (JavaScript) or an executor process (TypeScript) runs before it is replaced. */
  max_tasks_per_child: 10,
  /** Crash files per failure. */
  crashfile_format: 'both' as CrashfileFormat,
  /** How input files are fingerprinted. */
  hash_method: 'timestamp' as (typeof HASH_METHODS)[number],
  /** Accept existing outputs of nodes whose inputs changed. */
  update_hash: false,
  /** Nodes get the worker's whole environment. */
  clean_env: false,
  /** The memory margin of a bare `--enforce-memory` (10 %); without it memory is only measured. */
  enforce_memory_bare: 0.1,
  /**
   * Largest outputs of a node, in bytes of JSON (4 MB): outputs are stored in
   * Redis several times over (job, event, node record, summary); large
   * results belong in files.
   */
  max_output_bytes: 4 * 1024 * 1024,
  /** The most nodes one expansion may create. */
  max_nodes: DEFAULT_MAX_NODES,
  /** Safety sweep period of a run. */
  reconcile_interval_ms: 5000,
  /** Redis unreachable longer than this ends a run (exit code 3, resumable). */
  redis_outage_ms: 60_000,
  /** An exception of the API's `status_callback` cancels the run. */
  callback_errors: 'abort' as (typeof CALLBACK_ERRORS)[number],
  /** Workers: a local fleet started by the run. */
  fleet: 'local' as Fleet,
  /** The work dir's name, next to the workflow file (CLI), below the base dir (API) or in the service's directory. */
  work_dir_name: 'flowgate-work',
  /** The crash dump dir's name below the work dir. */
  crashdump_dir_name: '_crashes',
} as const;

/** Defaults of a worker's options (`flowgate worker`, and the workers of `flowgate run`). */
export const WORKER_DEFAULTS = {
  /** A job whose worker stopped renewing its lock this long is found lost. */
  lock_duration_ms: 30_000,
  /** How often workers look for lost jobs. */
  stalled_interval_ms: 30_000,
  /** Times a lost job is run again before it fails as "worker lost". */
  max_stalled_count: 1,
  /** Heartbeat period; 3 missed beats = lost. */
  heartbeat_ms: 2000,
  /** Resource sampling period of node process trees. */
  sample_interval_ms: 1000,
  /** How node processes are started. */
  spawner: 'auto' as SpawnerChoice,
} as const;

/**
 * Delay of a node's first resource sample. Later samples follow at doubling
 * gaps up to the sampling interval, so a node of a fraction of a second is
 * measured several times, not never; a node that ends sooner has no samples.
 */
export const FIRST_SAMPLE_MS = 10;

/** Inclusive lower bounds of options whose value must not be too small, shared by flags, variables and the API. */
export const OPTION_MINIMUMS = {
  sample_interval_ms: 50,
  lock_duration_ms: 1000,
  stalled_interval_ms: 500,
  heartbeat_ms: 100,
  reconcile_interval_ms: 100,
  redis_outage_ms: 1000,
  leader_ttl_ms: 1000,
  retention_interval_ms: 100,
} as const;

/** Defaults of the scheduler service (`flowgate scheduler`). */
export const SERVICE_DEFAULTS = {
  /** Leader lease; a standby takes over this long after the leader dies. */
  leader_ttl_ms: 10_000,
  /** Safety sweep period of each run. */
  reconcile_interval_ms: RUN_DEFAULTS.reconcile_interval_ms,
  /** Retention is applied after runs finish, at most once per this period. */
  retention_interval_ms: 10_000,
  /** Work dir of runs submitted without one (relative to the service's directory). */
  work_dir: RUN_DEFAULTS.work_dir_name,
  /** One budget for every worker. */
  placement: 'pool' as Placement,
} as const;

/**
 * What raises the scheduler service's budget, for messages about a submitted
 * run that does not fit it (`flowgate submit` takes no budget of its own).
 */
export const SERVICE_BUDGET_HINT = "raise the scheduler service's budget (flowgate scheduler --n-procs/--memory-gb, or FLOWGATE_N_PROCS/FLOWGATE_MEMORY_GB)";
