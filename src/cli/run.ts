/**
 * `flowgate run WORKFLOW`: an embedded scheduler plus a local fleet of worker
 * processes, like nipype's `wf.run(plugin='MultiProc')`.
 */
import { launcherProblem, type SpawnerChoice } from '../worker/launcher.js';
import { dirname, join, resolve } from 'node:path';
import type { SchedulerOrder } from '../scheduler/admission.js';
import type { CrashfileFormat } from '../scheduler/crash-report.js';
import type { HashMethod } from '../shared/cache-record.js';
import { ValidationError, type ValidationIssue } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import type { Workflow } from '../shared/workflow/model.js';
import { Flags, parseArgs } from './args.js';
import { connectionWithIssues } from './connection.js';
import { withEnvFlags } from './env-flags.js';
import { fleetArgs, RUN_FLAGS } from './run-flags.js';
import { defaultWorkers, LocalFleet } from './fleet.js';
import { RUN_DEFAULTS } from '../shared/options/defaults.js';
import { flagField } from '../shared/options/compile.js';
import type { CompiledRunOptions } from '../shared/options/run.js';
import { availableCpus } from '../shared/capacity.js';
import { newRunId, runTag } from '../shared/run-id.js';
import { retentionFrom } from './retention-flags.js';
import { ValidationProgress } from './validation-progress.js';
import type { RetentionPolicy } from '../scheduler/prune-plan.js';

// Only what is needed to start the worker fleet is imported statically; the
// rest (zod for the options' schema, yaml, ioredis, bullmq) loads while the
// workers boot.


interface RunConfig {
  file: string;
  runId: string;
  budget: { n_procs: number; mem_gb: number; resources: Record<string, number> };
  /** `external`: no workers of its own; nodes are placed per host on the registered workers. */
  fleet: 'local' | 'external';
  /** With an external fleet: the budget flags given (they cap the fleet); else the hosts' sum alone. */
  cap: { n_procs?: number; mem_gb?: number };
  order: SchedulerOrder;
  raiseInsufficient: boolean;
  stopOnFirstCrash: boolean;
  maxTasksPerChild: number;
  workers: number;
  workDir: string;
  crashdumpDir: string;
  crashfileFormat: CrashfileFormat;
  /** Where the crash dump dir came from, for messages. */
  crashdumpFlag: string;
  json: boolean;
  quiet: boolean;
  redisUrl: string;
  /** Whether the Redis URL was given; else a private Redis may stand in for the default. */
  redisExplicit: boolean;
  prefix: string;
  reconcileIntervalMs: number;
  logLevel: string;
  /** Flags passed through to every worker of the fleet. */
  workerArgs: string[];
  memoryMargin: number | null;
  maxOutputBytes: number;
  maxNodes: number;
  redisOutageMs: number;
  hashMethod: HashMethod;
  updateHash: boolean;
  /** Start even while the previous run of the workflow in the work dir is unfinished. */
  force: boolean;
  explainCache: boolean;
  /** Only say what would run (see dry-run.ts). */
  dryRun: boolean;
  /** Applied to the prefix's finished runs once this run has ended. */
  retention: RetentionPolicy;
}

/** The run's configuration: its options compiled by the run schema, plus what only the CLI has. */
function compileRunConfig(flags: Flags, compileRunOptions: typeof import('../shared/options/run.js').compileRunOptions, runId: string): RunConfig {
  const issues: ValidationIssue[] = [];
  if (flags.positionals.length !== 1) {
    issues.push({ message: flags.positionals.length === 0 ? 'missing WORKFLOW file argument' : `expected one WORKFLOW file, received ${flags.positionals.length} arguments` });
  }
  const conn = connectionWithIssues(flags);
  issues.push(...conn.issues);
  const { prefix, redisUrl } = conn.connection;
  // The connection was checked above, naming the flag or the variable it came from.
  const input: Record<string, unknown> = { run_id: runId, ...Object.fromEntries(Object.entries(flags.options()).filter(([k]) => k !== 'redis_url' && k !== 'prefix')) };
  let o: CompiledRunOptions | undefined;
  try {
    o = compileRunOptions(input, flagField);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    issues.push(...err.issues);
  }
  const noLauncher = flags.str('spawner') === 'launcher' ? launcherProblem() : undefined;
  if (noLauncher !== undefined) issues.push({ field: '--spawner', message: noLauncher });
  let retention: RetentionPolicy | undefined;
  try {
    retention = retentionFrom(flags);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    issues.push(...err.issues);
  }
  if (issues.length > 0 || retention === undefined || o === undefined) throw new ValidationError('OPTIONS_INVALID', issues);
  // Next to the workflow file: rerunning it from another directory finds the same cache.
  const workDir = resolve(o.work_dir ?? join(dirname(resolve(flags.positionals[0] as string)), RUN_DEFAULTS.work_dir_name));
  return {
    file: flags.positionals[0] as string,
    runId: o.run_id,
    budget: { n_procs: o.n_procs, mem_gb: o.memory_gb, resources: o.resources },
    fleet: o.fleet,
    cap: { ...(flags.has('n-procs') ? { n_procs: o.n_procs } : {}), ...(flags.has('memory-gb') ? { mem_gb: o.memory_gb } : {}) },
    order: o.scheduler,
    raiseInsufficient: o.raise_insufficient,
    stopOnFirstCrash: o.stop_on_first_crash,
    maxTasksPerChild: o.max_tasks_per_child,
    workers: o.workers ?? defaultWorkers(o.n_procs, flags.str('spawner') as SpawnerChoice | undefined),
    workDir,
    crashdumpDir: resolve(o.crashdump_dir ?? resolve(workDir, RUN_DEFAULTS.crashdump_dir_name)),
    crashfileFormat: o.crashfile_format,
    crashdumpFlag: flags.has('crashdump-dir') ? '--crashdump-dir' : '--work-dir',
    json: flags.bool('json', false),
    quiet: flags.bool('quiet', false),
    redisUrl,
    redisExplicit: conn.connection.explicit,
    prefix,
    reconcileIntervalMs: o.reconcile_interval_ms,
    logLevel: conn.connection.logLevel,
    memoryMargin: o.enforce_memory,
    maxOutputBytes: o.max_output_bytes,
    maxNodes: o.max_nodes,
    redisOutageMs: o.redis_outage_ms,
    hashMethod: o.hash_method,
    updateHash: o.update_hash,
    explainCache: flags.bool('explain-cache', false),
    dryRun: flags.bool('dry-run', false),
    force: flags.bool('force', false),
    workerArgs: fleetArgs(flags),
    retention,
  };
}

/** What the worker fleet is started with. */
interface FleetShape {
  workers: number;
  concurrency: number;
  maxTasksPerChild: number;
  prefix: string;
  name: string;
  extraArgs: string[];
}

function sameShape(a: FleetShape, b: FleetShape): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function fleetOf(shape: FleetShape, redisUrl: string, logger: ReturnType<typeof createLogger>): LocalFleet {
  const fleet = new LocalFleet({ ...shape, redisUrl, logger });
  fleet.start();
  return fleet;
}

/**
 * The fleet's shape as the flags say, before the options are compiled: the
 * workers start loading while zod and the schema load and the input is
 * checked. The compiled options have the last word — a fleet of another
 * shape is replaced — and the workers touch Redis only after fleet.go(), so
 * bad input still writes nothing.
 */
function earlyShape(flags: Flags, runId: string): FleetShape | undefined {
  const conn = connectionWithIssues(flags);
  if (conn.issues.length > 0 || flags.bool('dry-run', false) || flags.str('fleet') === 'external') return undefined;
  const nProcs = flags.num('n-procs') ?? availableCpus();
  const workers = flags.num('workers') ?? defaultWorkers(nProcs, flags.str('spawner') as SpawnerChoice | undefined);
  return {
    workers,
    concurrency: Math.ceil(nProcs / workers),
    maxTasksPerChild: flags.num('max-tasks-per-child') ?? RUN_DEFAULTS.max_tasks_per_child,
    prefix: conn.connection.prefix,
    name: `run-${runTag(runId)}`,
    extraArgs: fleetArgs(flags),
  };
}

/**
 * Refuses (with raise_insufficient) or warns about nodes larger than the
 * budget. A function of its own: the list of requests, one entry per node,
 * would otherwise stay in the suspended frame of {@link runCommand} for the
 * whole run.
 */
function checkBudget(
  workflow: Workflow,
  cfg: RunConfig,
  file: string,
  m: { requestOf: typeof import('../scheduler/node-request.js').requestOf; withNodesLocated: typeof import('./budget-located.js').withNodesLocated } & Pick<typeof import('../scheduler/admission.js'), 'assertFitsBudget' | 'clampWarnings'>,
): void {
  const requests = workflow.nodes.map((n) => ({ id: n.id, request: m.requestOf(n) }));
  if (cfg.raiseInsufficient) m.withNodesLocated(file, () => m.assertFitsBudget(requests, cfg.budget, file));
  else for (const w of m.clampWarnings(requests, cfg.budget)) process.stderr.write(`warning: ${w}\n`);
}

/** Runs a workflow end to end; returns the exit code. */
export async function runCommand(argv: readonly string[]): Promise<number> {
  const flags = await withEnvFlags(new Flags(parseArgs(argv, RUN_FLAGS)), RUN_FLAGS);
  const runId = flags.str('run-id') ?? newRunId();
  const early = earlyShape(flags, runId);
  const { connection } = connectionWithIssues(flags);
  const earlyLogger = createLogger(connection.logLevel).child({ component: 'run' });
  let fleet = early !== undefined ? fleetOf(early, connection.redisUrl, earlyLogger) : undefined;
  let cfg: RunConfig;
  try {
    cfg = compileRunConfig(flags, (await import('../shared/options/run.js')).compileRunOptions, runId);
  } catch (err) {
    await fleet?.close(true);
    throw err;
  }
  if (cfg.dryRun) return (await import('./dry-run.js')).dryRunCommand(cfg);
  const logger = earlyLogger;
  const external = cfg.fleet === 'external';
  const shape: FleetShape = {
    // An external fleet: no workers of the run's own (an empty local fleet).
    workers: external ? 0 : cfg.workers,
    concurrency: Math.ceil(cfg.budget.n_procs / cfg.workers),
    maxTasksPerChild: cfg.maxTasksPerChild,
    prefix: cfg.prefix,
    name: `run-${runTag(cfg.runId)}`,
    extraArgs: cfg.workerArgs,
  };
  if (fleet === undefined || early === undefined || !sameShape(early, shape)) {
    await fleet?.close(true);
    fleet = fleetOf(shape, cfg.redisUrl, logger);
  }
  let scheduler: import('../scheduler/scheduler.js').RunScheduler;
  let workflow: Workflow;
  const { loadWorkflowFile, workflowPath } = await import('../shared/workflow/parse.js');
  const { assertFitsBudget, clampWarnings } = await import('../scheduler/admission.js');
  const { chooseRedis } = await import('./private-redis.js');
  let redis: import('./private-redis.js').RedisChoice | undefined;
  let hosts: import('./external-fleet.js').ExternalFleet | undefined;
  const { writableDirProblems } = await import('../shared/work-dir.js');
  const { driveRun } = await import('./drive-run.js');
  const progress = new ValidationProgress(cfg.file, !cfg.quiet && !cfg.json);
  try {
    try {
      workflow = loadWorkflowFile(cfg.file, { onPhase: progress.onPhase, maxNodes: cfg.maxNodes });
    } finally {
      progress.done();
    }
    for (const w of workflow.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
    // An external fleet is checked against its live hosts when the run starts.
    if (!external) checkBudget(workflow, cfg, workflowPath(cfg.file), { requestOf: (await import('../scheduler/node-request.js')).requestOf, withNodesLocated: (await import('./budget-located.js')).withNodesLocated, assertFitsBudget, clampWarnings });
    const nodeCrashDirs = [...new Set(workflow.nodes.flatMap((n) => (n.config?.crashdump_dir !== undefined ? [n.config.crashdump_dir] : [])))];
    const dirIssues = writableDirProblems([[cfg.workDir, '--work-dir'], [cfg.crashdumpDir, cfg.crashdumpFlag], ...nodeCrashDirs.map((d) => [d, 'config.crashdump_dir'] as const)]);
    if (dirIssues.length > 0) throw new ValidationError('OPTIONS_INVALID', dirIssues);
    // Everything is valid and nothing has touched Redis or the disk yet.
    redis = await chooseRedis({ redisUrl: cfg.redisUrl, prefix: cfg.prefix, logLevel: cfg.logLevel, explicit: cfg.redisExplicit }, cfg.workDir, 'start');
    cfg.redisUrl = redis.url;
    fleet.go(redis.url);
    if (external) {
      const { ExternalFleet } = await import('./external-fleet.js');
      hosts = new ExternalFleet(cfg.redisUrl, cfg.prefix, cfg.cap, logger);
      await hosts.start();
    }
    const { RunScheduler } = await import('../scheduler/scheduler.js');
    progress.onPhase('plan');
    scheduler = new RunScheduler({
      runId: cfg.runId,
      workflow,
      workflowFile: workflowPath(cfg.file),
      budget: cfg.budget,
      order: cfg.order,
      raiseInsufficient: cfg.raiseInsufficient,
      stopOnFirstCrash: cfg.stopOnFirstCrash,
      workDir: cfg.workDir,
      crashdumpDir: cfg.crashdumpDir,
      crashfileFormat: cfg.crashfileFormat,
      redisUrl: cfg.redisUrl,
      prefix: cfg.prefix,
      reconcileIntervalMs: cfg.reconcileIntervalMs,
      redisOutageMs: cfg.redisOutageMs,
      memoryMargin: cfg.memoryMargin,
      maxOutputBytes: cfg.maxOutputBytes,
      maxNodes: cfg.maxNodes,
      hashMethod: cfg.hashMethod,
      updateHash: cfg.updateHash,
      refuseWhilePreviousRun: !cfg.force,
      extra: { workers: external ? 0 : cfg.workers, max_tasks_per_child: cfg.maxTasksPerChild, fleet: cfg.fleet },
      logger,
      ...(hosts !== undefined ? { admission: hosts.admission } : {}),
    });
    hosts?.follow(scheduler);
  } catch (err) {
    await hosts?.close();
    await fleet.close(true);
    // A private Redis started for a run that could not start holds nothing.
    if (redis?.private?.started === true) await redis.private.stopIfIdle();
    throw err;
  } finally {
    progress.done();
  }
  const code = await driveRun({
    scheduler,
    fleet,
    json: cfg.json,
    quiet: cfg.quiet,
    explainCache: cfg.explainCache,
    logger,
    header:
      `flowgate: run ${cfg.runId} of ${workflow.name} (${workflow.nodes.length} nodes) on ${redis.label} prefix ${cfg.prefix}; ` +
      (external
        ? `placed per host on the registered workers (${scheduler.progress().budget.n_procs} procs / ${scheduler.progress().budget.mem_gb} GB live), scheduler ${cfg.order}`
        : `budget ${cfg.budget.n_procs} procs / ${cfg.budget.mem_gb} GB${Object.entries(cfg.budget.resources).map(([k, n]) => `, ${k} ${n}`).join('')}, scheduler ${cfg.order}, ${cfg.workers} worker process${cfg.workers === 1 ? '' : 'es'}`),
  }).finally(() => hosts?.close());
  // The run is finished and its lease released: it counts for retention too.
  // Retention trouble never changes the run's exit code.
  try {
    const { applyRetentionOnce } = await import('../scheduler/retention.js');
    const report = await applyRetentionOnce(cfg.redisUrl, cfg.prefix, cfg.retention);
    if (report !== undefined) logger.info({ removed: report.removed_runs, jobs: report.removed_jobs }, 'retention:applied');
  } catch (err) {
    logger.warn({ err }, 'retention could not be applied; it is tried again after the next run');
  }
  // The run has ended: its private Redis (kept on disk) is stopped; resume and status start it again.
  await redis.private?.stopIfIdle();
  return code;
}
