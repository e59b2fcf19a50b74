/**
 * The board's own settings, from flags and `FLOWGATE_BOARD_*` variables
 * (flags win), checked with zod. Every problem names its flag or variable.
 */
import { z } from 'zod';
import type { ValidationIssue } from '../shared/errors.js';
import { redactUrl } from '../shared/redis.js';

/** Defaults. */
export const DEFAULT_BOARD_PORT = 3000;
export const DEFAULT_BOARD_HOST = '0.0.0.0';

/** The board's settings (connection settings come separately). */
export interface BoardSettings {
  host: string;
  port: number;
  writable: boolean;
  auth?: { user: string; password: string };
}

/** The flags that carry board settings, already typed by the flag parser. */
export interface BoardFlagValues {
  port?: number | undefined;
  host?: string | undefined;
}

const hostSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,253}$/, 'expected a host name or IP address');
const portNumber = z.number().int().min(0, 'must be at least 0').max(65535, 'must be at most 65535');
const portText = z.string().regex(/^\d{1,5}$/, 'expected a whole number from 0 to 65535').transform(Number).pipe(portNumber);
const envSchema = z.object({
  FLOWGATE_BOARD_PORT: portText.optional(),
  FLOWGATE_BOARD_HOST: hostSchema.optional(),
  FLOWGATE_BOARD_USER: z.string().regex(/^[^:\s]{1,128}$/, 'must be 1-128 characters without ":" or spaces').optional(),
  FLOWGATE_BOARD_PASSWORD: z.string().min(1).max(1024, 'must be at most 1024 characters').optional(),
  FLOWGATE_BOARD_WRITE: z.enum(['0', '1', 'true', 'false'], { error: 'must be 1 or 0 (true or false)' }).optional(),
});
const flagSchema = z.object({ port: portNumber.optional(), host: hostSchema.optional() });

function issuesOf(error: z.ZodError, input: Readonly<Record<string, unknown>>, field: (key: string) => string): ValidationIssue[] {
  return error.issues.map((i) => {
    const key = String(i.path[0] ?? '');
    const value = input[key];
    // Never echo a password back.
    const received = key === 'FLOWGATE_BOARD_PASSWORD' || value === undefined ? '' : `, received "${String(value)}"`;
    return { field: field(key), message: `${i.message}${received}` };
  });
}

/** Reads the board settings; returns what is wrong instead of throwing. */
export function boardSettings(flags: BoardFlagValues, env: NodeJS.ProcessEnv): { settings: BoardSettings; issues: ValidationIssue[] } {
  const raw = Object.fromEntries(Object.keys(envSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const e = envSchema.safeParse(raw);
  const f = flagSchema.safeParse(flags);
  const issues: ValidationIssue[] = [];
  if (!e.success) issues.push(...issuesOf(e.error, raw, (k) => `env ${k}`));
  if (!f.success) issues.push(...issuesOf(f.error, { ...flags }, (k) => `--${k}`));
  const ev = e.success ? e.data : {};
  const fv = f.success ? f.data : {};
  const user = raw['FLOWGATE_BOARD_USER'];
  const password = raw['FLOWGATE_BOARD_PASSWORD'];
  if (user !== undefined && password === undefined) issues.push({ field: 'env FLOWGATE_BOARD_PASSWORD', message: 'must be set when FLOWGATE_BOARD_USER is (authentication needs both)' });
  if (password !== undefined && user === undefined) issues.push({ field: 'env FLOWGATE_BOARD_USER', message: 'must be set when FLOWGATE_BOARD_PASSWORD is (authentication needs both)' });
  const settings: BoardSettings = {
    host: fv.host ?? ev.FLOWGATE_BOARD_HOST ?? DEFAULT_BOARD_HOST,
    port: fv.port ?? ev.FLOWGATE_BOARD_PORT ?? DEFAULT_BOARD_PORT,
    writable: ev.FLOWGATE_BOARD_WRITE === '1' || ev.FLOWGATE_BOARD_WRITE === 'true',
    ...(ev.FLOWGATE_BOARD_USER !== undefined && ev.FLOWGATE_BOARD_PASSWORD !== undefined ? { auth: { user: ev.FLOWGATE_BOARD_USER, password: ev.FLOWGATE_BOARD_PASSWORD } } : {}),
  };
  return { settings, issues };
}

/** The configuration as printed at start: secrets redacted. */
export function describeConfig(s: BoardSettings, redisUrl: string, prefix: string): string {
  return JSON.stringify({
    host: s.host,
    port: s.port,
    redis_url: redactUrl(redisUrl),
    prefix,
    auth: s.auth === undefined ? 'off' : { user: s.auth.user, password: '***' },
    write: s.writable,
  });
}
