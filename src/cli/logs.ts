/**
 * `flowgate logs RUN_ID NODE`: a node's stdout and stderr, from the files its
 * worker wrote in the node's directory (the last attempt's).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, FlowgateError, ValidationError, didYouMean } from '../shared/errors.js';
import { checkRedis, createRedis, redactUrl } from '../shared/redis.js';
import { readRun } from '../shared/run-reader.js';
import { Flags, parseArgs, type FlagSpec } from './args.js';
import { connectionFrom } from './connection.js';

export const LOGS_FLAGS: readonly FlagSpec[] = [
  { name: 'stream', type: 'enum', choices: ['stdout', 'stderr', 'both'], value: 'stdout|stderr|both', help: 'which output (default both)' },
  { name: 'redis-url', type: 'string', value: 'URL', help: 'Redis URL (default $REDIS_URL or redis://127.0.0.1:6379)' },
  { name: 'prefix', type: 'string', value: 'P', help: 'key prefix (default $FLOWGATE_PREFIX or flowgate)' },
];

/** Prints a node's logs; returns the exit code. */
export async function logsCommand(argv: readonly string[]): Promise<number> {
  const flags = new Flags(parseArgs(argv, LOGS_FLAGS));
  if (flags.positionals.length !== 2) throw new ValidationError('OPTIONS_INVALID', [{ message: 'usage: flowgate logs RUN_ID NODE [--stream stdout|stderr|both]' }]);
  const [runId, nodeId] = flags.positionals as [string, string];
  const { redisUrl, prefix } = connectionFrom(flags);
  await checkRedis(redisUrl);
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
  await redis.connect();
  let run;
  try {
    run = await readRun(redis, prefix, runId);
  } finally {
    redis.disconnect();
  }
  if (run === undefined) throw new FlowgateError('RUN_NOT_FOUND', `no run "${runId}" under prefix "${prefix}" at ${redactUrl(redisUrl)}`);
  const node = run.nodes.find((n) => n.id === nodeId);
  if (node === undefined) {
    const hint = didYouMean(nodeId, run.nodes.map((n) => n.id));
    throw new ValidationError('OPTIONS_INVALID', [{ node: nodeId, message: `run ${runId} has no node "${nodeId}"${hint !== undefined ? ` (did you mean "${hint}"?)` : ''}` }]);
  }
  if (node.node_dir === null || node.start_ms === null) {
    process.stderr.write(`flowgate: node ${nodeId} of run ${runId} has not started (${node.state}${node.reason !== null ? `: ${node.reason}` : ''}); no logs\n`);
    return ExitCode.ok;
  }
  const which = flags.str('stream') ?? 'both';
  const streams = which === 'both' ? ['stdout', 'stderr'] : [which];
  for (const s of streams) {
    const path = join(node.node_dir, `${s}.log`);
    if (!existsSync(path)) {
      process.stderr.write(`flowgate: ${path} does not exist (the work dir may be on another host or volume)\n`);
      continue;
    }
    if (streams.length > 1) process.stdout.write(`==> ${s} (${path}) <==\n`);
    process.stdout.write(readFileSync(path));
  }
  return ExitCode.ok;
}
