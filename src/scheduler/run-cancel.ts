/**
 * What cancelling a run does to its nodes, once its scheduler is in the
 * `cancelling` phase: nothing new is admitted and nodes that have not
 * started are cancelled; jobs that finished before the cancel keep their
 * outcome; the workers are told to kill the run's running nodes, and those
 * that never report are cancelled after a grace period.
 */
import type { ControlMessage } from '../shared/control.js';
import { Keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { Incoming } from './incoming.js';
import type { Notice } from './job-events.js';
import { triageForCancel } from './reconcile.js';
import type { RunDirLocks } from './run-dir-locks.js';
import type { NodeRuntime, RunGraph } from './run-graph.js';
import type { StepHost } from './run-steps.js';
import type { StepLoop } from './step-loop.js';

/** Collaborators of {@link RunCancel}. */
export interface RunCancelDeps {
  graph: RunGraph;
  loop: StepLoop<Incoming>;
  dirLocks: RunDirLocks;
  prefix: string;
  runId: string;
  /** How long running nodes have to report after the cancel (default 10000). */
  graceMs: number | undefined;
  log: Logger;
  /** The scheduler as its steps see it. */
  host: StepHost;
}

/** Cancels the nodes of one run. */
export class RunCancel {
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(private readonly d: RunCancelDeps) {}

  /**
   * Stops admitting, cancels the nodes that have not started (their jobs
   * are removed), announces the cancel to the workers and starts the grace
   * period of the running nodes.
   */
  async cancelNodes(reason: string): Promise<void> {
    const { graph, loop, host } = this.d;
    const c = host.conn;
    const notices: Notice[] = [];
    const cancelled = (n: NodeRuntime, why: string | null): Notice => ({ event: 'node:finished', data: { id: n.node.id, status: 'cancelled', reason: why } });
    for (const n of graph.stopAdmitting(reason)) notices.push(cancelled(n, reason));
    const triage = await triageForCancel(c.jobs, this.d.runId, graph.inFlightNodes());
    // Finished before the cancel: they keep their real outcome.
    for (const ev of triage.finished) loop.push(ev);
    for (const n of triage.unstarted) {
      if (graph.cancelInFlight(n.index, reason, n.attempt)) notices.push(cancelled(n, reason));
    }
    c.store.setMeta('cancel_requested', reason);
    if (graph.inFlight > 0 && host.active) {
      const msg: ControlMessage = { type: 'abort', run_id: this.d.runId, reason };
      await c.redis.publish(new Keys(this.d.prefix).control(), JSON.stringify(msg)).catch((err: unknown) => this.d.log.warn({ err }, 'cannot announce the cancel'));
      this.graceTimer = setTimeout(() => {
        for (const n of graph.inFlightNodes()) {
          // Its processes may still run: the directory stays locked until its worker lets it go (or the lock expires).
          this.d.dirLocks.workerReleased(n.index);
          graph.cancelInFlight(n.index, `${reason} (process did not report; assumed stopped)`);
        }
        host.kick();
      }, this.d.graceMs ?? 10_000);
      this.graceTimer.unref();
    }
    for (const n of notices) host.notify(n);
    host.kick();
  }

  /** Stops the grace period's timer. */
  stop(): void {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }
}
