/**
 * The board's own settings, from flags and `FLOWGATE_BOARD_*` variables
 * (flags win), checked with zod. Every problem names its flag or variable.
 *
 * Closed by default: the board listens on the loopback interface; listening
 * anywhere else needs Basic auth (or an explicit `--insecure`), and write mode
 * always needs auth. A password is never echoed back.
 */
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import type { ValidationIssue } from '../shared/errors.js';
import { redactUrl } from '../shared/redis.js';

/** Defaults. */
export const DEFAULT_BOARD_PORT = 3000;
export const DEFAULT_BOARD_HOST = '127.0.0.1';
/** Shortest password accepted for Basic auth. */
export const MIN_PASSWORD_LENGTH = 12;
const MAX_PASSWORD_LENGTH = 1024;

/** The board's settings (connection settings come separately). */
export interface BoardSettings {
  /** Address to listen on; default {@link DEFAULT_BOARD_HOST}. */
  host: string;
  /** Port; default {@link DEFAULT_BOARD_PORT}; 0: any free port. */
  port: number;
  /** Bull Board's write actions and `POST /api/runs/:id/cancel`; needs `auth`. Default false. */
  writable: boolean;
  /** Listening beyond loopback without auth was explicitly allowed (`--insecure`). Default false. */
  insecure: boolean;
  /** HTTP Basic credentials; absent: no authentication (loopback or `insecure` only). */
  auth?: { user: string; password: string };
}

/** The flags that carry board settings, already typed by the flag parser. */
export interface BoardFlagValues {
  port?: number | undefined;
  host?: string | undefined;
  insecure?: boolean | undefined;
}

const PASSWORD_VAR = 'FLOWGATE_BOARD_PASSWORD';
const PASSWORD_FILE_VAR = 'FLOWGATE_BOARD_PASSWORD_FILE';
const AUTH_FIX = `set FLOWGATE_BOARD_USER and ${PASSWORD_FILE_VAR} (or ${PASSWORD_VAR})`;

const hostSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,253}$/, 'expected a host name or IP address');
const portNumber = z.number().int().min(0, 'must be at least 0').max(65535, 'must be at most 65535');
const portText = z.string().regex(/^\d{1,5}$/, 'expected a whole number from 0 to 65535').transform(Number).pipe(portNumber);
const boolText = z.enum(['0', '1', 'true', 'false'], { error: 'must be 1 or 0 (true or false)' });
const envSchema = z.object({
  FLOWGATE_BOARD_PORT: portText.optional(),
  FLOWGATE_BOARD_HOST: hostSchema.optional(),
  FLOWGATE_BOARD_USER: z.string().regex(/^[^:\s]{1,128}$/, 'must be 1-128 characters without ":" or spaces').optional(),
  FLOWGATE_BOARD_PASSWORD: z.string().optional(),
  FLOWGATE_BOARD_PASSWORD_FILE: z.string().optional(),
  FLOWGATE_BOARD_WRITE: boolText.optional(),
  FLOWGATE_BOARD_INSECURE: boolText.optional(),
});
const flagSchema = z.object({ port: portNumber.optional(), host: hostSchema.optional(), insecure: z.boolean().optional() });

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether `host` is a loopback address (127.0.0.0/8, ::1, IPv4-mapped 127.x) or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  return family === 4 ? LOOPBACK.check(host, 'ipv4') : family === 6 ? LOOPBACK.check(host, 'ipv6') : false;
}

function issuesOf(error: z.ZodError, input: Readonly<Record<string, unknown>>, field: (key: string) => string): ValidationIssue[] {
  return error.issues.map((i) => {
    const key = String(i.path[0] ?? '');
    const value = input[key];
    const received = value === undefined ? '' : `, received "${String(value)}"`;
    return { field: field(key), message: `${i.message}${received}` };
  });
}

/** The password from the variable or the file (trailing newlines dropped), or what is wrong. */
function readPassword(raw: Readonly<Record<string, string | undefined>>, readFile: (path: string) => string, issues: ValidationIssue[]): { value: string; from: string } | undefined {
  const inline = raw[PASSWORD_VAR];
  const path = raw[PASSWORD_FILE_VAR];
  if (inline !== undefined && path !== undefined) {
    issues.push({ field: `env ${PASSWORD_FILE_VAR}`, message: `set either ${PASSWORD_VAR} or ${PASSWORD_FILE_VAR}, not both` });
    return undefined;
  }
  let password = inline;
  let from = `env ${PASSWORD_VAR}`;
  if (path !== undefined) {
    from = `env ${PASSWORD_FILE_VAR} (${path})`;
    try {
      // Files written with `echo` or an editor end in a newline that is not part of the password.
      password = readFile(path).replace(/[\r\n]+$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      issues.push({ field: `env ${PASSWORD_FILE_VAR}`, message: `cannot read the password file "${path}" (${code})` });
      return undefined;
    }
  }
  if (password === undefined) return undefined;
  // The length is all that is said about a bad password: never its text.
  if (password.length < MIN_PASSWORD_LENGTH) issues.push({ field: from, message: `the password is too short: use at least ${MIN_PASSWORD_LENGTH} characters` });
  else if (password.length > MAX_PASSWORD_LENGTH) issues.push({ field: from, message: `the password is too long: use at most ${MAX_PASSWORD_LENGTH} characters` });
  else if (/[\r\n]/.test(password)) issues.push({ field: from, message: 'the password must be one line' });
  return { value: password, from };
}

/**
 * Reads the board settings; returns what is wrong instead of throwing.
 * `readFile` reads `FLOWGATE_BOARD_PASSWORD_FILE` (injectable for tests).
 */
export function boardSettings(
  flags: BoardFlagValues,
  env: NodeJS.ProcessEnv,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): { settings: BoardSettings; issues: ValidationIssue[] } {
  const raw = Object.fromEntries(Object.keys(envSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]])) as Record<string, string | undefined>;
  const e = envSchema.safeParse(raw);
  const f = flagSchema.safeParse(flags);
  const issues: ValidationIssue[] = [];
  if (!e.success) issues.push(...issuesOf(e.error, raw, (k) => `env ${k}`));
  if (!f.success) issues.push(...issuesOf(f.error, { ...flags }, (k) => `--${k}`));
  const ev = e.success ? e.data : {};
  const fv = f.success ? f.data : {};
  const user = ev.FLOWGATE_BOARD_USER;
  const password = readPassword(raw, readFile, issues);
  const passwordGiven = raw[PASSWORD_VAR] !== undefined || raw[PASSWORD_FILE_VAR] !== undefined;
  if (raw['FLOWGATE_BOARD_USER'] !== undefined && !passwordGiven) issues.push({ field: `env ${PASSWORD_FILE_VAR}`, message: `${PASSWORD_FILE_VAR} or ${PASSWORD_VAR} must be set when FLOWGATE_BOARD_USER is (authentication needs both)` });
  if (passwordGiven && raw['FLOWGATE_BOARD_USER'] === undefined) issues.push({ field: 'env FLOWGATE_BOARD_USER', message: 'must be set when a password is (authentication needs both)' });
  const isTrue = (v: string | undefined): boolean => v === '1' || v === 'true';
  const settings: BoardSettings = {
    host: fv.host ?? ev.FLOWGATE_BOARD_HOST ?? DEFAULT_BOARD_HOST,
    port: fv.port ?? ev.FLOWGATE_BOARD_PORT ?? DEFAULT_BOARD_PORT,
    writable: isTrue(ev.FLOWGATE_BOARD_WRITE),
    insecure: fv.insecure === true || isTrue(ev.FLOWGATE_BOARD_INSECURE),
    ...(user !== undefined && password !== undefined ? { auth: { user, password: password.value } } : {}),
  };
  if (issues.length === 0) issues.push(...exposureIssues(settings, fv.host !== undefined ? '--host' : ev.FLOWGATE_BOARD_HOST !== undefined ? 'env FLOWGATE_BOARD_HOST' : '--host'));
  return { settings, issues };
}

/** Refusals of otherwise valid settings that would expose the board. */
function exposureIssues(s: BoardSettings, hostField: string): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (s.writable && s.auth === undefined) {
    issues.push({ field: 'env FLOWGATE_BOARD_WRITE', message: `write mode (cancelling runs, changing queues) needs authentication: ${AUTH_FIX}, or leave FLOWGATE_BOARD_WRITE unset` });
  }
  if (!isLoopbackHost(s.host) && s.auth === undefined && !s.insecure) {
    issues.push({
      field: hostField,
      message:
        `listening on ${s.host} without authentication would show every run to anyone who can reach the port. ` +
        `Either ${AUTH_FIX}; or listen on 127.0.0.1 (the default) and reach it through an SSH tunnel; ` +
        'or, if a firewall or an authenticating proxy already guards the port, pass --insecure (FLOWGATE_BOARD_INSECURE=1)',
    });
  }
  return issues;
}

/** The warning printed at every start when the board is open beyond loopback; undefined when it is not. */
export function exposureWarning(s: BoardSettings): string | undefined {
  if (s.auth !== undefined || isLoopbackHost(s.host)) return undefined;
  return `flowgate board: WARNING: listening on ${s.host} without authentication (--insecure / FLOWGATE_BOARD_INSECURE=1): anyone who can reach port ${s.port} can read every run, its commands and paths`;
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
    ...(s.insecure ? { insecure: true } : {}),
  });
}
