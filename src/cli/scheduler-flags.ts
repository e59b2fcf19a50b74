/**
 * Flags of `flowgate scheduler` and the variables behind them (kept apart so
 * help output loads nothing heavy).
 */
import { MAX_MEM_GB, MAX_N_PROCS } from '../shared/capacity.js';
import type { FlagSpec } from './args.js';
import { RETENTION_SETTINGS } from './retention-flags.js';
import type { EnvFlag } from './env-flags.js';

/** Settings of `flowgate scheduler`, each with its variable. */
export const SCHEDULER_SETTINGS: readonly EnvFlag[] = [
  { env: 'FLOWGATE_N_PROCS', flag: { name: 'n-procs', type: 'int', min: 1, max: MAX_N_PROCS, value: 'N', help: 'thread budget shared by all runs, at most 1000000 (default: CPUs available)' } },
  { env: 'FLOWGATE_MEMORY_GB', flag: { name: 'memory-gb', type: 'number', positive: true, max: MAX_MEM_GB, value: 'G', help: 'memory budget in GB shared by all runs, at most 1048576 (default: 90% of available memory)' } },
  { env: 'FLOWGATE_WORK_DIR', flag: { name: 'work-dir', type: 'string', value: 'DIR', help: 'work dir of runs submitted without --work-dir (default ./flowgate-work)' } },
  { env: 'FLOWGATE_LEADER_TTL_MS', flag: { name: 'leader-ttl-ms', type: 'int', min: 1000, value: 'MS', help: 'leader lease; a standby takes over this long after the leader dies (default 10000)' } },
  { env: 'FLOWGATE_RECONCILE_INTERVAL_MS', flag: { name: 'reconcile-interval-ms', type: 'int', min: 100, value: 'MS', help: 'safety sweep period of each run (default 5000)' } },
  ...RETENTION_SETTINGS,
  { env: 'FLOWGATE_RETENTION_INTERVAL_MS', flag: { name: 'retention-interval-ms', type: 'int', min: 100, value: 'MS', help: 'retention is applied after runs finish, at most once per this period (default 10000)' } },
];

export const SCHEDULER_FLAGS: readonly FlagSpec[] = [
  ...SCHEDULER_SETTINGS.map((s) => s.flag),
  { name: 'redis-url', type: 'string', value: 'URL', help: 'Redis URL (default $REDIS_URL or redis://127.0.0.1:6379)' },
  { name: 'prefix', type: 'string', value: 'P', help: 'key and BullMQ prefix (default $FLOWGATE_PREFIX or flowgate)' },
];

