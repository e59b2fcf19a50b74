/**
 * Retention: after runs finish, finished runs beyond the policy's limits are
 * removed from Redis (keys, index entry, BullMQ jobs), so a long-lived
 * service keeps its Redis memory flat. Node directories are never touched
 * here (`flowgate prune --work-dirs` does that on request).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { NODE_QUEUE, queueOf } from '../shared/payloads.js';
import { bullConnection, createRedis } from '../shared/redis.js';
import { requireCjs } from '../shared/cjs.js';
import { retentionEnabled, selectForRetention, type RetentionPolicy } from './prune-plan.js';
import { pruneRuns, readRunEntries, type JobRemover, type PruneReport } from './run-pruner.js';

/** Applies a retention policy once; returns what was removed. */
export async function applyRetention(redis: Redis, prefix: string, jobs: JobRemover, policy: RetentionPolicy, now = Date.now()): Promise<PruneReport | undefined> {
  if (!retentionEnabled(policy)) return undefined;
  const entries = await readRunEntries(redis, prefix);
  const selected = selectForRetention(entries, policy, now);
  if (selected.length === 0) return undefined;
  return pruneRuns({ redis, prefix, jobs, entries, selected });
}

/**
 * A BullMQ queue handle for removing jobs, for commands that have none open
 * (`prune`, the end of `flowgate run`). Its errors reach the caller.
 */
export async function openJobRemover(redisUrl: string, prefix: string): Promise<JobRemover & { close(): Promise<void> }> {
  const { Queue } = requireCjs('bullmq') as typeof import('bullmq');
  // skipMetasUpdate: removing jobs must not rewrite the queue's settings.
  const open = (name: string): import('bullmq').Queue => {
    const q = new Queue(name, { connection: bullConnection(redisUrl), prefix, skipMetasUpdate: true });
    q.on('error', () => undefined);
    return q;
  };
  const queue = open(NODE_QUEUE);
  await queue.waitUntilReady();
  // Host queues (per-host placement), opened as their jobs come up.
  const hosts = new Map<string, import('bullmq').Queue>();
  const queueOfHost = (host: string): import('bullmq').Queue => {
    let q = hosts.get(host);
    if (q === undefined) {
      q = open(queueOf(host));
      hosts.set(host, q);
    }
    return q;
  };
  return {
    remove: (jobId, host) => (host === undefined ? queue : queueOfHost(host)).remove(jobId),
    close: async () => {
      await Promise.all([queue.close(), ...[...hosts.values()].map((q) => q.close())]);
    },
  };
}

/** What a {@link RetentionTask} needs. */
export interface RetentionTaskOptions {
  redis: Redis;
  prefix: string;
  jobs: JobRemover;
  policy: RetentionPolicy;
  /** At most one application per this period; requests in between are folded into one after it. */
  minIntervalMs: number;
  logger: Logger;
  /** Told after each application that removed something. */
  onApplied?: (report: PruneReport) => void;
}

/**
 * Retention for the scheduler service: `request()` after each finished run;
 * applied at once when the last application is older than `minIntervalMs`,
 * else once when that period ends, however many requests came meanwhile.
 */
export class RetentionTask {
  private lastMs = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly o: RetentionTaskOptions) {}

  /** Asks for an application (rate-limited; never throws). */
  request(): void {
    if (this.closed || !retentionEnabled(this.o.policy)) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) return;
    const wait = this.lastMs + this.o.minIntervalMs - Date.now();
    if (wait <= 0) {
      this.run();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, wait);
    this.timer.unref();
  }

  private run(): void {
    this.lastMs = Date.now();
    this.running = applyRetention(this.o.redis, this.o.prefix, this.o.jobs, this.o.policy)
      .then((report) => {
        if (report === undefined) return;
        this.o.logger.info({ removed: report.removed_runs, jobs: report.removed_jobs, skipped: report.skipped.length }, 'retention:applied');
        this.o.onApplied?.(report);
      })
      .catch((err: unknown) => this.o.logger.warn({ err }, 'retention failed; trying again after the next run'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.request();
        }
      });
  }

  /** Stops: no further application; waits for one in progress. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

/**
 * Connects, applies a retention policy once and disconnects (the end of
 * `flowgate run`). The queue is opened only when some run is due.
 */
export async function applyRetentionOnce(redisUrl: string, prefix: string, policy: RetentionPolicy, now = Date.now()): Promise<PruneReport | undefined> {
  if (!retentionEnabled(policy)) return undefined;
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  let jobs: Awaited<ReturnType<typeof openJobRemover>> | undefined;
  try {
    await redis.connect();
    const entries = await readRunEntries(redis, prefix);
    const selected = selectForRetention(entries, policy, now);
    if (selected.length === 0) return undefined;
    jobs = await openJobRemover(redisUrl, prefix);
    return await pruneRuns({ redis, prefix, jobs, entries, selected });
  } finally {
    await jobs?.close().catch(() => undefined);
    redis.disconnect();
  }
}
