/**
 * Flags of `flowgate run` (kept apart so help output loads nothing heavy).
 */
import { MAX_MEM_GB, MAX_N_PROCS } from '../shared/capacity.js';
import { CRASHFILE_FORMATS, DEFAULT_MAX_TASKS_PER_CHILD, DEFAULT_SCHEDULER_ORDER, HASH_METHODS, SCHEDULER_ORDERS } from '../shared/run-options.js';
import type { FlagSpec, Flags } from './args.js';
import { RETENTION_SETTINGS } from './retention-flags.js';
import { LOOKUP_WORK_DIR_FLAG } from './connection.js';


/** `--max-nodes`, shared by run, submit and validate. */
export const MAX_NODES_FLAG: FlagSpec = {
  name: 'max-nodes',
  type: 'int',
  min: 1,
  value: 'N',
  help: 'the most nodes one expansion may create: an iterables product, the copies of a node, the expanded workflow, a map node\'s elements (default 1000000)',
};

export const RUN_FLAGS: readonly FlagSpec[] = [
  { name: 'n-procs', type: 'int', min: 1, max: MAX_N_PROCS, value: 'N', help: 'thread budget, at most 1000000 (default: CPUs available to this process)' },
  { name: 'memory-gb', type: 'number', positive: true, max: MAX_MEM_GB, value: 'G', help: 'memory budget in GB, at most 1048576 (default: 90% of available memory)' },
  { name: 'raise-insufficient', type: 'boolean', negatable: true, help: 'refuse nodes larger than the budget (default); --no-raise-insufficient runs them alone' },
  { name: 'scheduler', type: 'enum', choices: SCHEDULER_ORDERS, value: SCHEDULER_ORDERS.join('|'), help: `ready-node order (default ${DEFAULT_SCHEDULER_ORDER})` },
  { name: 'stop-on-first-crash', type: 'boolean', help: 'stop admitting at the first failure; running nodes finish' },
  { name: 'max-tasks-per-child', type: 'int', min: 1, value: 'N', help: `nipype maxtasksperchild (default ${DEFAULT_MAX_TASKS_PER_CHILD})` },
  { name: 'workers', type: 'int', min: 1, value: 'N', help: 'worker processes in the local fleet (default: 1 with the process launcher; with --spawner node, CPUs available, at most 4 and at most --n-procs)' },
  { name: 'work-dir', type: 'string', value: 'DIR', help: 'node directories, logs, summaries (default <directory of WORKFLOW>/flowgate-work)' },
  { name: 'crashdump-dir', type: 'string', value: 'DIR', help: 'crash records (default <work-dir>/_crashes)' },
  { name: 'json', type: 'boolean', help: 'print the run summary as JSON on stdout' },
  { name: 'quiet', type: 'boolean', help: 'no progress output on stderr' },
  { name: 'redis-url', type: 'string', value: 'URL', help: 'Redis URL (default $REDIS_URL or redis://127.0.0.1:6379)' },
  { name: 'prefix', type: 'string', value: 'P', help: 'key and BullMQ prefix (default $FLOWGATE_PREFIX or flowgate)' },
  { name: 'run-id', type: 'string', value: 'ID', help: 'choose the run id (default: generated)' },
  { name: 'enforce-memory', type: 'flag-or-number', bareValue: 0.1, min: 0, value: 'MARGIN', help: 'kill a node whose process tree exceeds its memory grant by MARGIN (default 0.1 = 10%)' },
  { name: 'max-output-bytes', type: 'int', min: 1, value: 'N', help: 'largest outputs of a node, in bytes of JSON (default 4194304 = 4 MB); larger results belong in files' },
  MAX_NODES_FLAG,
  { name: 'sample-interval-ms', type: 'int', min: 50, value: 'MS', help: 'resource sampling period of node process trees (default 1000)' },
  { name: 'lock-duration-ms', type: 'int', min: 1000, value: 'MS', help: 'worker job lock: a killed worker is detected after this (default 30000)' },
  { name: 'stalled-interval-ms', type: 'int', min: 500, value: 'MS', help: 'how often workers look for lost jobs (default 30000)' },
  { name: 'max-stalled-count', type: 'int', min: 0, value: 'N', help: 'times a lost job is run again before it fails as "worker lost" (default 1)' },
  { name: 'spawner', type: 'enum', choices: ['auto', 'launcher', 'node'], value: 'auto|launcher|node', help: 'how workers start node processes (default auto: the compiled launcher when one passes its self-test, else Node spawn)' },
  { name: 'redis-outage-ms', type: 'int', min: 1000, value: 'MS', help: 'Redis unreachable longer than this ends the run with exit code 3 (default 60000)' },
  { name: 'reconcile-interval-ms', type: 'int', min: 100, value: 'MS', help: 'safety sweep period (default 5000)' },
  { name: 'crashfile-format', type: 'enum', choices: CRASHFILE_FORMATS, value: CRASHFILE_FORMATS.join('|'), help: 'crash files per failure: a JSON record, its text twin, or both (default both; nipype writes one)' },
  { name: 'hash-method', type: 'enum', choices: HASH_METHODS, value: HASH_METHODS.join('|'), help: 'how input files are fingerprinted for the cache (default timestamp: size + mtime)' },
  { name: 'update-hash', type: 'boolean', help: 'accept the existing outputs of nodes whose inputs changed, rewriting their cache records (nothing runs that has outputs)' },
  { name: 'dry-run', type: 'boolean', help: 'print what would run and why (or that it is cached) and the budget check; starts nothing, needs no Redis, writes nothing; exit 2 when the run could not start' },
  { name: 'explain-cache', type: 'boolean', help: 'print why each node ran instead of being taken from its cache record' },
  { name: 'force', type: 'boolean', help: 'start even while the previous run of this workflow in this work dir is unfinished (its node directories are waited for)' },
  { name: 'clean-env', type: 'boolean', help: 'nodes get only PATH, HOME, LANG, LC_*, TZ, TMPDIR, FLOWGATE_* of the node, OMP_NUM_THREADS and their env (default: the worker\'s environment)' },
  // Applied to the prefix's finished runs when the run ends (env FLOWGATE_RETAIN_RUNS, FLOWGATE_RETAIN_FOR).
  ...RETENTION_SETTINGS.map((s) => s.flag),
];

/** Flags of `flowgate resume RUN_ID`: how to run, not what (that is stored with the run). */
export const RESUME_FLAGS: readonly FlagSpec[] = RUN_FLAGS.filter((f) =>
  ['workers', 'max-tasks-per-child', 'json', 'quiet', 'redis-url', 'prefix', 'lock-duration-ms', 'stalled-interval-ms', 'max-stalled-count', 'sample-interval-ms', 'spawner', 'reconcile-interval-ms', 'redis-outage-ms', 'clean-env'].includes(
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
