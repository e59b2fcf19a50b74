/**
 * Flags of `flowgate worker`.
 */
import type { FlagSpec } from './args.js';
import { OPTION_MINIMUMS as MIN, RUN_DEFAULTS as RUN, SPAWNERS, WORKER_DEFAULTS as WORKER } from '../shared/options/defaults.js';
import { envSettings, type EnvFlag } from './env-flags.js';
import { CONNECTION_FLAGS } from './connection.js';

export const WORKER_FLAGS: readonly FlagSpec[] = [
  { name: 'concurrency', type: 'int', min: 1, value: 'N', help: 'nodes run at once (default: CPUs available)' },
  { name: 'max-tasks-per-child', type: 'int', min: 1, value: 'N', help: `nipype maxtasksperchild (default ${RUN.max_tasks_per_child})` },
  ...CONNECTION_FLAGS,
  { name: 'name', type: 'string', value: 'NAME', help: 'worker name (default host:pid)' },
  { name: 'host-id', type: 'string', value: 'ID', help: 'the host this worker belongs to, as `flowgate hosts` lists it; workers with one host id share its capacity (default: this host name)' },
  { name: 'capacity', type: 'string', value: 'procs=N,mem_gb=G[,NAME=N...]', help: "what the host offers: threads, memory in GB and named resources in whole slots, e.g. procs=16,mem_gb=64,gpu=2 (default: this host's CPUs and 90 % of its memory, no named resources)" },
  { name: 'label', type: 'string', value: 'KEY=VALUE[,...]', help: 'host labels, e.g. gpu=a100,zone=b (default: none)' },
  { name: 'lock-duration-ms', type: 'int', min: MIN.lock_duration_ms, value: 'MS', help: `job lock duration (default ${WORKER.lock_duration_ms})` },
  { name: 'max-stalled-count', type: 'int', min: 0, value: 'N', help: `times a job whose worker died is run again before it fails as "worker lost" (default ${WORKER.max_stalled_count})` },
  { name: 'heartbeat-ms', type: 'int', min: MIN.heartbeat_ms, value: 'MS', help: `heartbeat period (default ${WORKER.heartbeat_ms}); 3 missed beats = lost` },
  { name: 'shutdown-deadline-ms', type: 'int', min: 0, value: 'MS', help: 'after a graceful stop request, kill and requeue running nodes after this long (default: wait)' },
  { name: 'sample-interval-ms', type: 'int', min: MIN.sample_interval_ms, value: 'MS', help: `resource sampling period of node process trees (default ${WORKER.sample_interval_ms})` },
  { name: 'wait-for-go', type: 'boolean', help: 'with an IPC parent: connect only when the parent says go (used by flowgate run)' },
  { name: 'spawner', type: 'enum', choices: SPAWNERS, value: SPAWNERS.join('|'), help: `how node processes are started: the compiled launcher (posix_spawn), Node spawn, or auto = the launcher when one passes its self-test (default ${WORKER.spawner})` },
  { name: 'stalled-interval-ms', type: 'int', min: MIN.stalled_interval_ms, value: 'MS', help: `stalled-job check period (default ${WORKER.stalled_interval_ms})` },
  { name: 'clean-env', type: 'boolean', help: 'nodes get only PATH, HOME, LANG, LC_*, TZ, TMPDIR, FLOWGATE_* of the node, OMP_NUM_THREADS and their env (default: this worker\'s environment)' },
];

/** Worker settings that may also come from the environment (compose deployments), named by the one rule. */
export function workerSettings(): EnvFlag[] {
  return envSettings(WORKER_FLAGS.filter((f) => f.name !== 'wait-for-go'));
}
