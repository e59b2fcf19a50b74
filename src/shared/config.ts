/**
 * The only place that reads the environment. Every variable is checked here
 * once; a bad value is an error naming the variable, what was expected and
 * what was received. (Hand-written rather than zod: worker processes read
 * their configuration here and their start-up time matters.)
 */
import { ValidationError, type ValidationIssue } from './errors.js';

/** Default Redis URL when neither a flag nor REDIS_URL gives one. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** Default key and BullMQ prefix. */
export const DEFAULT_PREFIX = 'flowgate';
/** Prefixes become part of Redis keys; keep them to a safe alphabet. */
export const PREFIX_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Redis URLs flowgate accepts. */
export const REDIS_URL_PATTERN = /^rediss?:\/\//;
/** Log levels accepted by FLOWGATE_LOG_LEVEL. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Settings that may come from the environment. */
export interface EnvConfig {
  /** `REDIS_URL`; default {@link DEFAULT_REDIS_URL}. */
  redisUrl: string;
  /** `FLOWGATE_PREFIX`; default {@link DEFAULT_PREFIX}. */
  prefix: string;
  /** `FLOWGATE_LOG_LEVEL`: pino level for diagnostic logs on stderr; default `warn`. */
  logLevel: string;
}

function value(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** Reads and validates flowgate's environment variables. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const issues: ValidationIssue[] = [];
  const check = (name: string, ok: (v: string) => boolean, expected: string): string | undefined => {
    const v = value(env, name);
    if (v !== undefined && !ok(v)) issues.push({ field: `env ${name}`, message: `${expected}, received "${v}"` });
    return v;
  };
  const redisUrl = check('REDIS_URL', (v) => REDIS_URL_PATTERN.test(v), 'must start with redis:// or rediss://');
  const prefix = check('FLOWGATE_PREFIX', (v) => PREFIX_PATTERN.test(v), 'must be 1-64 letters, digits, ".", "_" or "-"');
  const logLevel = check('FLOWGATE_LOG_LEVEL', (v) => (LOG_LEVELS as readonly string[]).includes(v), `must be one of ${LOG_LEVELS.join(', ')}`);
  if (issues.length > 0) throw new ValidationError('OPTIONS_INVALID', issues);
  return { redisUrl: redisUrl ?? DEFAULT_REDIS_URL, prefix: prefix ?? DEFAULT_PREFIX, logLevel: logLevel ?? 'warn' };
}
