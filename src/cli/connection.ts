/**
 * Where a command connects: `--redis-url` and `--prefix`, else the
 * environment, checked once for every command.
 */
import { DEFAULT_PREFIX, DEFAULT_REDIS_URL, PREFIX_PATTERN, readEnv, redisUrlProblem } from '../shared/config.js';
import { ValidationError, type ValidationIssue } from '../shared/errors.js';
import type { FlagSpec, Flags } from './args.js';

/** `--redis-url` and `--prefix`, the same for every command that connects (their variables: `REDIS_URL`, `FLOWGATE_PREFIX`). */
export const CONNECTION_FLAGS: readonly FlagSpec[] = [
  { name: 'redis-url', type: 'string', value: 'URL', help: `Redis URL (default $REDIS_URL or ${DEFAULT_REDIS_URL})` },
  { name: 'prefix', type: 'string', value: 'P', help: `key and BullMQ prefix (default $FLOWGATE_PREFIX or ${DEFAULT_PREFIX})` },
];

/** A command's connection settings. */
export interface Connection {
  redisUrl: string;
  prefix: string;
  logLevel: string;
  /** Whether the URL was given (`--redis-url` or `REDIS_URL`); else it is the default and a private Redis may stand in (private-redis.ts). */
  explicit: boolean;
}

/** Resolves the connection and lists what is wrong with it (nothing thrown). */
export function connectionWithIssues(flags: Flags): { connection: Connection; issues: ValidationIssue[] } {
  const env = readEnv();
  const issues: ValidationIssue[] = [];
  const prefix = flags.str('prefix') ?? env.prefix;
  if (!PREFIX_PATTERN.test(prefix)) issues.push({ field: '--prefix', message: `must be 1-64 letters, digits, ".", "_" or "-", received "${prefix}"` });
  const redisUrl = flags.str('redis-url') ?? env.redisUrl;
  const problem = redisUrlProblem(redisUrl);
  // Name where the bad URL came from: the flag, or the variable.
  if (problem !== undefined) issues.push({ field: flags.str('redis-url') !== undefined ? '--redis-url' : 'env REDIS_URL', message: problem });
  return { connection: { redisUrl, prefix, logLevel: env.logLevel, explicit: flags.str('redis-url') !== undefined || env.redisUrlGiven }, issues };
}

/** Resolves the connection; throws a validation error (exit 2) if it is invalid. */
export function connectionFrom(flags: Flags): Connection {
  const { connection, issues } = connectionWithIssues(flags);
  if (issues.length > 0) throw new ValidationError('OPTIONS_INVALID', issues);
  return connection;
}

/** The single RUN_ID argument of `resume` and `cancel`. */
export function runIdArgument(flags: Flags, usage: string): string {
  if (flags.positionals.length !== 1) throw new ValidationError('OPTIONS_INVALID', [{ message: `usage: ${usage}` }]);
  return flags.positionals[0] as string;
}

/** `--work-dir` of commands that read runs: where `flowgate run` keeps its private Redis. */
export const LOOKUP_WORK_DIR_FLAG: FlagSpec = {
  name: 'work-dir',
  type: 'string',
  value: 'DIR',
  help: 'when no Redis is configured and none answers on 127.0.0.1:6379: the work dir whose private Redis to use (default ./flowgate-work)',
};
