/**
 * The only place that reads the environment. Values are validated with zod;
 * a bad value is an error naming the variable, what was expected and what was
 * received.
 */
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from './errors.js';

/** Default Redis URL when neither a flag nor REDIS_URL gives one. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** Default key and BullMQ prefix. */
export const DEFAULT_PREFIX = 'flowgate';
/** Prefixes become part of Redis keys; keep them to a safe alphabet. */
export const PREFIX_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Settings that may come from the environment. */
export interface EnvConfig {
  /** `REDIS_URL`; default {@link DEFAULT_REDIS_URL}. */
  redisUrl: string;
  /** `FLOWGATE_PREFIX`; default {@link DEFAULT_PREFIX}. */
  prefix: string;
  /** `FLOWGATE_LOG_LEVEL`: pino level for diagnostic logs on stderr; default `warn`. */
  logLevel: string;
}

const envSchema = z.object({
  REDIS_URL: z
    .string()
    .refine((v) => /^rediss?:\/\//.test(v), 'must start with redis:// or rediss://')
    .optional(),
  FLOWGATE_PREFIX: z.string().regex(PREFIX_PATTERN, 'must be 1-64 letters, digits, ".", "_" or "-"').optional(),
  FLOWGATE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
});

/** Reads and validates flowgate's environment variables. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const picked = {
    REDIS_URL: emptyToUndefined(env['REDIS_URL']),
    FLOWGATE_PREFIX: emptyToUndefined(env['FLOWGATE_PREFIX']),
    FLOWGATE_LOG_LEVEL: emptyToUndefined(env['FLOWGATE_LOG_LEVEL']),
  };
  const parsed = envSchema.safeParse(picked);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i): ValidationIssue => {
      const name = String(i.path[0]);
      return { field: `env ${name}`, message: `${i.message}, received "${String(picked[name as keyof typeof picked])}"` };
    });
    throw new ValidationError('OPTIONS_INVALID', issues);
  }
  return {
    redisUrl: parsed.data.REDIS_URL ?? DEFAULT_REDIS_URL,
    prefix: parsed.data.FLOWGATE_PREFIX ?? DEFAULT_PREFIX,
    logLevel: parsed.data.FLOWGATE_LOG_LEVEL ?? 'warn',
  };
}

function emptyToUndefined(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

/** Environment passed to node processes: the worker's own, minus nothing. */
export function processEnv(): NodeJS.ProcessEnv {
  return process.env;
}
