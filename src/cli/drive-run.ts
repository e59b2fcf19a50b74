/**
 * Drives a started run to its end for `run` and `resume`: progress on stderr,
 * two-stage interrupt handling, the summary on stdout, orderly teardown.
 */
import type { RunScheduler } from '../scheduler/scheduler.js';
import { summaryJsonChunks, type RunSummary } from '../scheduler/summary.js';
import { writeChunks } from '../shared/json-stream.js';
import { ExitCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { LocalFleet } from './fleet.js';
import { ProgressReporter } from './progress.js';
import { summaryText } from './summary-text.js';

/** How long a run waits for its workers before starting anyway. */
const FLEET_READY_TIMEOUT_MS = 15_000;

/** What {@link driveRun} needs. */
export interface DriveOptions {
  scheduler: RunScheduler;
  fleet: LocalFleet;
  json: boolean;
  quiet: boolean;
  /** Print why each node ran instead of being taken from its cache record. */
  explainCache?: boolean;
  /** Printed on stderr when the run starts (it names the run id). */
  header: string;
  logger: Logger;
}

/** Exit code for a finished run. */
export function exitCodeFor(summary: RunSummary): number {
  if (summary.status === 'succeeded') return ExitCode.ok;
  if (summary.status === 'cancelled') return ExitCode.interrupted;
  return ExitCode.runFailed;
}

/** Prints a summary as JSON (one line, streamed node by node) or text. */
export async function printSummary(summary: RunSummary, json: boolean): Promise<void> {
  if (json) await writeChunks(process.stdout, summaryJsonChunks(summary));
  else process.stdout.write(`${summaryText(summary)}\n`);
}

/** One line per node: taken from the cache, or why it ran. */
export function explainCache(summary: RunSummary): string {
  const lines = summary.nodes.map((n) => {
    if (n.status === 'cached') return `  ${n.id}: cached${n.cache !== undefined && n.cache.reasons.length > 0 ? ` (${n.cache.reasons.join('; ')})` : ''}`;
    if (n.cache === undefined) return `  ${n.id}: ${n.status}, not checked (${n.reason ?? 'never became ready'})`;
    return `  ${n.id}: ran (${n.status}) because ${n.cache.reasons.join('; ')}`;
  });
  return `cache:\n${lines.join('\n')}\n`;
}

/** How long a second interrupt waits for the run to be stored as cancelled before exiting. */
const ABANDON_MS = 2000;

/** Runs the scheduler to the end with the fleet; returns the exit code. */
export async function driveRun(o: DriveOptions): Promise<number> {
  const { scheduler, fleet } = o;
  const startedAt = Date.now();
  const progress = o.quiet ? undefined : new ProgressReporter(() => scheduler.progress(), () => scheduler.graph.size, startedAt);

  // Signals are handled here, in the entry point: first one cancels the run
  // (running nodes are killed, the summary is still printed), second exits.
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts > 1) {
      process.stderr.write(`flowgate: second ${signal}, killing every node and exiting now\n`);
      fleet.kill();
      // The run is stored as cancelled before the exit (at most 2 s), so no view shows it running.
      const exit = (): never => process.exit(ExitCode.interrupted);
      setTimeout(exit, ABANDON_MS).unref();
      void scheduler.abandon(`interrupted twice by ${signal}: every node process killed`).then(exit, exit);
      return;
    }
    process.stderr.write(`flowgate: ${signal} received, cancelling run ${scheduler.runId} (again to exit at once)\n`);
    void scheduler.cancel(`interrupted by ${signal}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Printed once the handlers are in place: whoever reacts to the header can interrupt the run.
  if (!o.quiet) process.stderr.write(`${o.header}\n`);

  let summary: RunSummary | undefined;
  try {
    // The run's clock starts when it can execute: wait (boundedly) for the
    // fleet to come up, so start-up cost is not charged to the first nodes.
    await Promise.race([fleet.whenReady(), new Promise((r) => setTimeout(r, FLEET_READY_TIMEOUT_MS).unref())]);
    await scheduler.start();
    progress?.start();
    summary = await scheduler.whenFinished();
    progress?.stop();
    // The result first; tearing down the fleet and connections comes after.
    await printSummary(summary, o.json);
    if (o.explainCache === true) process.stderr.write(explainCache(summary));
  } finally {
    progress?.stop();
    // Without a summary the run failed (e.g. Redis gone): do not wait long.
    await Promise.all([
      fleet.close(summary === undefined, summary === undefined ? 3000 : 15_000),
      scheduler.close().catch((err: unknown) => o.logger.warn({ err }, 'close failed')),
    ]);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return exitCodeFor(summary);
}
