/**
 * `flowgate resume RUN_ID`: continues a run whose scheduler died. Everything
 * the run needs is in Redis; nodes that finished meanwhile are adopted, not
 * rerun, and the budget holds of running nodes are restored as they were.
 */
import { runTag } from '../shared/run-id.js';
import type { SpawnerChoice } from '../worker/launcher.js';
import { ExitCode, FlowgateError, ValidationError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { createRedis, redactUrl } from '../shared/redis.js';
import { Flags, parseArgs } from './args.js';
import { withEnvFlags } from './env-flags.js';
import { connectionFrom, runIdArgument } from './connection.js';
import { redisForCommand, type RedisChoice } from './private-redis.js';
import type { Logger } from '../shared/logger.js';
import { defaultWorkers } from './fleet.js';
import { driveRun, exitCodeFor, printSummary } from './drive-run.js';
import { LocalFleet } from './fleet.js';
import { fleetArgs, RESUME_FLAGS } from './run-flags.js';
import { definitionFromMeta } from '../scheduler/run-definition.js';
import { RunScheduler } from '../scheduler/scheduler.js';
import { prepareRetry } from '../scheduler/retry.js';
import { requestRetry } from '../shared/retry-request.js';
import { Keys } from '../shared/keys.js';
import type { Redis } from 'ioredis';
import type { RunSummary } from '../scheduler/summary.js';
import { flagField } from '../shared/options/compile.js';
import { compileResumeOptions } from '../shared/options/run.js';
import { loadRunToResume } from '../scheduler/summary-load.js';

/** Resumes a run; returns the exit code. */
export async function resumeCommand(argv: readonly string[]): Promise<number> {
  const flags = await withEnvFlags(new Flags(parseArgs(argv, RESUME_FLAGS)), RESUME_FLAGS);
  const runId = runIdArgument(flags, 'flowgate resume RUN_ID [options]');
  return continueRun(runId, flags, async () => undefined);
}

/**
 * `flowgate retry RUN_ID [NODE...]`: runs a failed or cancelled run's failed
 * nodes again (all of them, or the ones named), with their descendants that
 * did not succeed, through a scheduler and within the run's budget.
 */
export async function retryCommand(argv: readonly string[]): Promise<number> {
  const flags = await withEnvFlags(new Flags(parseArgs(argv, RESUME_FLAGS)), RESUME_FLAGS);
  const [runId, ...nodes] = flags.positionals;
  if (runId === undefined) throw new ValidationError('OPTIONS_INVALID', [{ message: 'usage: flowgate retry RUN_ID [NODE...] [options]' }]);
  // A run of the scheduler service is retried by the service, within its shared budget.
  const serviceRun = await retryThroughService(runId, nodes, flags);
  if (serviceRun !== undefined) return serviceRun;
  return continueRun(runId, flags, async (redis, prefix) => {
    const plan = await prepareRetry(redis, prefix, runId, nodes);
    if (!flags.bool('quiet', false)) process.stderr.write(`flowgate: retrying ${plan.reset.length} node(s) of run ${runId}: ${plan.reset.join(', ')}\n`);
  });
}

/** Hands the retry of a service run to the scheduler service; undefined for a run of `flowgate run`. */
async function retryThroughService(runId: string, nodes: readonly string[], flags: Flags): Promise<number | undefined> {
  const chosen = await redisForCommand(flags);
  const { url: redisUrl, conn: { prefix } } = chosen;
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
    if ((await redis.hget(new Keys(prefix).runMeta(runId), 'mode')) !== 'service') return undefined;
    const res = await requestRetry(redis, prefix, runId, nodes);
    switch (res.kind) {
      case 'requested':
        if (!flags.bool('quiet', false)) process.stderr.write(`flowgate: retry of run ${runId} handed to the scheduler service; follow it with \`flowgate status ${runId}\`\n`);
        return ExitCode.ok;
      case 'no_service':
        throw new ValidationError('OPTIONS_INVALID', [{ field: 'RUN_ID', message: `run ${runId} belongs to the scheduler service, and no service is running to retry it; start \`flowgate scheduler\`` }]);
      case 'not_retryable':
        throw new ValidationError('OPTIONS_INVALID', [{ field: 'RUN_ID', message: `run ${runId} is ${res.status}; only a failed or cancelled run can be retried` }]);
      default:
        return undefined;
    }
  } finally {
    redis.disconnect();
  }
}

/** Continues a run from Redis with a local worker fleet, after `prepare` (a retry resets nodes there). */
async function continueRun(runId: string, flags: Flags, prepare: (redis: Redis, prefix: string) => Promise<void>): Promise<number> {
  const chosen = await redisForCommand(flags);
  const logLevel = chosen.conn.logLevel;
  const logger = createLogger(logLevel).child({ component: 'resume' });
  try {
    return await continueOn(chosen, runId, flags, prepare, logger);
  } finally {
    // The run has ended (or could not continue): its private Redis is stopped, as after flowgate run.
    await chosen.private?.stopIfIdle();
  }
}

async function continueOn(chosen: RedisChoice, runId: string, flags: Flags, prepare: (redis: Redis, prefix: string) => Promise<void>, logger: Logger): Promise<number> {
  const { url: redisUrl } = chosen;
  const { prefix } = connectionFrom(flags);

  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
  let stored;
  let ended: RunSummary | undefined;
  try {
    await redis.connect();
    await prepare(redis, prefix);
    ({ stored, ended } = await loadRunToResume(redis, prefix, runId));
  } finally {
    redis.disconnect();
  }
  if (stored === undefined) throw new FlowgateError('RUN_NOT_FOUND', `no run "${runId}" under prefix "${prefix}" at ${redactUrl(redisUrl)}`);
  const json = flags.bool('json', false);
  if (stored.meta['status'] === 'submitted') {
    throw new FlowgateError('RUN_NOT_FOUND', `run ${runId} is queued for the scheduler service and has not started; the service runs it (flowgate status ${runId})`);
  }
  if (stored.meta['status'] !== 'running') {
    // Nothing to resume: report how it ended.
    const summary = ended ?? ({} as RunSummary);
    if (!flags.bool('quiet', false)) process.stderr.write(`flowgate: run ${runId} already ended (${summary.status}); nothing to resume\n`);
    await printSummary(summary, json);
    return exitCodeFor(summary);
  }
  const definition = definitionFromMeta(runId, stored.meta);
  // The connection was checked by redisForCommand, naming the flag or the variable.
  const o = compileResumeOptions(Object.fromEntries(Object.entries(flags.options()).filter(([k]) => k !== 'redis_url' && k !== 'prefix')), flagField);
  const workers = o.workers ?? defaultWorkers(definition.budget.n_procs, flags.str('spawner') as SpawnerChoice | undefined);
  const fleet = new LocalFleet({
    workers,
    concurrency: Math.ceil(definition.budget.n_procs / workers),
    maxTasksPerChild: o.max_tasks_per_child,
    redisUrl,
    prefix,
    name: `resume-${runTag(runId)}`,
    logger,
    extraArgs: fleetArgs(flags),
  });
  fleet.start();
  fleet.go();
  const scheduler = new RunScheduler({
    ...definition,
    // Named resources given again replace the stored ones (a run resumed on another machine).
    ...(Object.keys(o.resources).length > 0 ? { budget: { ...definition.budget, resources: o.resources } } : {}),
    redisUrl,
    prefix,
    resume: true,
    reconcileIntervalMs: o.reconcile_interval_ms,
    redisOutageMs: o.redis_outage_ms,
    logger,
  });
  const done = stored.states.size > 0 ? [...stored.states.values()].filter((s) => ['succeeded', 'failed', 'skipped', 'cached', 'cancelled'].includes(s)).length : 0;
  return driveRun({
    scheduler,
    fleet,
    json,
    quiet: flags.bool('quiet', false),
    logger,
    header: `flowgate: resuming run ${runId} of ${definition.workflow.name} (${done}/${definition.workflow.nodes.length} nodes already final) on ${chosen.label} prefix ${prefix}`,
  });
}


