/**
 * The one naming rule of flowgate's variables: the flag `--n-procs` is the
 * variable `FLOWGATE_N_PROCS` (upper case, `-` as `_`), for every command that
 * has the flag. Flags beat variables, variables beat defaults. Kept free of
 * zod: `flowgate run` reads its options before its worker fleet starts.
 */
import { readVariables } from '../shared/config.js';
import type { EnvFlag, FlagSpec, Flags } from './args.js';

export type { EnvFlag } from './args.js';

/** Variables that predate the rule or would be ambiguous under it. */
const NAMED: Readonly<Record<string, string>> = {
  'redis-url': 'REDIS_URL',
  concurrency: 'FLOWGATE_WORKER_CONCURRENCY',
  name: 'FLOWGATE_WORKER_NAME',
};

/**
 * Flags never read from the environment: nodes run with `FLOWGATE_RUN_ID` of
 * their own run, which must not become the id of a run they start.
 */
const FLAG_ONLY: ReadonlySet<string> = new Set(['run-id']);

/** Read through the connection (src/shared/config.ts), not as flag fallbacks. */
const CONNECTION: ReadonlySet<string> = new Set(['redis-url', 'prefix']);

/** The variable of a flag, or undefined when it has none. */
export function envNameOf(flag: string): string | undefined {
  if (FLAG_ONLY.has(flag)) return undefined;
  return NAMED[flag] ?? `FLOWGATE_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** The flags of `specs` that fall back to a variable, each with it (connection flags aside). */
export function envSettings(specs: readonly FlagSpec[]): EnvFlag[] {
  return specs.flatMap((flag) => {
    const env = envNameOf(flag.name);
    return env === undefined || CONNECTION.has(flag.name) ? [] : [{ flag, env }];
  });
}

/**
 * The flags given plus, for the others, their variables (validated; a bad one
 * is an error naming it, exit 2). zod is loaded only when a variable is set.
 */
export async function withEnvFlags(flags: Flags, specs: readonly FlagSpec[], env: NodeJS.ProcessEnv = readVariables()): Promise<Flags> {
  const settings = envSettings(specs);
  if (!settings.some((s) => (env[s.env] ?? '') !== '')) return flags;
  const { withEnv } = await import('./settings.js');
  return withEnv(flags, settings, env);
}
