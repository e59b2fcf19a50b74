/**
 * The only place that reads the environment. Every variable is checked here
 * once; a bad value is an error naming the variable, what was expected and
 * what was received. (Hand-written rather than zod: worker processes read
 * their configuration here and their start-up time matters.)
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ValidationError, type ValidationIssue } from './errors.js';

/** Default Redis URL when neither a flag nor REDIS_URL gives one. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** Default key and BullMQ prefix. */
export const DEFAULT_PREFIX = 'flowgate';
/** Prefixes become part of Redis keys; keep them to a safe alphabet. */
export const PREFIX_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Redis URLs flowgate accepts start so; {@link redisUrlProblem} checks the rest. */
export const REDIS_URL_PATTERN = /^(rediss?:\/\/|unix:)/;

/**
 * The URL with its password replaced by `***`, for messages and logs. Also
 * for text that does not parse as a URL: everything between `//user:` and the
 * last `@` is hidden, so a malformed URL never echoes its secret.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === '') return url;
    u.password = '***';
    return u.toString();
  } catch {
    const start = url.indexOf('://');
    const at = url.lastIndexOf('@');
    if (start < 0 || at < start) return url;
    const userinfo = url.slice(start + 3, at);
    const colon = userinfo.indexOf(':');
    return colon < 0 ? url : `${url.slice(0, start + 3)}${userinfo.slice(0, colon)}:***${url.slice(at)}`;
  }
}

/**
 * What is wrong with a Redis URL, or undefined when it is usable: the scheme
 * is redis:// or rediss://, the port (if any) is 1-65535 and the path (if
 * any) is a database number. The message quotes the URL with its password
 * redacted.
 */
export function redisUrlProblem(url: string): string | undefined {
  const shown = `"${redactUrl(url)}"`;
  if (!REDIS_URL_PATTERN.test(url)) return `must start with redis://, rediss:// or unix: (a socket path), received ${shown}`;
  if (url.startsWith('unix:')) return /^unix:(\/\/)?\/[^?#]+$/.test(url) ? undefined : `a socket URL is unix:/absolute/path/to/redis.sock, received ${shown}`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // The URL parser refuses a non-numeric or too large port, a bad host, ...
    const port = /^rediss?:\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^:/?#]*):([^/?#]*)/.exec(url)?.[1];
    if (port !== undefined && !/^\d{1,5}$/.test(port)) return `port must be a number from 1 to 65535, received ${shown}`;
    if (port !== undefined && Number(port) > 65535) return `port must be at most 65535, received ${shown}`;
    return `is not a valid URL (redis://[user:password@]host[:port][/db]), received ${shown}`;
  }
  if (u.port === '0') return `port must be a number from 1 to 65535, received ${shown}`;
  if (!/^(\/\d*)?$/.test(u.pathname)) return `the path must be a database number (e.g. /0), received ${shown}`;
  return undefined;
}
/** Log levels accepted by FLOWGATE_LOG_LEVEL. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Settings that may come from the environment. */
export interface EnvConfig {
  /** `REDIS_URL`; default {@link DEFAULT_REDIS_URL}. */
  redisUrl: string;
  /** Whether `REDIS_URL` was set (else `redisUrl` is the default, and a private Redis may be used). */
  redisUrlGiven: boolean;
  /** `FLOWGATE_PREFIX`; default {@link DEFAULT_PREFIX}. */
  prefix: string;
  /** `FLOWGATE_LOG_LEVEL`: pino level for diagnostic logs on stderr; default `warn`. */
  logLevel: string;
}

function value(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * `REDIS_URL_FILE`: the Redis URL read from a file (a Docker or Kubernetes
 * secret), its surrounding white space trimmed. Giving it together with
 * `REDIS_URL`, or a file that cannot be read or is empty, is an issue.
 */
function redisUrlFromFile(env: NodeJS.ProcessEnv, issues: ValidationIssue[]): string | undefined {
  const path = value(env, 'REDIS_URL_FILE');
  if (path === undefined) return undefined;
  if (value(env, 'REDIS_URL') !== undefined) {
    issues.push({ field: 'env REDIS_URL_FILE', message: 'is set together with REDIS_URL; give one of them' });
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    issues.push({ field: 'env REDIS_URL_FILE', message: `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
    return undefined;
  }
  if (text === '') issues.push({ field: 'env REDIS_URL_FILE', message: `${path} is empty; it must hold the Redis URL` });
  return text === '' ? undefined : text;
}

/** Reads and validates flowgate's environment variables. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const issues: ValidationIssue[] = [];
  const check = (name: string, ok: (v: string) => boolean, expected: string): string | undefined => {
    const v = value(env, name);
    if (v !== undefined && !ok(v)) issues.push({ field: `env ${name}`, message: `${expected}, received "${v}"` });
    return v;
  };
  const fromFile = redisUrlFromFile(env, issues);
  const redisUrl = value(env, 'REDIS_URL') ?? fromFile;
  const urlProblem = redisUrl === undefined ? undefined : redisUrlProblem(redisUrl);
  if (urlProblem !== undefined) issues.push({ field: fromFile !== undefined ? 'env REDIS_URL_FILE' : 'env REDIS_URL', message: fromFile !== undefined ? `the URL in ${env['REDIS_URL_FILE'] ?? ''} ${urlProblem}` : urlProblem });
  // Set but empty is a mistake (a shell default that expanded to nothing), not a request for the default.
  if (env['REDIS_URL'] !== undefined && env['REDIS_URL'].trim() === '') {
    issues.push({ field: 'env REDIS_URL', message: 'is set but empty; unset it to use the default (a Redis on 127.0.0.1:6379, else a private one), or give a URL' });
  }
  const prefix = check('FLOWGATE_PREFIX', (v) => PREFIX_PATTERN.test(v), 'must be 1-64 letters, digits, ".", "_" or "-"');
  const logLevel = check('FLOWGATE_LOG_LEVEL', (v) => (LOG_LEVELS as readonly string[]).includes(v), `must be one of ${LOG_LEVELS.join(', ')}`);
  if (issues.length > 0) throw new ValidationError('OPTIONS_INVALID', issues);
  return { redisUrl: redisUrl ?? DEFAULT_REDIS_URL, redisUrlGiven: redisUrl !== undefined, prefix: prefix ?? DEFAULT_PREFIX, logLevel: logLevel ?? 'warn' };
}

/** Where the process launcher comes from (see src/worker/launcher-binary.ts). */
export interface LauncherEnv {
  /** `FLOWGATE_LAUNCHER`: use this launcher binary and no other; default none (the built one, else one compiled on first use). */
  path: string | undefined;
  /** `CC`: the C compiler for a launcher compiled on first use; default `cc`. */
  cc: string;
  /** `XDG_CACHE_HOME`/flowgate: where a launcher compiled on first use is kept; default `~/.cache/flowgate`. */
  cacheDir: string;
}

/** Reads the variables of {@link LauncherEnv}. */
export function readLauncherEnv(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): LauncherEnv {
  const cacheRoot = value(env, 'XDG_CACHE_HOME') ?? join(home, '.cache');
  return { path: value(env, 'FLOWGATE_LAUNCHER'), cc: value(env, 'CC') ?? 'cc', cacheDir: join(cacheRoot, 'flowgate') };
}

/**
 * The environment, for the CLI's flag fallbacks (`FLOWGATE_<FLAG>`): each is
 * validated where its flag is, against the same spec, and named in errors.
 */
export function readVariables(): NodeJS.ProcessEnv {
  return process.env;
}
