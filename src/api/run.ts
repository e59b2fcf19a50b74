/**
 * Running a workflow from code, like `flowgate run` (nipype's
 * `wf.run(plugin='MultiProc', plugin_args=...)`): an embedded scheduler and a
 * local fleet of worker processes; resolves with the run summary.
 */
import { runTag } from '../shared/run-id.js';
import { resolve } from 'node:path';
import { requestOf } from '../scheduler/node-request.js';
import { assertFitsBudget, clampWarnings, type SchedulerOrder } from '../scheduler/admission.js';
import type { CrashfileFormat } from '../scheduler/crash-report.js';
import type { RunSummary } from '../scheduler/summary.js';
import { defaultWorkers } from '../cli/fleet.js';
import { RUN_DEFAULTS } from '../shared/options/defaults.js';
import { compileRunOptions, type CompiledRunOptions, type RunOptionsInput } from '../shared/options/run.js';
import type { HashMethod } from '../shared/cache-record.js';
import { readEnv } from '../shared/config.js';
import { ValidationError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { checkRedis } from '../shared/redis.js';
import { writableDirProblems } from '../shared/work-dir.js';
import { validateWorkflow } from '../shared/workflow/parse.js';
import type { Workflow } from '../shared/workflow/model.js';
import type { WorkflowFile } from '../shared/workflow/schema.js';
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
  /**
   * Named-resource budget in whole slots, e.g. `{gpu: 2, licence_x: 1}`
   * (default none; like `--resource`): nodes' `resources` are reserved from it
   * as `n_procs` is from the thread budget.
   */
  resources?: Readonly<Record<string, number>>;
  /** nipype's `n_gpu_procs`: GPU slots, the same as `resources: {gpu: N}` (a different `resources.gpu` is an error). */
  n_gpu_procs?: number;
  /** Ready-node order (default `tsort`). */
  scheduler?: SchedulerOrder;
  /** Refuse nodes larger than the budget before anything runs (default true); false runs them alone with the whole budget. */
  raise_insufficient?: boolean;
  /** Stop admitting at the first failure (default false). */
  stop_on_first_crash?: boolean;
  /** Function-node realms (JavaScript; their process after 10 realms) and TypeScript executor processes are replaced after this many nodes (default 10; `Infinity`: never). */
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
  /** Period of the safety sweep that checks in-flight nodes against their jobs, in ms (default 5000, at least 100; like `--reconcile-interval-ms`). */
  reconcile_interval_ms?: number;
  /** Redis unreachable longer than this ends the run, in ms (default 60000, at least 1000; like `--redis-outage-ms`). */
  redis_outage_ms?: number;
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


/** `RunOptions` stays within what the run schema takes (a field added to one and not the other fails to compile). */
type Within<A, B extends A> = B;
export type RunOptionsChecked = Within<RunOptionsInput, Omit<RunOptions, 'base_dir' | 'status_callback' | 'signal'>>;

/**
 * Runs a workflow to its end and resolves with the run summary (also when
 * nodes failed: see `summary.status`). Rejects with a `ValidationError` for an
 * invalid workflow or options (nothing is written) and a `FlowgateError` with
 * code `REDIS_UNREACHABLE` when Redis does not answer.
 */
export async function run(wf: WorkflowBuilder | Workflow | WorkflowFile, options: RunOptions = {}): Promise<RunSummary> {
  const compiled = compileRunOptions(options);
  return inApiWords(() => runChecked(wf, options, compiled));
}

async function runChecked(wf: WorkflowBuilder | Workflow | WorkflowFile, options: RunOptions, o: CompiledRunOptions): Promise<RunSummary> {
  const limits = { maxNodes: o.max_nodes };
  const baseDir = options.base_dir !== undefined ? baseDirFrom(options.base_dir) : wf instanceof WorkflowBuilder ? wf.baseDir : undefined;
  const buildOptions = { ...(limits.maxNodes !== undefined ? { max_nodes: limits.maxNodes } : {}), ...(baseDir !== undefined ? { base_dir: baseDir } : {}) };
  const workflow: Workflow = wf instanceof WorkflowBuilder ? wf.build(buildOptions) : isValidated(wf) ? wf : validateWorkflow(wf, undefined, { ...limits, ...(baseDir !== undefined ? { baseDir } : {}) });
  const env = readEnv();
  const budget = { n_procs: o.n_procs, mem_gb: o.memory_gb, resources: o.resources };
  const raiseInsufficient = o.raise_insufficient;
  const requests = workflow.nodes.map((n) => ({ id: n.id, request: requestOf(n) }));
  if (raiseInsufficient) assertFitsBudget(requests, budget);
  const redisUrl = o.redis_url ?? env.redisUrl;
  const prefix = o.prefix ?? env.prefix;
  const workDir = resolve(o.work_dir ?? (baseDir !== undefined ? resolve(baseDir, RUN_DEFAULTS.work_dir_name) : RUN_DEFAULTS.work_dir_name));
  const crashdumpDir = resolve(o.crashdump_dir ?? resolve(workDir, RUN_DEFAULTS.crashdump_dir_name));
  const nodeCrashDirs = [...new Set(workflow.nodes.flatMap((n) => (n.config?.crashdump_dir !== undefined ? [n.config.crashdump_dir] : [])))];
  const dirIssues = writableDirProblems([[workDir, 'work_dir'], [crashdumpDir, o.crashdump_dir !== undefined ? 'crashdump_dir' : 'work_dir'], ...nodeCrashDirs.map((d) => [d, 'config.crashdump_dir'] as const)]);
  if (dirIssues.length > 0) throw new ValidationError('OPTIONS_INVALID', dirIssues);
  await checkRedis(redisUrl);
  const runId = o.run_id;
  const logger = createLogger(env.logLevel).child({ component: 'api' });
  if (!raiseInsufficient) for (const w of clampWarnings(requests, budget)) logger.warn(w);
  const workers = o.workers ?? defaultWorkers(budget.n_procs);
  const maxTasksPerChild = executorTasks(o.max_tasks_per_child);
  return driveLocal({
    runId,
    workers,
    maxTasksPerChild,
    workerArgs: workerArgs(o),
    fleetName: `api-${runTag(runId)}`,
    logger,
    statusCallback: options.status_callback,
    callbackErrors: o.callback_errors,
    signal: options.signal,
    scheduler: {
      runId,
      workflow,
      budget,
      order: o.scheduler,
      raiseInsufficient,
      stopOnFirstCrash: o.stop_on_first_crash,
      workDir,
      crashdumpDir,
      crashfileFormat: o.crashfile_format,
      memoryMargin: o.enforce_memory,
      maxOutputBytes: o.max_output_bytes,
      maxNodes: o.max_nodes,
      hashMethod: o.hash_method,
      updateHash: o.update_hash,
      reconcileIntervalMs: o.reconcile_interval_ms,
      redisOutageMs: o.redis_outage_ms,
      redisUrl,
      prefix,
      extra: { workers, max_tasks_per_child: maxTasksPerChild },
    },
  });
}

function isValidated(wf: Workflow | WorkflowFile): wf is Workflow {
  return wf.nodes.every((n) => 'index' in n && Array.isArray((n as { needs?: unknown }).needs));
}
