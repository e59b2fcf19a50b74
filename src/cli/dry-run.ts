/**
 * `flowgate run WORKFLOW --dry-run`: what the run would do, from the cache
 * records alone. Starts no worker, needs no Redis, creates no directory.
 */
import type { DryRunReport } from '../scheduler/dry-run.js';
import type { SchedulerOrder } from '../scheduler/admission.js';
import type { HashMethod } from '../shared/cache-record.js';

/** What the dry run needs of the run's options. */
export interface DryRunConfig {
  file: string;
  workDir: string;
  budget: { n_procs: number; mem_gb: number };
  order: SchedulerOrder;
  raiseInsufficient: boolean;
  hashMethod: HashMethod;
  updateHash: boolean;
  maxNodes: number | undefined;
  json: boolean;
  /** No progress line while a large workflow is validated and simulated. */
  quiet: boolean;
}

/** The report as text, one line per node. */
export function dryRunText(r: DryRunReport): string {
  const lines = [`flowgate: dry run of ${r.workflow} in ${r.work_dir} (budget ${r.budget.n_procs} procs / ${r.budget.mem_gb} GB)`];
  for (const n of r.nodes) {
    const indent = n.element_of === undefined ? '  ' : '    ';
    const why = n.reasons.length > 0 ? ` (${n.reasons.join('; ')})` : '';
    lines.push(`${indent}${n.id}: ${n.verdict}${why}`);
  }
  for (const n of r.budget.refused) lines.push(`refused: ${n.id} needs ${n.n_procs} procs / ${n.mem_gb} GB, more than the budget (raise --n-procs/--memory-gb or pass --no-raise-insufficient)`);
  for (const w of r.budget.clamped) lines.push(`clamped: ${w}`);
  lines.push(`${r.counts.would_run} of ${r.counts.total} nodes would run, ${r.counts.cached} cached${r.can_start ? '' : '; the run could not start'}`);
  return `${lines.join('\n')}\n`;
}

/** Runs the dry run; returns the exit code (0: the run could start, 2: it could not). */
export async function dryRunCommand(cfg: DryRunConfig): Promise<number> {
  const { loadWorkflowFile } = await import('../shared/workflow/parse.js');
  const { dryRun } = await import('../scheduler/dry-run.js');
  const { ValidationProgress } = await import('./validation-progress.js');
  const progress = new ValidationProgress(cfg.file, !cfg.quiet && !cfg.json);
  let workflow: ReturnType<typeof loadWorkflowFile>;
  try {
    workflow = loadWorkflowFile(cfg.file, { onPhase: progress.onPhase, ...(cfg.maxNodes !== undefined ? { maxNodes: cfg.maxNodes } : {}) });
  } finally {
    progress.done();
  }
  for (const w of workflow.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  progress.onPhase('simulate');
  const report = await dryRun({
    workflow,
    workDir: cfg.workDir,
    budget: cfg.budget,
    order: cfg.order,
    raiseInsufficient: cfg.raiseInsufficient,
    hashMethod: cfg.hashMethod,
    updateHash: cfg.updateHash,
  }).finally(() => progress.done());
  process.stdout.write(cfg.json ? `${JSON.stringify(report, null, 2)}\n` : dryRunText(report));
  return report.can_start ? 0 : 2;
}
