/**
 * A run's nodes lost with their host or their worker. A lost host's nodes
 * (per-host placement: their holds went with the host) are placed again,
 * unless their worker recorded an outcome before the host went; on a timer,
 * the lost-worker check (lost-workers.ts) sends the nodes of workers that
 * stopped beating back to the queue, or fails them. Either way the outcome
 * reaches the run as an event, applied in its next step.
 */
import type { Logger } from '../shared/logger.js';
import { readClaims, type ClaimRecord } from '../shared/node-claim.js';
import type { Incoming } from './incoming.js';
import { LostWorkerCheck } from './lost-workers.js';
import type { RunConnections } from './run-connections.js';
import type { RunGraph } from './run-graph.js';
import type { StepHost } from './run-steps.js';
import type { StepLoop } from './step-loop.js';

/** Collaborators of {@link LostNodes}. */
export interface LostNodesDeps {
  graph: RunGraph;
  loop: StepLoop<Incoming>;
  prefix: string;
  runId: string;
  clock: () => number;
  log: Logger;
  /** The scheduler as its steps see it (whether it is active, why it is cancelling, a step asked for). */
  host: StepHost;
  /** The connections, once open. */
  connection(): RunConnections | undefined;
  /** Runs the run's safety sweep now (see run-steps.ts). */
  sweep(intervalMs: number): Promise<void>;
}

/** Places a lost host's nodes again, and checks for lost workers on a timer. */
export class LostNodes {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly d: LostNodesDeps) {}

  /** Starts the lost-worker check, every `intervalMs`. */
  start(conn: RunConnections, intervalMs: number): void {
    const { graph, prefix, runId, log } = this.d;
    const lost = new LostWorkerCheck(conn.redis, conn.jobs, (index) => graph.nodes[index]?.record.host, prefix, runId, log);
    this.timer = setInterval(() => void this.findLost(lost), intervalMs);
    this.timer.unref();
  }

  /** Stops the lost-worker check. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Reads the claims of a lost host's nodes first: a node whose worker
   * recorded its outcome before the host went is finished by the sweep with
   * that outcome (never run again); the others are placed again, the lost
   * execution (worker, start) kept in their history.
   */
  async placeAgain(indices: readonly number[], host: string): Promise<void> {
    const redis = this.d.connection()?.redis;
    let claims = new Map<number, ClaimRecord>();
    try {
      if (redis !== undefined) claims = await readClaims(redis, this.d.prefix, this.d.runId, indices);
    } catch (err) {
      this.d.log.warn({ err }, 'cannot read the claims of a lost host; placing its nodes again');
    }
    let finished = false;
    for (const index of indices) {
      const n = this.d.graph.nodes[index];
      if (n === undefined) continue;
      const rec = claims.get(index);
      const claim = rec?.claim.attempt === n.attempt ? rec : undefined;
      if (claim?.outcome !== undefined) {
        finished = true;
        continue;
      }
      // Running when the host went, or already ended as lost by the run's lost-worker check.
      const ran = claim?.claim.state === 'running' || claim?.claim.state === 'requeued' ? { worker: claim.claim.worker, start_ms: claim.claim.start_ms } : {};
      this.d.loop.push({ kind: 'unplaced', index, attempt: n.attempt, reason: `host lost: host ${host} stopped heartbeating`, ...ran });
    }
    if (finished) void this.d.sweep(0);
    this.d.host.kick();
  }

  /** In-flight nodes whose worker stopped beating go back to the queue (or fail) at once; see lost-workers.ts. */
  private async findLost(check: LostWorkerCheck): Promise<void> {
    const { host, graph, loop } = this.d;
    const conn = this.d.connection();
    if (!host.active || conn === undefined) return;
    try {
      const nodes = graph.inFlightNodes().map((n) => ({ index: n.index, attempt: n.attempt, stalls: n.record.stalls }));
      const lost = await check.check(nodes, conn.outage.connectedForMs(), host.cancelReason !== undefined, this.d.clock());
      for (const l of lost) {
        // A job BullMQ put back itself was reported stalled by BullMQ already.
        if (l.as === 'requeued' && l.moved) loop.push({ kind: 'stalled', index: l.index, attempt: l.attempt });
        if (l.as === 'failed') loop.push({ kind: 'failed', index: l.index, attempt: l.attempt, reason: l.reason });
      }
      if (lost.length > 0) host.kick();
    } catch (err) {
      this.d.log.warn({ err }, 'lost-worker check failed; will retry');
    }
  }
}
