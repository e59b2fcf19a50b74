/**
 * The environment nodes start from. By default a node inherits its worker's
 * whole environment (as nipype's do); with `--clean-env` only what programs
 * commonly need to run is kept, so credentials in the worker's environment
 * (REDIS_URL, cloud keys, FLOWGATE_BOARD_PASSWORD, ...) never reach node code.
 * Either way flowgate then adds the node's own variables (see run-command.ts).
 */

/** Variables a clean environment keeps, besides every `LC_*`. */
export const CLEAN_ENV_KEEP: readonly string[] = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'];

/** `env` reduced to {@link CLEAN_ENV_KEEP} and the `LC_*` locale variables. */
export function cleanEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (CLEAN_ENV_KEEP.includes(name) || name.startsWith('LC_'))) out[name] = value;
  }
  return out;
}

/** The base environment of a worker's nodes: the worker's own, or its clean subset. */
export function nodeBaseEnv(env: Readonly<Record<string, string | undefined>>, clean: boolean): Record<string, string | undefined> {
  return clean ? cleanEnv(env) : { ...env };
}
