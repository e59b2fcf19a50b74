/**
 * `flowgate logs RUN_ID NODE [--attempt N]`: what one attempt of a node
 * printed in that run — kept under the run by its worker when the attempt
 * ended, so a later run that reran the node does not replace it. A running
 * attempt's output is read from the node's directory as it grows.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, FlowgateError, ValidationError, didYouMean } from '../shared/errors.js';
import { createRedis, redactUrl } from '../shared/redis.js';
import { readRun } from '../shared/run-reader.js';
import { attemptLogPath, attemptLogsDir } from '../shared/attempt-logs.js';
import { Flags, parseArgs, type FlagSpec } from './args.js';
import { LOOKUP_WORK_DIR_FLAG, CONNECTION_FLAGS } from './connection.js';
import { redisForCommand } from './private-redis.js';

export const LOGS_FLAGS: readonly FlagSpec[] = [
  { name: 'stream', type: 'enum', choices: ['stdout', 'stderr', 'both'], value: 'stdout|stderr|both', help: 'which output (default both)' },
  { name: 'attempt', type: 'int', min: 1, value: 'N', help: 'which attempt (default the last)' },
  ...CONNECTION_FLAGS,
  LOOKUP_WORK_DIR_FLAG,
];

/** Prints a node's logs; returns the exit code. */
export async function logsCommand(argv: readonly string[]): Promise<number> {
  const flags = new Flags(parseArgs(argv, LOGS_FLAGS));
  if (flags.positionals.length !== 2) throw new ValidationError('OPTIONS_INVALID', [{ message: 'usage: flowgate logs RUN_ID NODE [--attempt N] [--stream stdout|stderr|both]' }]);
  const [runId, nodeId] = flags.positionals as [string, string];
  const chosen = await redisForCommand(flags);
  const { url: redisUrl, conn: { prefix } } = chosen;
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
  let run;
  try {
    await redis.connect();
    run = await readRun(redis, prefix, runId);
  } finally {
    redis.disconnect();
    await chosen.private?.releaseIfStarted();
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
  const attempt = flags.num('attempt') ?? node.attempt;
  if (attempt > node.attempt) {
    throw new ValidationError('OPTIONS_INVALID', [{ field: '--attempt', node: nodeId, message: `node ${nodeId} of run ${runId} has ${node.attempt} attempt(s); there is no attempt ${attempt}` }]);
  }
  const workDir = typeof run.options['work_dir'] === 'string' ? run.options['work_dir'] : '';
  const live = attempt === node.attempt && (node.state === 'running' || node.state === 'queued');
  const which = flags.str('stream') ?? 'both';
  const streams = (which === 'both' ? ['stdout', 'stderr'] : [which]) as Array<'stdout' | 'stderr'>;
  for (const s of streams) {
    const kept = workDir === '' ? undefined : attemptLogPath(attemptLogsDir(workDir, runId), nodeId, attempt, s);
    // A running attempt writes in the node's directory; an ended one was kept under its run.
    const path = live || kept === undefined || !existsSync(kept) ? join(node.node_dir, `${s}.log`) : kept;
    if (!existsSync(path) || (!live && path !== kept)) {
      process.stderr.write(`flowgate: no ${s} kept for attempt ${attempt} of node ${nodeId} in run ${runId}${kept !== undefined ? ` (${kept} does not exist; the work dir may be on another host or volume, or the run was pruned)` : ''}\n`);
      continue;
    }
    if (streams.length > 1) process.stdout.write(`==> ${s} (${path}) <==\n`);
    process.stdout.write(readFileSync(path));
  }
  return ExitCode.ok;
}
