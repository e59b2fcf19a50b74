/**
 * Flags of `flowgate scheduler` and the variables behind them (kept apart so
 * help output loads nothing heavy).
 */
import { MAX_MEM_GB, MAX_N_PROCS } from '../shared/capacity.js';
import { OPTION_MINIMUMS as MIN, PLACEMENTS, SERVICE_DEFAULTS as SERVICE } from '../shared/options/defaults.js';
import type { FlagSpec } from './args.js';
import { N_GPU_PROCS_FLAG, RESOURCE_FLAG } from './run-flags.js';
import { RETENTION_SETTINGS } from './retention-flags.js';
import type { EnvFlag } from './env-flags.js';
import { CONNECTION_FLAGS } from './connection.js';

/** Settings of `flowgate scheduler`, each with its variable. */
export const SCHEDULER_SETTINGS: readonly EnvFlag[] = [
  { env: 'FLOWGATE_N_PROCS', flag: { name: 'n-procs', type: 'int', min: 1, max: MAX_N_PROCS, value: 'N', help: `thread budget shared by all runs, at most ${MAX_N_PROCS} (default: CPUs available)` } },
  { env: 'FLOWGATE_MEMORY_GB', flag: { name: 'memory-gb', type: 'number', positive: true, max: MAX_MEM_GB, value: 'G', help: `memory budget in GB shared by all runs, at most ${MAX_MEM_GB} (default: 90% of available memory)` } },
  { env: 'FLOWGATE_RESOURCE', flag: { ...RESOURCE_FLAG, help: `${RESOURCE_FLAG.help.replace(' (default: none)', '')}; shared by all runs (default: none)` } },
  { env: 'FLOWGATE_N_GPU_PROCS', flag: N_GPU_PROCS_FLAG },
  {
    env: 'FLOWGATE_PLACEMENT',
    flag: {
      name: 'placement',
      type: 'enum',
      choices: PLACEMENTS,
      value: PLACEMENTS.join('|'),
      help: `pool: one budget for every worker (one host); hosts: one ledger per registered host, each node placed on one host (see the README's multi-host section) (default ${SERVICE.placement})`,
    },
  },
  { env: 'FLOWGATE_WORK_DIR', flag: { name: 'work-dir', type: 'string', value: 'DIR', help: `work dir of runs submitted without --work-dir (default ./${SERVICE.work_dir})` } },
  { env: 'FLOWGATE_LEADER_TTL_MS', flag: { name: 'leader-ttl-ms', type: 'int', min: MIN.leader_ttl_ms, value: 'MS', help: `leader lease; a standby takes over this long after the leader dies (default ${SERVICE.leader_ttl_ms})` } },
  { env: 'FLOWGATE_RECONCILE_INTERVAL_MS', flag: { name: 'reconcile-interval-ms', type: 'int', min: MIN.reconcile_interval_ms, value: 'MS', help: `safety sweep period of each run (default ${SERVICE.reconcile_interval_ms})` } },
  ...RETENTION_SETTINGS,
  { env: 'FLOWGATE_RETENTION_INTERVAL_MS', flag: { name: 'retention-interval-ms', type: 'int', min: MIN.retention_interval_ms, value: 'MS', help: `retention is applied after runs finish, at most once per this period (default ${SERVICE.retention_interval_ms})` } },
];

export const SCHEDULER_FLAGS: readonly FlagSpec[] = [
  ...SCHEDULER_SETTINGS.map((s) => s.flag),
  ...CONNECTION_FLAGS,
];

