/**
 * What a run's scheduler shows of its run: its live progress, and its ready
 * queue with each node's waiting reason, published for dashboards at most
 * twice a second; and a slow side duty, watching the worker registry for
 * workers lost while they ran the run's nodes.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { listWorkers } from '../shared/worker-registry.js';
import { ledgerAmounts } from './ledger.js';
import type { RunGraph } from './run-graph.js';
import type { RunProgress } from './scheduler-types.js';

/** What the ready-queue snapshot holds besides its time. */
export type WaitingSnapshotBody = Pick<RunProgress, 'budget' | 'free' | 'waiting'> & {
  /** The node queue is paused: its admitted nodes are listed in `waiting` with that reason. */
  queue_paused: boolean;
};

/** Why an admitted node does not start while the node queue is paused. */
export const QUEUE_PAUSED_REASON = 'queue paused: the node is admitted but no worker takes jobs from a paused queue; resume it with `flowgate queue resume` (or in Bull Board)';

/** Period of the ready-queue snapshot. */
const WAITING_EVERY_MS = 500;
/** Ready nodes the dashboards' snapshot lists, at most. */
const WAITING_SHOWN = 200;

/**
 * The ready queue for dashboards: ready nodes not admitted, with why; while
 * the node queue is paused, admitted nodes that have not started come
 * first, with that reason (they would otherwise look like a silent stall).
 */
export function waitingSnapshot(graph: RunGraph, paused: boolean): WaitingSnapshotBody {
  const stuck = paused ? graph.inFlightNodes().filter((n) => n.state === 'queued').map((n) => ({ id: n.node.id, reason: QUEUE_PAUSED_REASON })) : [];
  // The first 200 only, computed as such: a large run has 100 000 ready nodes.
  const waiting = [...stuck.slice(0, WAITING_SHOWN), ...graph.waiting(WAITING_SHOWN - Math.min(stuck.length, WAITING_SHOWN))];
  return { ...ledgerAmounts(graph.ledger), waiting, queue_paused: paused };
}

/** Live counts, running nodes, free resources, the first waiting nodes and the workers seen. */
export function runProgress(graph: RunGraph, workers: RunProgress['workers']): RunProgress {
  const counts = graph.counts();
  return {
    counts,
    running: graph.inFlightNodes().filter((n) => n.state === 'running').map((n) => n.node.id),
    ...ledgerAmounts(graph.ledger),
    waiting: graph.waiting(20),
    workers,
  };
}

/**
 * Writes the ready queue with each node's waiting reason (for the board and
 * `flowgate status`): at most twice a second, and once after the last change.
 */
export class WaitingPublisher {
  private writtenMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: () => Redis | undefined,
    private readonly key: string,
    private readonly snapshot: () => WaitingSnapshotBody,
    private readonly clock: () => number,
    private readonly log: Logger,
  ) {}

  /** Asks for a write; coalesced with any write already due. */
  request(): void {
    if (this.timer !== undefined || this.redis() === undefined) return;
    const due = this.writtenMs + WAITING_EVERY_MS - this.clock();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writtenMs = this.clock();
      const body = JSON.stringify({ at_ms: this.writtenMs, ...this.snapshot() });
      this.redis()
        ?.set(this.key, body)
        .catch((err: unknown) => this.log.debug({ err }, 'cannot write the waiting snapshot'));
    }, Math.max(0, due));
    this.timer.unref();
  }

  /** Stops writing; with `remove`, deletes the snapshot (the run ended). */
  async stop(remove: boolean): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (remove) await this.redis()?.del(this.key).catch(() => undefined);
  }
}

/** Counts registered workers and warns once for each lost worker that ran nodes of the run. */
export class WorkerWatch {
  counts = { alive: 0, lost: 0 };
  private readonly reported = new Set<string>();

  constructor(
    private readonly prefix: string,
    private readonly runId: string,
    private readonly log: Logger,
  ) {}

  async check(redis: Redis): Promise<void> {
    const workers = await listWorkers(redis, this.prefix);
    const lost = workers.filter((w) => w.status === 'lost');
    this.counts = { alive: workers.length - lost.length, lost: lost.length };
    for (const w of lost) {
      const mine = w.current.filter((c) => c.run_id === this.runId).map((c) => c.node_id);
      if (mine.length > 0 && !this.reported.has(w.name)) {
        this.reported.add(w.name);
        this.log.warn({ worker: w.name, nodes: mine }, 'worker lost while running nodes of this run; they are retried once their job locks expire');
      }
    }
  }
}
