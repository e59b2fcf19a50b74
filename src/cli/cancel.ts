/**
 * `flowgate cancel RUN_ID`: cancels a run wherever its scheduler runs. The
 * request is stored with the run and announced on the control channel; the
 * scheduler driving the run stops admitting, removes queued jobs and has the
 * workers kill the run's running nodes. If no scheduler drives the run any
 * more, this command resumes it just long enough to cancel it.
 */
import { requestCancel } from '../shared/cancel-run.js';
import { FlowgateError } from '../shared/errors.js';
import { Keys } from '../shared/keys.js';
import { createLogger } from '../shared/logger.js';
import { createRedis, redactUrl } from '../shared/redis.js';
import { definitionFromMeta } from '../scheduler/run-definition.js';
import { loadStoredRun } from '../scheduler/run-store.js';
import { RunScheduler } from '../scheduler/scheduler.js';
import type { RunSummary } from '../scheduler/summary.js';
import { Flags, parseArgs, type FlagSpec } from './args.js';
import { LOOKUP_WORK_DIR_FLAG, runIdArgument, CONNECTION_FLAGS } from './connection.js';
import { redisForCommand } from './private-redis.js';
import { exitCodeFor, printSummary } from './drive-run.js';
import { loadRunSummary } from '../scheduler/summary-load.js';

export const CANCEL_FLAGS: readonly FlagSpec[] = [
  { name: 'reason', type: 'string', value: 'TEXT', help: 'why (recorded with every cancelled node; default "cancelled by user")' },
  { name: 'json', type: 'boolean', help: 'print the final run summary as JSON' },
  { name: 'wait-ms', type: 'int', min: 0, value: 'MS', help: 'how long to wait for the run to end (default 30000)' },
  ...CONNECTION_FLAGS,
  LOOKUP_WORK_DIR_FLAG,
];

/** Cancels a run; prints its final summary. Exit 0 once it has ended. */
export async function cancelCommand(argv: readonly string[]): Promise<number> {
  const flags = new Flags(parseArgs(argv, CANCEL_FLAGS));
  const runId = runIdArgument(flags, 'flowgate cancel RUN_ID [options]');
  const chosen = await redisForCommand(flags);
  const { url: redisUrl, conn: { prefix, logLevel } } = chosen;
  const reason = flags.str('reason') ?? 'cancelled by user';
  const json = flags.bool('json', false);
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
    const request = await requestCancel(redis, prefix, runId, reason);
    if (request.kind === 'not_found') throw new FlowgateError('RUN_NOT_FOUND', `no run "${runId}" under prefix "${prefix}" at ${redactUrl(redisUrl)}`);
    if (request.kind === 'ended') {
      process.stderr.write(`flowgate: run ${runId} already ended (${request.status}); nothing to cancel\n`);
      await printSummary((await loadRunSummary(redis, prefix, runId, request.summary)) ?? ({} as RunSummary), json);
      return 0;
    }
    if (request.kind === 'queued') {
      // Still queued for the scheduler service: it cancels the run as soon as it takes it.
      if (!request.serviceAlive) {
        process.stderr.write(`flowgate: run ${runId} is queued and no scheduler service is alive; it will be cancelled as soon as one takes it\n`);
        return 0;
      }
      const summary = await waitForEnd(redis, prefix, runId, flags.num('wait-ms') ?? 30_000);
      if (summary === undefined) throw new FlowgateError('INFRASTRUCTURE', `run ${runId} is still queued; the cancel is stored and will be honoured when the scheduler service takes it`);
      await printSummary(summary, json);
      return 0;
    }
    if (request.kind === 'signalled') {
      const { holder } = request;
      process.stderr.write(`flowgate: asked ${holder} to cancel run ${runId}\n`);
      const summary = await waitForEnd(redis, prefix, runId, flags.num('wait-ms') ?? 30_000);
      if (summary === undefined) {
        throw new FlowgateError('INFRASTRUCTURE', `run ${runId} did not end within the wait; its scheduler ${holder} may be stuck (the request is stored and will be honoured on resume)`);
      }
      await printSummary(summary, json);
      return summary.status === 'cancelled' ? 0 : exitCodeFor(summary);
    }
    const stored = await loadStoredRun(redis, prefix, runId);
    if (stored === undefined) throw new FlowgateError('RUN_NOT_FOUND', `run "${runId}" under prefix "${prefix}" vanished while being cancelled`);
    // No scheduler drives the run: take it over just to cancel it (nodes that
    // finished meanwhile keep their results).
    process.stderr.write(`flowgate: run ${runId} has no live scheduler; cancelling it here\n`);
    const logger = createLogger(logLevel).child({ component: 'cancel' });
    const scheduler = new RunScheduler({ ...definitionFromMeta(runId, stored.meta), redisUrl, prefix, resume: true, logger, cancelGraceMs: 5000 });
    try {
      await scheduler.start();
      const summary = await scheduler.whenFinished();
      await printSummary(summary, json);
      return 0;
    } finally {
      await scheduler.close();
    }
  } finally {
    redis.disconnect();
    await chosen.private?.releaseIfStarted();
  }
}

async function waitForEnd(redis: import('ioredis').Redis, prefix: string, runId: string, waitMs: number): Promise<RunSummary | undefined> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const [status, summary] = await redis.hmget(new Keys(prefix).runMeta(runId), 'status', 'summary');
    if (status !== 'running' && status !== 'submitted' && summary !== null && summary !== undefined) return loadRunSummary(redis, prefix, runId, summary);
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}
