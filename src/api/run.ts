/**
 * Running a workflow from code, like `flowgate run` (nipype's
 * `wf.run(plugin='MultiProc', plugin_args=...)`): an embedded scheduler and a
 * local fleet of worker processes; resolves with the run summary.
 */
import { resolve } from 'node:path';
import { assertFitsBudget, clampWarnings, type SchedulerOrder } from '../scheduler/admission.js';
import { CRASHFILE_FORMATS, type CrashfileFormat } from '../scheduler/crash-report.js';
import { RunScheduler } from '../scheduler/scheduler.js';
import type { RunSummary } from '../scheduler/summary.js';
import { defaultWorkers, LocalFleet } from '../cli/fleet.js';
import { newRunId, runIdProblem } from '../shared/run-id.js';
import { DEFAULT_MAX_TASKS_PER_CHILD, SCHEDULER_ORDERS } from '../shared/run-options.js';
import { availableCpus, defaultMemoryBudgetGb, MAX_MEM_GB, MAX_N_PROCS } from '../shared/capacity.js';
import { HASH_METHODS, type HashMethod } from '../shared/cache-record.js';
import { readEnv, redisUrlProblem } from '../shared/config.js';
import { ValidationError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { Releasers } from '../shared/releasers.js';
import { checkRedis } from '../shared/redis.js';
import { writableDirProblem } from '../shared/work-dir.js';
import { validateWorkflow } from '../shared/workflow/parse.js';
import type { Workflow, WorkflowFile } from '../shared/workflow/schema.js';
import { WorkflowBuilder } from './workflow.js';

/**
 * What happened to a node, as the status callback hears it. `start`: its
 * process started; `end`: it succeeded; `exception`: an attempt failed
 * (`final` is false when it will be retried); `skipped`: a predecessor failed,
 * it never ran; `cancelled`: the run was cancelled or stopped before it ended;
 * `cached`: its result was reused without running it.
 */
export interface StatusEvent {
  type: 'start' | 'end' | 'exception' | 'skipped' | 'cancelled' | 'cached';
  run_id: string;
  node: string;
  /** Epoch ms when the scheduler saw it. */
  time_ms: number;
  /** Why it failed, was skipped or cancelled; null otherwise. */
  reason: string | null;
  /** For `exception`: whether this failure is the node's last (no retry follows). */
  final?: boolean;
}

/** Options of {@link run}: nipype's plugin_args, with the same defaults. */
export interface RunOptions {
  /** Thread budget (default: CPUs available to this process). */
  n_procs?: number;
  /** Memory budget in GB (default: 90% of available memory). */
  memory_gb?: number;
  /** Ready-node order (default `tsort`). */
  scheduler?: SchedulerOrder;
  /** Refuse nodes larger than the budget before anything runs (default true); false runs them alone with the whole budget. */
  raise_insufficient?: boolean;
  /** Stop admitting at the first failure (default false). */
  stop_on_first_crash?: boolean;
  /** Function-node executor processes are replaced after this many nodes (default 10). */
  max_tasks_per_child?: number;
  /** Worker processes of the local fleet (default: 1 with the process launcher; else CPUs available, at most 4 and at most n_procs). */
  workers?: number;
  /** Node directories, logs and summaries (default `./flowgate-work`). */
  work_dir?: string;
  /** Crash records (default `<work_dir>/_crashes`). */
  crashdump_dir?: string;
  /** Crash files per failure: `json`, `txt` (one file, as nipype) or `both` (default). */
  crashfile_format?: CrashfileFormat;
  /** Redis URL (default `$REDIS_URL` or `redis://127.0.0.1:6379`). */
  redis_url?: string;
  /** Key and queue prefix (default `$FLOWGATE_PREFIX` or `flowgate`). */
  prefix?: string;
  /** The run id (default: generated). */
  run_id?: string;
  /** Largest outputs a node may produce, in bytes of JSON (default 4194304 = 4 MB); larger results belong in files. */
  max_output_bytes?: number;
  /**
   * The most nodes one expansion may create — an iterables product, the
   * copies of a node under iterables, the whole expanded workflow, a map
   * node's elements (default 1000000, like `--max-nodes`). Larger ones are
   * refused (`WORKFLOW_TOO_LARGE`) before anything is made.
   */
  max_nodes?: number;
  /** How input files are fingerprinted for the cache (default `timestamp`: size and mtime). */
  hash_method?: HashMethod;
  /** Accept the existing outputs of nodes whose inputs changed, rewriting their cache records. */
  update_hash?: boolean;
  /**
   * Nodes start from a minimal environment (PATH, HOME, LANG, LC_*, TZ,
   * TMPDIR) instead of the worker's, plus flowgate's FLOWGATE_* variables,
   * OMP_NUM_THREADS and their own env (default false: the whole environment).
   */
  clean_env?: boolean;
  /** Told about every node's start, end, failure, skip, cancel (nipype's status_callback). */
  status_callback?: (event: StatusEvent) => void;
  /**
   * What an exception thrown by `status_callback` does. `abort` (default, as
   * nipype): the run is cancelled (running nodes are killed, nothing more
   * starts), the callback hears nothing more, and `run` rejects with that
   * exception once the run has stopped. `log`: it is logged and the run goes on.
   */
  callback_errors?: CallbackErrors;
  /** Aborting cancels the run: running nodes are killed, the summary says which ended how. */
  signal?: AbortSignal;
}

/** What an exception thrown by the status callback does (see {@link RunOptions.callback_errors}). */
export type CallbackErrors = 'abort' | 'log';

const ORDERS: readonly string[] = SCHEDULER_ORDERS;

function checkOptions(o: RunOptions): void {
  const bad: Array<{ field: string; message: string }> = [];
  const positiveInt = (v: number | undefined, field: string): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) bad.push({ field, message: `must be a whole number >= 1, received ${String(v)}` });
  };
  positiveInt(o.n_procs, 'n_procs');
  if (o.n_procs !== undefined && o.n_procs > MAX_N_PROCS) bad.push({ field: 'n_procs', message: `must be at most ${MAX_N_PROCS}, received ${o.n_procs}` });
  if (o.memory_gb !== undefined && o.memory_gb > MAX_MEM_GB) bad.push({ field: 'memory_gb', message: `must be at most ${MAX_MEM_GB}, received ${o.memory_gb}` });
  const urlProblem = o.redis_url === undefined ? undefined : redisUrlProblem(o.redis_url);
  if (urlProblem !== undefined) bad.push({ field: 'redis_url', message: urlProblem });
  for (const [field, dir] of [['work_dir', o.work_dir], ['crashdump_dir', o.crashdump_dir]] as const) {
    if (dir !== undefined && (typeof dir !== 'string' || dir === '')) bad.push({ field, message: 'must be a non-empty path' });
  }
  positiveInt(o.max_tasks_per_child, 'max_tasks_per_child');
  positiveInt(o.workers, 'workers');
  positiveInt(o.max_output_bytes, 'max_output_bytes');
  positiveInt(o.max_nodes, 'max_nodes');
  if (o.memory_gb !== undefined && !(o.memory_gb > 0 && Number.isFinite(o.memory_gb))) bad.push({ field: 'memory_gb', message: `must be a number > 0, received ${String(o.memory_gb)}` });
  if (o.hash_method !== undefined && !HASH_METHODS.includes(o.hash_method)) bad.push({ field: 'hash_method', message: `must be "timestamp" or "content", received "${String(o.hash_method)}"` });
  if (o.scheduler !== undefined && !ORDERS.includes(o.scheduler)) bad.push({ field: 'scheduler', message: `must be "tsort" or "mem_thread", received "${String(o.scheduler)}"` });
  if (o.crashfile_format !== undefined && !CRASHFILE_FORMATS.includes(o.crashfile_format)) bad.push({ field: 'crashfile_format', message: `must be "json", "txt" or "both", received "${String(o.crashfile_format)}"` });
  if (o.callback_errors !== undefined && o.callback_errors !== 'abort' && o.callback_errors !== 'log') bad.push({ field: 'callback_errors', message: `must be "abort" or "log", received "${String(o.callback_errors)}"` });
  const runIdBad = o.run_id === undefined ? undefined : runIdProblem(o.run_id);
  if (runIdBad !== undefined) bad.push({ field: 'run_id', message: runIdBad });
  if (bad.length > 0) throw new ValidationError('OPTIONS_INVALID', bad);
}

/**
 * Runs a workflow to its end and resolves with the run summary (also when
 * nodes failed: see `summary.status`). Rejects with a `ValidationError` for an
 * invalid workflow or options (nothing is written) and a `FlowgateError` with
 * code `REDIS_UNREACHABLE` when Redis does not answer.
 */
export async function run(wf: WorkflowBuilder | Workflow | WorkflowFile, options: RunOptions = {}): Promise<RunSummary> {
  checkOptions(options);
  const limits = options.max_nodes !== undefined ? { maxNodes: options.max_nodes } : {};
  const workflow: Workflow = wf instanceof WorkflowBuilder ? wf.build(limits.maxNodes !== undefined ? { max_nodes: limits.maxNodes } : {}) : isValidated(wf) ? wf : validateWorkflow(wf, undefined, limits);
  const env = readEnv();
  const budget = { n_procs: options.n_procs ?? availableCpus(), mem_gb: options.memory_gb ?? defaultMemoryBudgetGb() };
  const raiseInsufficient = options.raise_insufficient ?? true;
  const requests = workflow.nodes.map((n) => ({ id: n.id, request: { n_procs: n.n_procs, mem_gb: n.mem_gb } }));
  if (raiseInsufficient) assertFitsBudget(requests, budget);
  const redisUrl = options.redis_url ?? env.redisUrl;
  const prefix = options.prefix ?? env.prefix;
  const workDir = resolve(options.work_dir ?? 'flowgate-work');
  const crashdumpDir = resolve(options.crashdump_dir ?? resolve(workDir, '_crashes'));
  const nodeCrashDirs = [...new Set(workflow.nodes.flatMap((n) => (n.config?.crashdump_dir !== undefined ? [n.config.crashdump_dir] : [])))];
  const dirIssues = [
    writableDirProblem(workDir, 'work_dir'),
    writableDirProblem(crashdumpDir, options.crashdump_dir !== undefined ? 'crashdump_dir' : 'work_dir'),
    ...nodeCrashDirs.map((d) => writableDirProblem(d, 'config.crashdump_dir')),
  ].filter((i) => i !== undefined);
  if (dirIssues.length > 0) throw new ValidationError('OPTIONS_INVALID', dirIssues);
  await checkRedis(redisUrl);
  const runId = options.run_id ?? newRunId();
  const logger = createLogger(env.logLevel).child({ component: 'api' });
  if (!raiseInsufficient) for (const w of clampWarnings(requests, budget)) logger.warn(w);
  const workers = options.workers ?? defaultWorkers(budget.n_procs);
  const maxTasksPerChild = options.max_tasks_per_child ?? DEFAULT_MAX_TASKS_PER_CHILD;
  const fleet = new LocalFleet({
    workers,
    concurrency: Math.ceil(budget.n_procs / workers),
    maxTasksPerChild,
    redisUrl,
    prefix,
    name: `api-${runId.slice(-6)}`,
    logger,
    ...(options.clean_env === true ? { extraArgs: ['--clean-env=true'] } : {}),
  });
  // Whatever happens from here on, what was started is stopped again, the last first.
  const releasers = new Releasers();
  /** The exception the status callback threw, when it aborted the run (callback_errors: abort). */
  const callback: { error?: { err: unknown } } = {};
  let summary: RunSummary | undefined;
  const onAbort = (): void => void scheduler?.cancel('cancelled by the caller (AbortSignal)');
  let scheduler: RunScheduler | undefined;
  try {
    fleet.start();
    // Without a summary the run failed (e.g. Redis gone): the fleet is not waited for long.
    releasers.add('the worker fleet', () => fleet.close(summary === undefined, summary === undefined ? 3000 : 15_000), Infinity);
    fleet.go();
    const s = new RunScheduler({
      runId,
      workflow,
      budget,
      order: options.scheduler ?? 'tsort',
      raiseInsufficient,
      stopOnFirstCrash: options.stop_on_first_crash ?? false,
      workDir,
      crashdumpDir,
      crashfileFormat: options.crashfile_format ?? 'both',
      memoryMargin: null,
      ...(options.max_output_bytes !== undefined ? { maxOutputBytes: options.max_output_bytes } : {}),
      ...(limits.maxNodes !== undefined ? { maxNodes: limits.maxNodes } : {}),
      hashMethod: options.hash_method ?? 'timestamp',
      updateHash: options.update_hash ?? false,
      redisUrl,
      prefix,
      extra: { workers, max_tasks_per_child: maxTasksPerChild },
      logger,
    });
    scheduler = s;
    releasers.add('the scheduler', () => s.close());
    if (options.status_callback !== undefined) tellStatus(s, runId, options.status_callback, options.callback_errors ?? 'abort', callback, logger);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    releasers.add('the abort listener', () => options.signal?.removeEventListener('abort', onAbort));
    await fleet.whenReady();
    await s.start();
    if (options.signal?.aborted === true) onAbort();
    summary = await s.whenFinished();
    // As nipype: the callback's exception is the run's outcome (the summary, stored as cancelled, says which nodes ended how).
    if (callback.error !== undefined) throw callback.error.err;
    return summary;
  } finally {
    const errors = await releasers.releaseAll();
    if (errors.length > 0) logger.warn({ errors }, 'close failed');
  }
}

/**
 * Tells the status callback about every node's start, end, failure, skip,
 * cancel. A callback that throws cancels the run and its exception becomes
 * `run()`'s (`abort`, nipype's behaviour), or is logged (`log`).
 */
function tellStatus(scheduler: RunScheduler, runId: string, cb: (event: StatusEvent) => void, onError: 'abort' | 'log', callback: { error?: { err: unknown } }, logger: Logger): void {
  const tell = (type: StatusEvent['type'], node: string, reason: string | null, final?: boolean): void => {
    if (callback.error !== undefined) return;
    try {
      cb({ type, run_id: runId, node, time_ms: Date.now(), reason, ...(final !== undefined ? { final } : {}) });
    } catch (err) {
      if (onError === 'log') {
        logger.warn({ err, node, event: type }, 'the status callback threw; going on (callback_errors: log)');
        return;
      }
      callback.error = { err };
      void scheduler.cancel(`status callback threw on ${type} of ${node}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  scheduler.on('node:started', ({ id }) => tell('start', id, null));
  scheduler.on('node:retrying', ({ id, reason }) => tell('exception', id, reason, false));
  scheduler.on('node:finished', ({ id, status, reason }) => {
    if (status === 'succeeded') tell('end', id, null);
    else if (status === 'failed') tell('exception', id, reason, true);
    else if (status === 'skipped' || status === 'cancelled' || status === 'cached') tell(status, id, reason);
  });
}

function isValidated(wf: Workflow | WorkflowFile): wf is Workflow {
  return wf.nodes.every((n) => 'index' in n && Array.isArray((n as { needs?: unknown }).needs));
}
