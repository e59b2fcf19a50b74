/**
 * The scheduler's side of the queue: adding node jobs, and hearing about
 * them through BullMQ queue events, read from a position fixed before any job
 * of the run exists so that nothing of the run is missed.
 */
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { NODE_QUEUE, parseNodeJobId, type NodeJobData, type NodeOutcome } from '../shared/payloads.js';
import { bullConnection } from '../shared/redis.js';
import type { Incoming } from './incoming.js';
import type { NodeJob } from './node-job.js';

/**
 * The queue and its events, shared by the runs of one scheduler process:
 * events are routed to the run whose job they concern, so a service with many
 * runs reads the events stream once.
 */
export class JobChannel {
  private queue: Queue<NodeJobData> | undefined;
  private events: QueueEvents | undefined;
  private readonly listeners = new Map<string, (ev: Incoming) => void>();

  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  /** Routes events about the jobs of `runId` to `onIncoming`. */
  subscribe(runId: string, onIncoming: (ev: Incoming) => void): void {
    this.listeners.set(runId, onIncoming);
  }

  unsubscribe(runId: string): void {
    this.listeners.delete(runId);
  }

  /** Opens the queue and starts listening from the events stream's current end. */
  async open(redis: Redis): Promise<Queue<NodeJobData>> {
    if (this.queue !== undefined) return this.queue;
    this.queue = new Queue<NodeJobData>(NODE_QUEUE, { connection: bullConnection(this.redisUrl), prefix: this.prefix });
    this.queue.on('error', (err) => this.log.warn({ err }, 'queue error'));
    const key = this.queue.keys['events'] ?? `${this.prefix}:${NODE_QUEUE}:events`;
    const last = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
    const events = new QueueEvents(NODE_QUEUE, {
      connection: bullConnection(this.redisUrl),
      prefix: this.prefix,
      lastEventId: last[0]?.[0] ?? '0-0',
      blockingTimeout: 5000,
    });
    this.events = events;
    events.on('error', (err) => this.log.warn({ err }, 'queue events error'));
    events.on('active', ({ jobId }) => this.receive(jobId, (index, attempt) => ({ kind: 'active', index, attempt })));
    events.on('completed', ({ jobId, returnvalue }) =>
      this.receive(jobId, (index, attempt) => ({ kind: 'completed', index, attempt, outcome: returnvalue as unknown as NodeOutcome })),
    );
    events.on('stalled', ({ jobId }) => this.receive(jobId, (index, attempt) => ({ kind: 'stalled', index, attempt })));
    events.on('failed', ({ jobId, failedReason }) => this.receive(jobId, (index, attempt) => ({ kind: 'failed', index, attempt, reason: failedReason })));
    await events.waitUntilReady();
    return this.queue;
  }

  private receive(jobId: string, make: (index: number, attempt: number) => Incoming): void {
    const parsed = parseNodeJobId(jobId);
    if (parsed === undefined) return;
    this.listeners.get(parsed.runId)?.(make(parsed.nodeIndex, parsed.attempt));
  }

  /** Adds jobs; a single job is one script call (addBulk wraps even one in MULTI). */
  async add(jobs: readonly NodeJob[]): Promise<void> {
    const queue = this.queue;
    if (queue === undefined || jobs.length === 0) return;
    if (jobs.length === 1 && jobs[0] !== undefined) await queue.add(jobs[0].name, jobs[0].data, jobs[0].opts);
    else await queue.addBulk([...jobs]);
  }

  /** A job by id. */
  getJob(jobId: string): Promise<Job<NodeJobData> | undefined> {
    return this.queue?.getJob(jobId) ?? Promise.resolve(undefined);
  }

  /** Removes a job that has not started; 1 if removed, 0 if it could not be (running, locked). */
  async remove(jobId: string): Promise<number> {
    try {
      return (await this.queue?.remove(jobId)) ?? 0;
    } catch {
      return 0;
    }
  }

  /** Closes politely, or just drops the connections when Redis is gone. */
  async close(redisDown: boolean): Promise<void> {
    if (redisDown) {
      void this.events?.disconnect().catch(() => undefined);
      void this.queue?.disconnect().catch(() => undefined);
      return;
    }
    await this.events?.close();
    await this.queue?.close();
  }
}
