/**
 * Running a workflow from code, like `flowgate run` (nipype's
 * `wf.run(plugin='MultiProc', plugin_args=...)`): an embedded scheduler and a
 * local fleet of worker processes; resolves with the run summary.
 */
import { resolve } from 'node:path';
import { assertFitsBudget, clampWarnings, type SchedulerOrder } from '../scheduler/admission.js';
import { CRASHFILE_FORMATS, type CrashfileFormat } from '../scheduler/crash-report.js';
import type { RunSummary } from '../scheduler/summary.js';
import { defaultWorkers } from '../cli/fleet.js';
import { newRunId, runIdProblem } from '../shared/run-id.js';
import { DEFAULT_MAX_TASKS_PER_CHILD, SCHEDULER_ORDERS } from '../shared/run-options.js';
import { availableCpus, defaultMemoryBudgetGb, MAX_MEM_GB, MAX_N_PROCS } from '../shared/capacity.js';
import { HASH_METHODS, type HashMethod } from '../shared/cache-record.js';
import { readEnv, redisUrlProblem } from '../shared/config.js';
import { ValidationError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { checkRedis } from '../shared/redis.js';
import { writableDirProblem } from '../shared/work-dir.js';
import { validateWorkflow } from '../shared/workflow/parse.js';
import type { Workflow, WorkflowFile } from '../shared/workflow/schema.js';
import { WorkflowBuilder } from './workflow.js';
import { baseDirFrom, executorTasks, inApiWords, workerArgs } from './api-support.js';
import { driveLocal, type CallbackErrors, type StatusEvent } from './drive.js';

/**
 * The status callback's events (`start`: its process started; `end`: it
 * succeeded; `exception`: an attempt failed, `final` false when it will be
 * retried; `skipped`: a predecessor failed; `cancelled`; `cached`: its result
 * was reused without running it) and what an exception it throws does.
 */
export type { CallbackErrors, StatusEvent } from './drive.js';

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
  /** Function-node executor processes are replaced after this many nodes (default 10; `Infinity`: never). */
  max_tasks_per_child?: number;
  /**
   * Kill a node whose process tree's memory exceeds its grant by this
   * fraction (`0.1` = 10 %; like `--enforce-memory`). Default: not enforced.
   */
  enforce_memory?: number;
  /** How often each node's process tree is measured, in ms (default 1000, at least 50). */
  sample_interval_ms?: number;
  /**
   * The directory relative function modules, path inputs and crash dirs of
   * a workflow given as an object are resolved against (and
   * `{{workflow.dir}}`): a path, or a `file:` URL such as the calling
   * module's `import.meta.url` (its directory is taken). Default: the
   * builder's own `base_dir`, else the current directory.
   */
  base_dir?: string | URL;
  /** Worker processes of the local fleet (default: 1 with the process launcher; else CPUs available, at most 4 and at most n_procs). */
  workers?: number;
  /** Node directories, logs and summaries (default `<base_dir>/flowgate-work` when a base dir is given, else `./flowgate-work`). */
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
  if (o.max_tasks_per_child !== Infinity) positiveInt(o.max_tasks_per_child, 'max_tasks_per_child');
  if (o.enforce_memory !== undefined && !(typeof o.enforce_memory === 'number' && o.enforce_memory >= 0 && Number.isFinite(o.enforce_memory))) bad.push({ field: 'enforce_memory', message: `must be a number >= 0 (a fraction of the grant), received ${String(o.enforce_memory)}` });
  if (o.sample_interval_ms !== undefined && !(Number.isInteger(o.sample_interval_ms) && o.sample_interval_ms >= 50)) bad.push({ field: 'sample_interval_ms', message: `must be a whole number >= 50, received ${String(o.sample_interval_ms)}` });
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
  return inApiWords(() => runChecked(wf, options));
}

async function runChecked(wf: WorkflowBuilder | Workflow | WorkflowFile, options: RunOptions): Promise<RunSummary> {
  const limits = options.max_nodes !== undefined ? { maxNodes: options.max_nodes } : {};
  const baseDir = options.base_dir !== undefined ? baseDirFrom(options.base_dir) : wf instanceof WorkflowBuilder ? wf.baseDir : undefined;
  const buildOptions = { ...(limits.maxNodes !== undefined ? { max_nodes: limits.maxNodes } : {}), ...(baseDir !== undefined ? { base_dir: baseDir } : {}) };
  const workflow: Workflow = wf instanceof WorkflowBuilder ? wf.build(buildOptions) : isValidated(wf) ? wf : validateWorkflow(wf, undefined, { ...limits, ...(baseDir !== undefined ? { baseDir } : {}) });
  const env = readEnv();
  const budget = { n_procs: options.n_procs ?? availableCpus(), mem_gb: options.memory_gb ?? defaultMemoryBudgetGb() };
  const raiseInsufficient = options.raise_insufficient ?? true;
  const requests = workflow.nodes.map((n) => ({ id: n.id, request: { n_procs: n.n_procs, mem_gb: n.mem_gb } }));
  if (raiseInsufficient) assertFitsBudget(requests, budget);
  const redisUrl = options.redis_url ?? env.redisUrl;
  const prefix = options.prefix ?? env.prefix;
  const workDir = resolve(options.work_dir ?? (baseDir !== undefined ? resolve(baseDir, 'flowgate-work') : 'flowgate-work'));
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
  return driveLocal({
    runId,
    workers,
    maxTasksPerChild: executorTasks(maxTasksPerChild),
    workerArgs: workerArgs(options),
    fleetName: `api-${runId.slice(-6)}`,
    logger,
    statusCallback: options.status_callback,
    callbackErrors: options.callback_errors ?? 'abort',
    signal: options.signal,
    scheduler: {
      runId,
      workflow,
      budget,
      order: options.scheduler ?? 'tsort',
      raiseInsufficient,
      stopOnFirstCrash: options.stop_on_first_crash ?? false,
      workDir,
      crashdumpDir,
      crashfileFormat: options.crashfile_format ?? 'both',
      memoryMargin: options.enforce_memory ?? null,
      ...(options.max_output_bytes !== undefined ? { maxOutputBytes: options.max_output_bytes } : {}),
      ...(limits.maxNodes !== undefined ? { maxNodes: limits.maxNodes } : {}),
      hashMethod: options.hash_method ?? 'timestamp',
      updateHash: options.update_hash ?? false,
      redisUrl,
      prefix,
      extra: { workers, max_tasks_per_child: executorTasks(maxTasksPerChild) },
    },
  });
}

function isValidated(wf: Workflow | WorkflowFile): wf is Workflow {
  return wf.nodes.every((n) => 'index' in n && Array.isArray((n as { needs?: unknown }).needs));
}
