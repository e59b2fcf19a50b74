/**
 * The part of {@link run} and {@link resume} that drives a run: a local
 * worker fleet, the scheduler, the status callback and the abort signal,
 * everything released again (the last first) whatever happens.
 */
import { LocalFleet } from '../cli/fleet.js';
import { RunScheduler } from '../scheduler/scheduler.js';
import type { SchedulerOptions } from '../scheduler/scheduler-types.js';
import { withPlainAttempts } from '../scheduler/node-record.js';
import type { RunSummary } from '../scheduler/summary.js';
import type { Logger } from '../shared/logger.js';
import { Releasers } from '../shared/releasers.js';

/** What happened to a node, as the status callback hears it (see run.ts). */
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

/** What an exception thrown by the status callback does. */
export type CallbackErrors = 'abort' | 'log';

/** How to drive one run. */
export interface DriveOptions {
  runId: string;
  scheduler: Omit<SchedulerOptions, 'logger'>;
  workers: number;
  /** Executors are replaced after this many nodes (a very large number: never). */
  maxTasksPerChild: number;
  /** Flags every worker of the fleet gets. */
  workerArgs: string[];
  fleetName: string;
  logger: Logger;
  statusCallback?: ((event: StatusEvent) => void) | undefined;
  callbackErrors: CallbackErrors;
  signal?: AbortSignal | undefined;
}

/** Drives the run to its end; resolves with its summary. */
export async function driveLocal(o: DriveOptions): Promise<RunSummary> {
  const { redisUrl, prefix, budget } = o.scheduler;
  const { logger } = o;
  const fleet = new LocalFleet({
    workers: o.workers,
    concurrency: Math.ceil(budget.n_procs / o.workers),
    maxTasksPerChild: o.maxTasksPerChild,
    redisUrl,
    prefix,
    name: o.fleetName,
    logger,
    extraArgs: o.workerArgs,
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
    const s = new RunScheduler({ ...o.scheduler, logger });
    scheduler = s;
    releasers.add('the scheduler', () => s.close());
    if (o.statusCallback !== undefined) tellStatus(s, o.runId, o.statusCallback, o.callbackErrors, callback, logger);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    releasers.add('the abort listener', () => o.signal?.removeEventListener('abort', onAbort));
    await fleet.whenReady();
    await s.start();
    if (o.signal?.aborted === true) onAbort();
    // The records' attempts as plain objects: the caller owns what it is given.
    summary = withPlainAttempts(await s.whenFinished());
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
function tellStatus(scheduler: RunScheduler, runId: string, cb: (event: StatusEvent) => void, onError: CallbackErrors, callback: { error?: { err: unknown } }, logger: Logger): void {
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
