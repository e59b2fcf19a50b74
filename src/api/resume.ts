/**
 * Continuing a run from code, like `flowgate resume RUN_ID`: a run whose
 * scheduler died is driven on to its end with a local worker fleet.
 * Everything the run needs is in Redis; nodes that finished meanwhile are
 * adopted, not rerun.
 */
import { runTag } from '../shared/run-id.js';
import { defaultWorkers } from '../cli/fleet.js';
import { definitionFromMeta } from '../scheduler/run-definition.js';
import type { RunSummary } from '../scheduler/summary.js';
import { readEnv } from '../shared/config.js';
import { FlowgateError } from '../shared/errors.js';
import { compileResumeOptions } from '../shared/options/run.js';
import { loadRunToResume } from '../scheduler/summary-load.js';
import { createLogger } from '../shared/logger.js';
import { checkRedis, createRedis, redactUrl } from '../shared/redis.js';
import { executorTasks, inApiWords, workerArgs } from './api-support.js';
import { driveLocal } from './drive.js';
import type { RunOptions } from './run.js';

/** Options of {@link resume}: how to run, not what (that is stored with the run). Defaults as for `run()`. */
export type ResumeOptions = Pick<RunOptions, 'redis_url' | 'prefix' | 'workers' | 'max_tasks_per_child' | 'sample_interval_ms' | 'clean_env' | 'reconcile_interval_ms' | 'redis_outage_ms' | 'resources' | 'n_gpu_procs' | 'status_callback' | 'callback_errors' | 'signal'>;

/**
 * Resumes run `runId` and resolves with its summary once it has ended. A
 * run that already ended resolves with its summary at once. Rejects with a
 * `FlowgateError` `RUN_NOT_FOUND` for an unknown run (or one queued for the
 * scheduler service), `REDIS_UNREACHABLE` when Redis does not answer.
 */
export async function resume(runId: string, options: ResumeOptions = {}): Promise<RunSummary> {
  return inApiWords(async () => {
    const o = compileResumeOptions(options);
    const env = readEnv();
    const redisUrl = o.redis_url ?? env.redisUrl;
    const prefix = o.prefix ?? env.prefix;
    await checkRedis(redisUrl);
    const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
    let stored;
    let ended: RunSummary | undefined;
    try {
      await redis.connect();
      ({ stored, ended } = await loadRunToResume(redis, prefix, runId));
    } finally {
      redis.disconnect();
    }
    if (stored === undefined) throw new FlowgateError('RUN_NOT_FOUND', `no run "${runId}" under prefix "${prefix}" at ${redactUrl(redisUrl)}`);
    if (stored.meta['status'] === 'submitted') throw new FlowgateError('RUN_NOT_FOUND', `run ${runId} is queued for the scheduler service and has not started; the service runs it`);
    if (stored.meta['status'] !== 'running') return ended ?? ({} as RunSummary);
    const definition = definitionFromMeta(runId, stored.meta);
    const workers = o.workers ?? defaultWorkers(definition.budget.n_procs);
    return driveLocal({
      runId,
      workers,
      maxTasksPerChild: executorTasks(o.max_tasks_per_child),
      workerArgs: workerArgs(o),
      fleetName: `resume-${runTag(runId)}`,
      logger: createLogger(env.logLevel).child({ component: 'api' }),
      statusCallback: options.status_callback,
      callbackErrors: o.callback_errors,
      signal: options.signal,
      scheduler: { ...definition, ...(Object.keys(o.resources).length > 0 ? { budget: { ...definition.budget, resources: o.resources } } : {}), redisUrl, prefix, resume: true, reconcileIntervalMs: o.reconcile_interval_ms, redisOutageMs: o.redis_outage_ms },
    });
  });
}
