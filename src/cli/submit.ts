/**
 * `flowgate submit WORKFLOW`: hands a run to the scheduler service. The
 * workflow is validated here first (exit 2, nothing written); the run is then
 * stored and announced in one transaction, and its id printed. With `--wait`
 * the run is followed to its end like `flowgate run`.
 */
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { assertFitsBudget, clampWarnings } from '../scheduler/admission.js';
import { withNodesLocated } from './budget-located.js';
import { metaFields, type RunDefinition } from '../scheduler/run-definition.js';
import { ExitCode, FlowgateError, ValidationError } from '../shared/errors.js';
import { Keys } from '../shared/keys.js';
import { checkRedis, createRedis, redactUrl } from '../shared/redis.js';
import { loadWorkflowFile, workflowPath } from '../shared/workflow/parse.js';
import { Flags, parseArgs } from './args.js';
import { withEnvFlags } from './env-flags.js';
import { connectionFrom } from './connection.js';
import { exitCodeFor, printSummary } from './drive-run.js';
import { followRun } from './follow.js';
import { SUBMIT_FLAGS } from './submit-flags.js';
import { RUN_DEFAULTS, SERVICE_BUDGET_HINT } from '../shared/options/defaults.js';
import { flagField } from '../shared/options/compile.js';
import { compileRunOptions } from '../shared/options/run.js';
import { ValidationProgress } from './validation-progress.js';

/** The meta hash of a run submitted to the service (an empty work dir: the service's own). */
export function submissionMeta(def: RunDefinition, nowMs: number): Record<string, string> {
  return { ...metaFields(def, nowMs), run_id: def.runId, status: 'submitted', mode: 'service', submitted_ms: String(nowMs) };
}

/**
 * Stores a submitted run and announces it to the scheduler service, in one
 * transaction: the run's meta (status `submitted`), its place in the run list
 * and in the service's submitted list.
 */
export async function storeSubmission(redis: Redis, prefix: string, runId: string, meta: Record<string, string>, nowMs: number): Promise<void> {
  const keys = new Keys(prefix);
  await redis
    .multi()
    .hset(keys.runMeta(runId), meta)
    .zadd(keys.runs(), nowMs, runId)
    .rpush(keys.submitted(), runId)
    .publish(keys.control(), JSON.stringify({ type: 'submitted', run_id: runId }))
    .exec();
}

/** Submits a run; returns the exit code. */
export async function submitCommand(argv: readonly string[]): Promise<number> {
  const flags = await withEnvFlags(new Flags(parseArgs(argv, SUBMIT_FLAGS)), SUBMIT_FLAGS);
  if (flags.positionals.length !== 1) {
    throw new ValidationError('OPTIONS_INVALID', [{ message: flags.positionals.length === 0 ? 'missing WORKFLOW file argument' : `expected one WORKFLOW file, received ${flags.positionals.length} arguments` }]);
  }
  const { redisUrl, prefix } = connectionFrom(flags);
  // The connection was checked above, naming the flag or the variable it came from.
  const o = compileRunOptions(Object.fromEntries(Object.entries(flags.options()).filter(([k]) => k !== 'redis_url' && k !== 'prefix')), flagField);
  const runId = o.run_id;
  const file = workflowPath(flags.positionals[0] as string);
  const maxNodes = o.max_nodes;
  const progress = new ValidationProgress(flags.positionals[0] as string, !flags.bool('quiet', false) && !flags.bool('json', false));
  let workflow;
  try {
    workflow = loadWorkflowFile(file, { onPhase: progress.onPhase, maxNodes });
  } finally {
    progress.done();
  }
  for (const w of workflow.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  const raiseInsufficient = o.raise_insufficient;
  const workDir = o.work_dir;
  const crashdumpDir = o.crashdump_dir;
  await checkRedis(redisUrl);
  const keys = new Keys(prefix);
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
  await redis.connect();
  let nodeIds: string[];
  try {
    // The service's budget, when one has been running: refuse impossible
    // requests now rather than after the run was queued.
    // A service placing per host checks each node against its live hosts
    // when it takes the run (the largest single host, not the sum).
    const [budgetRaw, placement] = await redis.hmget(keys.service(), 'budget', 'placement');
    const budget = budgetRaw === null || budgetRaw === undefined ? undefined : (JSON.parse(budgetRaw) as { n_procs: number; memory_gb: number; resources?: Record<string, number> });
    if (budget !== undefined && placement !== 'hosts') {
      const requests = workflow.nodes.map((n) => ({ id: n.id, request: { n_procs: n.n_procs, mem_gb: n.mem_gb, ...(Object.keys(n.resources).length > 0 ? { resources: n.resources } : {}) } }));
      const serviceBudget = { n_procs: budget.n_procs, mem_gb: budget.memory_gb, ...(budget.resources !== undefined ? { resources: budget.resources } : {}) };
      if (raiseInsufficient) withNodesLocated(file, () => assertFitsBudget(requests, serviceBudget, file, SERVICE_BUDGET_HINT));
      else for (const w of clampWarnings(requests, serviceBudget)) process.stderr.write(`warning: ${w}\n`);
    }
    if ((await redis.exists(keys.runMeta(runId))) === 1) {
      throw new ValidationError('RUN_EXISTS', [{ field: '--run-id', message: `a run with id "${runId}" already exists under this prefix` }]);
    }
    const now = Date.now();
    const meta = submissionMeta(
      {
        runId,
        workflow,
        workflowFile: file,
        budget: budget === undefined ? { n_procs: 0, mem_gb: 0 } : { n_procs: budget.n_procs, mem_gb: budget.memory_gb, ...(budget.resources !== undefined ? { resources: budget.resources } : {}) },
        order: o.scheduler,
        raiseInsufficient,
        stopOnFirstCrash: o.stop_on_first_crash,
        // Empty: the service fills in its own work dir when it takes the run.
        workDir: workDir === undefined ? '' : resolve(workDir),
        crashdumpDir: crashdumpDir === undefined ? (workDir === undefined ? '' : resolve(workDir, RUN_DEFAULTS.crashdump_dir_name)) : resolve(crashdumpDir),
        memoryMargin: o.enforce_memory,
        maxOutputBytes: o.max_output_bytes,
        maxNodes,
        hashMethod: o.hash_method,
        crashfileFormat: o.crashfile_format,
        updateHash: o.update_hash,
      },
      now,
    );
    await storeSubmission(redis, prefix, runId, meta, now);
    nodeIds = workflow.nodes.map((n) => n.id);
    if (budget === undefined) process.stderr.write(`flowgate: no scheduler service has run under prefix "${prefix}" at ${redactUrl(redisUrl)} yet; the run waits for one\n`);
  } finally {
    redis.disconnect();
  }
  const json = flags.bool('json', false);
  if (!flags.bool('wait', false)) {
    process.stdout.write(json ? `${JSON.stringify({ run_id: runId })}\n` : `${runId}\n`);
    return ExitCode.ok;
  }
  const quiet = flags.bool('quiet', false);
  if (!quiet) process.stderr.write(`flowgate: submitted run ${runId} of ${workflow.name} (${nodeIds.length} nodes); following it (Ctrl-C stops following, not the run)\n`);
  const detach = (): void => {
    process.stderr.write(`\nflowgate: stopped following run ${runId}; it goes on (flowgate status ${runId}, flowgate cancel ${runId})\n`);
    process.exit(ExitCode.interrupted);
  };
  process.once('SIGINT', detach);
  const result = await followRun(redisUrl, prefix, runId, nodeIds, quiet);
  process.off('SIGINT', detach);
  if ('error' in result) throw new FlowgateError('RUN_REJECTED', `run ${runId}: ${result.error}`);
  await printSummary(result.summary, json);
  return exitCodeFor(result.summary);
}
