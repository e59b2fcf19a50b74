/**
 * A worker process's BullMQ side: takes node jobs from the queue and runs each
 * in its own process group. The event loop only spawns and waits, so lock
 * renewal never starves.
 */
import { hostname } from 'node:os';
import { Worker, type Job } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import { bullConnection } from '../shared/redis.js';
import { NODE_QUEUE, parseNodeJobData, type NodeJobData, type NodeOutcome } from '../shared/payloads.js';
import { killGroup, runCommand } from './run-command.js';

/** Options of a {@link NodeWorker}. */
export interface NodeWorkerOptions {
  redisUrl: string;
  prefix: string;
  /** Jobs run at once; default 1. */
  concurrency: number;
  /** Worker name shown in logs; default `host:pid`. */
  name?: string;
  /** BullMQ lock duration: how long a job survives without renewal (default 30000). */
  lockDurationMs?: number;
  /** How often BullMQ looks for stalled jobs (default 30000). */
  stalledIntervalMs?: number;
  /**
   * nipype's `maxtasksperchild`. Command nodes always run in a fresh process,
   * so this bounds nothing for them; it is recorded for the fleet.
   */
  maxTasksPerChild: number;
  logger: Logger;
}

type WorkerState = 'new' | 'running' | 'closing' | 'closed';

/** Thrown from the processor when a node fails; its message is the reason. */
export class NodeFailedError extends Error {
  constructor(readonly outcome: NodeOutcome) {
    super(outcome.reason ?? 'failed');
    this.name = 'NodeFailedError';
  }
}

/** Runs node jobs from the queue with a fixed concurrency. */
export class NodeWorker {
  readonly id: string;
  private state: WorkerState = 'new';
  private worker: Worker<NodeJobData, NodeOutcome> | undefined;
  private closing: Promise<void> | undefined;
  private readonly running = new Map<string, { controller: AbortController; pid: number | null }>();
  private completed = 0;

  constructor(private readonly options: NodeWorkerOptions) {
    this.id = options.name ?? `${hostname()}:${process.pid}`;
  }

  /** Nodes finished by this worker so far. */
  get tasksDone(): number {
    return this.completed;
  }

  /** Starts taking jobs. Idempotent. */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'running';
    const o = this.options;
    this.worker = new Worker<NodeJobData, NodeOutcome>(NODE_QUEUE, (job) => this.process(job), {
      connection: bullConnection(o.redisUrl, true),
      prefix: o.prefix,
      concurrency: o.concurrency,
      lockDuration: o.lockDurationMs ?? 30_000,
      stalledInterval: o.stalledIntervalMs ?? 30_000,
      maxStalledCount: 1,
      name: this.id,
      autorun: false,
    });
    this.worker.on('error', (err) => o.logger.error({ err }, 'worker error'));
    void this.worker.run().catch((err: unknown) => o.logger.error({ err }, 'worker stopped with an error'));
    await this.worker.waitUntilReady();
    o.logger.info({ worker: this.id, concurrency: o.concurrency }, 'worker:started');
  }

  private async process(job: Job<NodeJobData, NodeOutcome>): Promise<NodeOutcome> {
    const data = parseNodeJobData(job.data);
    const controller = new AbortController();
    const entry: { controller: AbortController; pid: number | null } = { controller, pid: null };
    this.running.set(job.id ?? '', entry);
    try {
      const outcome = await runCommand(data, {
        worker: this.id,
        signal: controller.signal,
        timeoutMs: data.timeout_s === null ? null : Math.round(data.timeout_s * 1000),
        onSpawn: (pid) => {
          entry.pid = pid;
        },
      });
      this.completed++;
      if (!outcome.ok) {
        // The scheduler reads the structured outcome from the job's data.
        await job.updateData({ ...data, outcome });
        throw new NodeFailedError(outcome);
      }
      return outcome;
    } finally {
      this.running.delete(job.id ?? '');
    }
  }

  /**
   * Stops taking jobs. Graceful: waits for running nodes. Forced: kills their
   * process groups first; their jobs fail and the scheduler records why.
   * Idempotent; concurrent calls share one promise.
   */
  close(force = false): Promise<void> {
    if (force) {
      for (const { controller, pid } of this.running.values()) {
        controller.abort();
        if (pid !== null) killGroup(pid, 'SIGKILL');
      }
    }
    if (this.closing !== undefined) return this.closing;
    this.state = 'closing';
    this.closing = (async () => {
      await this.worker?.close();
      this.state = 'closed';
      this.options.logger.info({ worker: this.id }, 'worker:closed');
    })();
    return this.closing;
  }
}
