/**
 * Flags of `flowgate run` (kept apart so help output loads nothing heavy).
 */
import { MAX_MEM_GB, MAX_N_PROCS } from '../shared/capacity.js';
import { MAX_RESOURCE_SLOTS } from '../shared/host-capacity.js';
import { CRASHFILE_FORMATS, FLEETS, HASH_METHODS, OPTION_MINIMUMS as MIN, RUN_DEFAULTS as RUN, SCHEDULER_ORDERS, SPAWNERS, WORKER_DEFAULTS as WORKER } from '../shared/options/defaults.js';
import type { FlagSpec, Flags } from './args.js';
import { RETENTION_SETTINGS } from './retention-flags.js';
import { LOOKUP_WORK_DIR_FLAG, CONNECTION_FLAGS } from './connection.js';

/** `--max-nodes`, shared by run, submit and validate. */
export const MAX_NODES_FLAG: FlagSpec = {
  name: 'max-nodes',
  type: 'int',
  min: 1,
  value: 'N',
  help: `the most nodes one expansion may create: an iterables product, the copies of a node, the expanded workflow, a map node\'s elements (default ${RUN.max_nodes})`,
};

/** `--resource`: the named-resource budget (run, resume, submit and, shared by all runs, the scheduler service). */
export const RESOURCE_FLAG: FlagSpec = {
  name: 'resource',
  type: 'string',
  repeatable: true,
  value: 'NAME=N',
  help: `named-resource budget in whole slots (0 to ${MAX_RESOURCE_SLOTS}), e.g. gpu=2; repeatable, or NAME=N,NAME=N; nodes' resources are reserved from it as n_procs is (default: none)`,
};

/** `--n-gpu-procs`: nipype's GPU slot budget, another way to write `--resource gpu=N`. */
export const N_GPU_PROCS_FLAG: FlagSpec = { name: 'n-gpu-procs', type: 'int', min: 0, max: MAX_RESOURCE_SLOTS, value: 'N', help: "GPU slots, nipype's n_gpu_procs: the same as --resource gpu=N (default: none)" };

export const RUN_FLAGS: readonly FlagSpec[] = [
  { name: 'n-procs', type: 'int', min: 1, max: MAX_N_PROCS, value: 'N', help: `thread budget, at most ${MAX_N_PROCS} (default: CPUs available to this process)` },
  { name: 'memory-gb', type: 'number', positive: true, max: MAX_MEM_GB, value: 'G', help: `memory budget in GB, at most ${MAX_MEM_GB} (default: 90% of available memory)` },
  RESOURCE_FLAG,
  N_GPU_PROCS_FLAG,
  {
    name: 'fleet',
    type: 'enum',
    choices: FLEETS,
    value: FLEETS.join('|'),
    help: `external: start no workers; use the workers already registered on this Redis and place nodes per host (default ${RUN.fleet})`,
  },
  { name: 'raise-insufficient', type: 'boolean', negatable: true, help: 'refuse nodes larger than the budget (default); --no-raise-insufficient runs them alone' },
  { name: 'scheduler', type: 'enum', choices: SCHEDULER_ORDERS, value: SCHEDULER_ORDERS.join('|'), help: `ready-node order (default ${RUN.scheduler})` },
  { name: 'stop-on-first-crash', type: 'boolean', help: 'stop admitting at the first failure; running nodes finish' },
  { name: 'max-tasks-per-child', type: 'int', min: 1, value: 'N', help: `nipype maxtasksperchild (default ${RUN.max_tasks_per_child})` },
  { name: 'workers', type: 'int', min: 1, value: 'N', help: 'worker processes in the local fleet (default: 1 with the process launcher; with --spawner node, CPUs available, at most 4 and at most --n-procs)' },
  { name: 'work-dir', type: 'string', value: 'DIR', help: `node directories, logs, summaries (default <directory of WORKFLOW>/${RUN.work_dir_name})` },
  { name: 'crashdump-dir', type: 'string', value: 'DIR', help: `crash records (default <work-dir>/${RUN.crashdump_dir_name})` },
  { name: 'json', type: 'boolean', help: 'print the run summary as JSON on stdout' },
  { name: 'quiet', type: 'boolean', help: 'no progress output on stderr' },
  ...CONNECTION_FLAGS,
  { name: 'run-id', type: 'string', value: 'ID', help: 'choose the run id (default: generated)' },
  { name: 'enforce-memory', type: 'flag-or-number', bareValue: RUN.enforce_memory_bare, min: 0, value: 'MARGIN', help: `kill a node whose process tree exceeds its memory grant by MARGIN (default off; bare: ${RUN.enforce_memory_bare} = ${RUN.enforce_memory_bare * 100}%)` },
  { name: 'max-output-bytes', type: 'int', min: 1, value: 'N', help: `largest outputs of a node, in bytes of JSON (default ${RUN.max_output_bytes} = ${RUN.max_output_bytes / 2 ** 20} MB); larger results belong in files` },
  MAX_NODES_FLAG,
  { name: 'sample-interval-ms', type: 'int', min: MIN.sample_interval_ms, value: 'MS', help: `resource sampling period of node process trees (default ${WORKER.sample_interval_ms})` },
  { name: 'lock-duration-ms', type: 'int', min: MIN.lock_duration_ms, value: 'MS', help: `worker job lock: a killed worker is detected after this (default ${WORKER.lock_duration_ms})` },
  { name: 'stalled-interval-ms', type: 'int', min: MIN.stalled_interval_ms, value: 'MS', help: `how often workers look for lost jobs (default ${WORKER.stalled_interval_ms})` },
  { name: 'max-stalled-count', type: 'int', min: 0, value: 'N', help: `times a lost job is run again before it fails as "worker lost" (default ${WORKER.max_stalled_count})` },
  { name: 'spawner', type: 'enum', choices: SPAWNERS, value: SPAWNERS.join('|'), help: `how workers start node processes (default ${WORKER.spawner}: the compiled launcher when one passes its self-test, else Node spawn)` },
  { name: 'redis-outage-ms', type: 'int', min: MIN.redis_outage_ms, value: 'MS', help: `Redis unreachable longer than this ends the run with exit code 3 (default ${RUN.redis_outage_ms})` },
  { name: 'reconcile-interval-ms', type: 'int', min: MIN.reconcile_interval_ms, value: 'MS', help: `safety sweep period (default ${RUN.reconcile_interval_ms})` },
  { name: 'crashfile-format', type: 'enum', choices: CRASHFILE_FORMATS, value: CRASHFILE_FORMATS.join('|'), help: `crash files per failure: a JSON record, its text twin, or both (default ${RUN.crashfile_format}; nipype writes one)` },
  { name: 'hash-method', type: 'enum', choices: HASH_METHODS, value: HASH_METHODS.join('|'), help: `how input files are fingerprinted for the cache (default ${RUN.hash_method}: size + mtime)` },
  { name: 'update-hash', type: 'boolean', help: 'accept the existing outputs of nodes whose inputs changed, rewriting their cache records (nothing runs that has outputs)' },
  { name: 'dry-run', short: 'n', type: 'boolean', help: 'print what would run and why (or that it is cached) and the budget check; starts nothing, needs no Redis, writes nothing; exit 2 when the run could not start' },
  { name: 'explain-cache', type: 'boolean', help: 'print why each node ran instead of being taken from its cache record' },
  { name: 'force', type: 'boolean', help: 'start even while the previous run of this workflow in this work dir is unfinished (its node directories are waited for)' },
  { name: 'clean-env', type: 'boolean', help: 'nodes get only PATH, HOME, LANG, LC_*, TZ, TMPDIR, FLOWGATE_* of the node, OMP_NUM_THREADS and their env (default: the worker\'s environment)' },
  // Applied to the prefix's finished runs when the run ends (env FLOWGATE_RETAIN_RUNS, FLOWGATE_RETAIN_FOR).
  ...RETENTION_SETTINGS.map((s) => s.flag),
];

/** Flags of `flowgate resume RUN_ID`: how to run, not what (that is stored with the run). */
export const RESUME_FLAGS: readonly FlagSpec[] = RUN_FLAGS.filter((f) =>
  ['resource', 'n-gpu-procs', 'workers', 'max-tasks-per-child', 'json', 'quiet', 'redis-url', 'prefix', 'lock-duration-ms', 'stalled-interval-ms', 'max-stalled-count', 'sample-interval-ms', 'spawner', 'reconcile-interval-ms', 'redis-outage-ms', 'clean-env'].includes(
    f.name,
  ),
).concat(LOOKUP_WORK_DIR_FLAG);

/** Worker flags `run` and `resume` pass through to their fleet. */
export const FLEET_PASSTHROUGH = ['lock-duration-ms', 'stalled-interval-ms', 'max-stalled-count', 'sample-interval-ms', 'spawner', 'clean-env'] as const;

/** The {@link FLEET_PASSTHROUGH} flags given, as worker arguments. */
export function fleetArgs(flags: Flags): string[] {
  return FLEET_PASSTHROUGH.flatMap((f) => {
    const v = flags.raw(f);
    // Booleans take their value inline (`--clean-env=true`), never as the next argument.
    if (typeof v === 'boolean') return [`--${f}=${String(v)}`];
    return v === undefined ? [] : [`--${f}`, String(v)];
  });
}
