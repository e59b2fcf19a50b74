/**
 * Retention settings of `flowgate run` and `flowgate scheduler`: how many
 * finished runs Redis keeps, and for how long (kept apart so help output
 * loads nothing heavy).
 */
import { DEFAULT_RETENTION, type RetentionPolicy } from '../scheduler/prune-plan.js';
import { formatDuration } from '../shared/duration.js';
import { convert, type Flags } from './args.js';
import type { EnvFlag } from './env-flags.js';

/** The retention flags with their variables. */
export const RETENTION_SETTINGS: readonly EnvFlag[] = [
  {
    env: 'FLOWGATE_RETAIN_RUNS',
    flag: { name: 'retain-runs', type: 'int', min: 0, off: true, value: 'N|off', help: `finished runs kept in Redis, newest first (default ${DEFAULT_RETENTION.maxRuns}; 0 or off: no count limit)` },
  },
  {
    env: 'FLOWGATE_RETAIN_FOR',
    flag: { name: 'retain-for', type: 'duration', off: true, value: 'DURATION|off', help: `finished runs are removed from Redis this long after they finished (default ${formatDuration(DEFAULT_RETENTION.maxAgeMs)}; 0 or off: no age limit)` },
  },
];

/**
 * The retention policy: each limit from its flag, else its variable, else
 * the default. A bad variable is a validation error (exit 2) naming it.
 */
export function retentionFrom(flags: Flags, env: NodeJS.ProcessEnv = process.env): RetentionPolicy {
  const value = (s: EnvFlag): number | undefined => {
    const given = flags.raw(s.flag.name);
    if (typeof given === 'number') return given;
    const text = env[s.env];
    return text === undefined || text === '' ? undefined : (convert(s.flag, text, `env ${s.env}`) as number);
  };
  const [runs, age] = RETENTION_SETTINGS.map(value);
  return { maxRuns: runs ?? DEFAULT_RETENTION.maxRuns, maxAgeMs: age ?? DEFAULT_RETENTION.maxAgeMs };
}
