/**
 * Flags of `flowgate worker`.
 */
import type { FlagSpec } from './args.js';
import { DEFAULT_MAX_TASKS_PER_CHILD } from '../shared/run-options.js';
import { SPAWNER_CHOICES } from '../worker/launcher.js';
import { envSettings, type EnvFlag } from './env-flags.js';

export const WORKER_FLAGS: readonly FlagSpec[] = [
  { name: 'concurrency', type: 'int', min: 1, value: 'N', help: 'nodes run at once (default: CPUs available)' },
  { name: 'max-tasks-per-child', type: 'int', min: 1, value: 'N', help: `nipype maxtasksperchild (default ${DEFAULT_MAX_TASKS_PER_CHILD})` },
  { name: 'redis-url', type: 'string', value: 'URL', help: 'Redis URL (default $REDIS_URL or redis://127.0.0.1:6379)' },
  { name: 'prefix', type: 'string', value: 'P', help: 'key and BullMQ prefix (default $FLOWGATE_PREFIX or flowgate)' },
  { name: 'name', type: 'string', value: 'NAME', help: 'worker name (default host:pid)' },
  { name: 'lock-duration-ms', type: 'int', min: 1000, value: 'MS', help: 'job lock duration (default 30000)' },
  { name: 'max-stalled-count', type: 'int', min: 0, value: 'N', help: 'times a job whose worker died is run again before it fails as "worker lost" (default 1)' },
  { name: 'heartbeat-ms', type: 'int', min: 100, value: 'MS', help: 'heartbeat period (default 2000); 3 missed beats = lost' },
  { name: 'shutdown-deadline-ms', type: 'int', min: 0, value: 'MS', help: 'after a graceful stop request, kill and requeue running nodes after this long (default: wait)' },
  { name: 'sample-interval-ms', type: 'int', min: 50, value: 'MS', help: 'resource sampling period of node process trees (default 1000)' },
  { name: 'wait-for-go', type: 'boolean', help: 'with an IPC parent: connect only when the parent says go (used by flowgate run)' },
  { name: 'spawner', type: 'enum', choices: SPAWNER_CHOICES, value: 'auto|launcher|node', help: 'how node processes are started: the compiled launcher (posix_spawn), Node spawn, or auto = the launcher when one passes its self-test (default auto)' },
  { name: 'stalled-interval-ms', type: 'int', min: 500, value: 'MS', help: 'stalled-job check period (default 30000)' },
  { name: 'clean-env', type: 'boolean', help: 'nodes get only PATH, HOME, LANG, LC_*, TZ, TMPDIR, FLOWGATE_* of the node, OMP_NUM_THREADS and their env (default: this worker\'s environment)' },
];

/** Worker settings that may also come from the environment (compose deployments), named by the one rule. */
export function workerSettings(): EnvFlag[] {
  return envSettings(WORKER_FLAGS.filter((f) => f.name !== 'wait-for-go'));
}
