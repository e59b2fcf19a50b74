/**
 * The environment nodes start from. By default a node inherits its worker's
 * whole environment (as nipype's do); with `--clean-env` only what programs
 * commonly need to run is kept, so credentials in the worker's environment
 * (REDIS_URL, cloud keys, FLOWGATE_BOARD_PASSWORD, ...) never reach node code.
 * Either way flowgate then adds the node's own variables (see run-command.ts),
 * among them those naming the resource slots its attempt holds ({@link slotEnv}).
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

/**
 * The environment of the named resource slots an attempt holds:
 * `CUDA_VISIBLE_DEVICES` for `gpu` (its device numbers), and
 * `FLOWGATE_RESOURCE_<NAME>` for every named resource (`gpu` included).
 */
export function slotEnv(slots: Readonly<Record<string, readonly number[]>> | undefined): Record<string, string> | undefined {
  if (slots === undefined) return undefined;
  const env: Record<string, string> = {};
  for (const [name, got] of Object.entries(slots)) {
    if (got.length === 0) continue;
    env[`FLOWGATE_RESOURCE_${name.toUpperCase()}`] = got.join(',');
    if (name === 'gpu') env['CUDA_VISIBLE_DEVICES'] = got.join(',');
  }
  return Object.keys(env).length > 0 ? env : undefined;
}
