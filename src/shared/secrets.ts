/**
 * Masking of secret-looking environment values (`API_TOKEN`, `db_password`,
 * `SECRET`, ...) before a node's `env` is shown anywhere: the board, its JSON
 * API, Bull Board and `flowgate status --json`. The run definition in Redis
 * keeps the real values: the worker needs them.
 */

/** What a masked value reads as. */
export const SECRET_MASK = '••••••';

/**
 * Names that are, or end in, one of these words (after `_`, `-` or `.`),
 * case-insensitive: `TOKEN`, `GITHUB_TOKEN`, `db-password`, `AWS_SECRET`,
 * `AWS_SECRET_ACCESS_KEY`, `API_KEY`. `KEY` alone is left visible (too
 * generic), as are names that merely contain a word (`TOKENIZER_MODE`).
 */
const SECRET_NAME = /(^|[_.-])(TOKEN|PASSWORD|SECRET)$|[_.-]KEY$/i;

/** Whether an environment variable's name looks like it holds a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * A copy of `env` with the values of secret-looking names replaced by
 * {@link SECRET_MASK} (an empty value stays empty: nothing to hide, and it
 * shows the variable is set but blank). Non-string values are dropped.
 */
export function maskSecretEnv(env: unknown): Record<string, string> {
  if (typeof env !== 'object' || env === null || Array.isArray(env)) return {};
  // fromEntries defines own properties, so even a "__proto__" name stays a plain entry.
  return Object.fromEntries(
    Object.entries(env as Record<string, unknown>)
      .filter((e): e is [string, string] => typeof e[1] === 'string')
      .map(([name, value]) => [name, isSecretName(name) && value !== '' ? SECRET_MASK : value]),
  );
}

/** Nesting depth beyond which {@link maskEnvDeep} stops looking (stored JSON is shallow). */
const MAX_DEPTH = 32;

/**
 * A copy of a JSON-like value in which every object under a key named `env`
 * is masked with {@link maskSecretEnv}, at any depth: job data carries the
 * node's env both at the top and inside its cache key's parts.
 */
export function maskEnvDeep(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => maskEnvDeep(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, k === 'env' && typeof v === 'object' && v !== null && !Array.isArray(v) ? maskSecretEnv(v) : maskEnvDeep(v, depth + 1)]),
  );
}
