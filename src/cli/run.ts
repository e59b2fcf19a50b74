/**
 * `flowgate run WORKFLOW`: an embedded scheduler plus a local fleet of worker
 * processes, like nipype's `wf.run(plugin='MultiProc')`.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { SCHEDULER_ORDERS, type SchedulerOrder } from '../scheduler/admission.js';
import { RunScheduler } from '../scheduler/scheduler.js';
import type { RunSummary } from '../scheduler/summary.js';
import { availableCpus, defaultMemoryBudgetGb } from '../shared/capacity.js';
import { PREFIX_PATTERN, readEnv } from '../shared/config.js';
import { ExitCode, ValidationError, type ValidationIssue } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { checkRedis, redactUrl } from '../shared/redis.js';
import { loadWorkflowFile } from '../shared/workflow/parse.js';
import { Flags, parseArgs, type FlagSpec } from './args.js';
import { LocalFleet } from './fleet.js';
import { ProgressReporter } from './progress.js';
import { summaryText } from './summary-text.js';

export const RUN_FLAGS: readonly FlagSpec[] = [
  { name: 'n-procs', type: 'int', min: 1, value: 'N', help: 'thread budget (default: CPUs available to this process)' },
  { name: 'memory-gb', type: 'number', positive: true, value: 'G', help: 'memory budget in GB (default: 90% of available memory)' },
  { name: 'raise-insufficient', type: 'boolean', negatable: true, help: 'refuse nodes larger than the budget (default); --no-raise-insufficient runs them alone' },
  { name: 'scheduler', type: 'enum', choices: SCHEDULER_ORDERS, value: 'tsort|mem_thread', help: 'ready-node order (default tsort)' },
  { name: 'stop-on-first-crash', type: 'boolean', help: 'stop admitting at the first failure; running nodes finish' },
  { name: 'max-tasks-per-child', type: 'int', min: 1, value: 'N', help: 'nipype maxtasksperchild (default 10)' },
  { name: 'workers', type: 'int', min: 1, value: 'N', help: 'worker processes in the local fleet (default 1)' },
  { name: 'work-dir', type: 'string', value: 'DIR', help: 'node directories, logs, summaries (default ./flowgate-work)' },
  { name: 'crashdump-dir', type: 'string', value: 'DIR', help: 'crash records (default <work-dir>/_crashes)' },
  { name: 'json', type: 'boolean', help: 'print the run summary as JSON on stdout' },
  { name: 'quiet', type: 'boolean', help: 'no progress output on stderr' },
  { name: 'redis-url', type: 'string', value: 'URL', help: 'Redis URL (default $REDIS_URL or redis://127.0.0.1:6379)' },
  { name: 'prefix', type: 'string', value: 'P', help: 'key and BullMQ prefix (default $FLOWGATE_PREFIX or flowgate)' },
  { name: 'run-id', type: 'string', value: 'ID', help: 'choose the run id (default: generated)' },
  { name: 'reconcile-interval-ms', type: 'int', min: 100, value: 'MS', help: 'safety sweep period (default 5000)' },
];

const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** A fresh, sortable run id: `YYYYMMDD-HHMMSS-xxxxxx`. */
export function newRunId(now = new Date()): string {
  const iso = now.toISOString();
  return `${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}-${randomBytes(3).toString('hex')}`;
}

interface RunConfig {
  file: string;
  runId: string;
  budget: { n_procs: number; mem_gb: number };
  order: SchedulerOrder;
  raiseInsufficient: boolean;
  stopOnFirstCrash: boolean;
  maxTasksPerChild: number;
  workers: number;
  workDir: string;
  crashdumpDir: string;
  json: boolean;
  quiet: boolean;
  redisUrl: string;
  prefix: string;
  reconcileIntervalMs: number;
  logLevel: string;
}

function compileRunConfig(argv: readonly string[]): RunConfig {
  const flags = new Flags(parseArgs(argv, RUN_FLAGS));
  const issues: ValidationIssue[] = [];
  if (flags.positionals.length !== 1) {
    issues.push({ message: flags.positionals.length === 0 ? 'missing WORKFLOW file argument' : `expected one WORKFLOW file, received ${flags.positionals.length} arguments` });
  }
  const env = readEnv();
  const prefix = flags.str('prefix') ?? env.prefix;
  if (!PREFIX_PATTERN.test(prefix)) issues.push({ field: '--prefix', message: `must be 1-64 letters, digits, ".", "_" or "-", received "${prefix}"` });
  const runId = flags.str('run-id') ?? newRunId();
  if (!RUN_ID_PATTERN.test(runId)) issues.push({ field: '--run-id', message: `must be 1-64 letters, digits, "_" or "-", received "${runId}"` });
  const redisUrl = flags.str('redis-url') ?? env.redisUrl;
  if (!/^rediss?:\/\//.test(redisUrl)) issues.push({ field: '--redis-url', message: `must start with redis:// or rediss://, received "${redisUrl}"` });
  if (issues.length > 0) throw new ValidationError('OPTIONS_INVALID', issues);
  const workDir = resolve(flags.str('work-dir') ?? 'flowgate-work');
  return {
    file: flags.positionals[0] as string,
    runId,
    budget: { n_procs: flags.num('n-procs') ?? availableCpus(), mem_gb: flags.num('memory-gb') ?? defaultMemoryBudgetGb() },
    order: (flags.str('scheduler') ?? 'tsort') as SchedulerOrder,
    raiseInsufficient: flags.bool('raise-insufficient', true),
    stopOnFirstCrash: flags.bool('stop-on-first-crash', false),
    maxTasksPerChild: flags.num('max-tasks-per-child') ?? 10,
    workers: flags.num('workers') ?? 1,
    workDir,
    crashdumpDir: resolve(flags.str('crashdump-dir') ?? resolve(workDir, '_crashes')),
    json: flags.bool('json', false),
    quiet: flags.bool('quiet', false),
    redisUrl,
    prefix,
    reconcileIntervalMs: flags.num('reconcile-interval-ms') ?? 5000,
    logLevel: env.logLevel,
  };
}

/** Exit code for a finished run. */
export function exitCodeFor(summary: RunSummary): number {
  if (summary.status === 'succeeded') return ExitCode.ok;
  if (summary.status === 'cancelled') return ExitCode.interrupted;
  return ExitCode.runFailed;
}

/** Runs a workflow end to end; returns the exit code. */
export async function runCommand(argv: readonly string[]): Promise<number> {
  const cfg = compileRunConfig(argv);
  const workflow = loadWorkflowFile(cfg.file);
  const logger = createLogger(cfg.logLevel).child({ component: 'run' });
  // Constructing the scheduler performs the pre-run budget check: still
  // nothing has touched Redis or the disk.
  const scheduler = new RunScheduler({
    runId: cfg.runId,
    workflow,
    workflowFile: resolve(cfg.file),
    budget: cfg.budget,
    order: cfg.order,
    raiseInsufficient: cfg.raiseInsufficient,
    stopOnFirstCrash: cfg.stopOnFirstCrash,
    workDir: cfg.workDir,
    crashdumpDir: cfg.crashdumpDir,
    redisUrl: cfg.redisUrl,
    prefix: cfg.prefix,
    reconcileIntervalMs: cfg.reconcileIntervalMs,
    extra: { workers: cfg.workers, max_tasks_per_child: cfg.maxTasksPerChild },
    logger,
  });
  await checkRedis(cfg.redisUrl);

  const fleet = new LocalFleet({
    workers: cfg.workers,
    concurrency: Math.ceil(cfg.budget.n_procs / cfg.workers),
    maxTasksPerChild: cfg.maxTasksPerChild,
    redisUrl: cfg.redisUrl,
    prefix: cfg.prefix,
    name: `run-${cfg.runId.slice(-6)}`,
    logger,
  });
  const startedAt = Date.now();
  if (!cfg.quiet) {
    process.stderr.write(
      `flowgate: run ${cfg.runId} of ${workflow.name} (${workflow.nodes.length} nodes) on ${redactUrl(cfg.redisUrl)} prefix ${cfg.prefix}; ` +
        `budget ${cfg.budget.n_procs} procs / ${cfg.budget.mem_gb} GB, scheduler ${cfg.order}, ${cfg.workers} worker process(es)\n`,
    );
  }
  const progress = cfg.quiet ? undefined : new ProgressReporter(() => scheduler.progress(), workflow.nodes.length, startedAt);

  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts > 1) {
      process.stderr.write(`flowgate: second ${signal}, exiting now\n`);
      process.exit(ExitCode.interrupted);
    }
    process.stderr.write(`flowgate: ${signal} received, cancelling run ${cfg.runId} (again to exit at once)\n`);
    void fleet.close(true, 5000);
    void scheduler.cancel(`interrupted by ${signal}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let summary: RunSummary;
  try {
    fleet.start();
    await scheduler.start();
    progress?.start();
    summary = await scheduler.whenFinished();
  } finally {
    progress?.stop();
    await fleet.close(false);
    await scheduler.close().catch((err: unknown) => logger.warn({ err }, 'close failed'));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (cfg.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(`${summaryText(summary)}\n`);
  return exitCodeFor(summary);
}
