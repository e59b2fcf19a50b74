/**
 * Worker registration and heartbeat: who is working, where, on what. Written
 * to `<prefix>:fg:worker:<name>` (expiring) and scored in `<prefix>:fg:workers`
 * by the time of the last beat, so a worker that stops beating shows as lost.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { Keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { listWorkers, type CurrentNode, type WorkerInfo } from '../shared/worker-registry.js';
import { reapWorkerProcesses } from '../shared/orphan-reaper.js';

export type { CurrentNode, WorkerInfo };

/** How long a worker that stopped beating stays listed (as lost) at least. */
const LOST_LISTED_MS = 60_000;

/** Every this many beats, lost workers of this host are looked for (their orphans reaped). */
const REAP_EVERY_BEATS = 5;

/** Periodically publishes a {@link WorkerInfo}. */
export class WorkerHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private readonly keys: Keys;
  private readonly startedMs = Date.now();
  private beats = 0;
  /** Lost peers already reaped (by instance). */
  private readonly reaped = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly info: () => Omit<WorkerInfo, 'host' | 'pid' | 'started_ms' | 'heartbeat_ms' | 'heartbeat_interval_ms'>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {
    this.keys = new Keys(prefix);
  }

  /** Beats now and then every interval. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(
      () =>
        void this.beat()
          .then(() => (++this.beats % REAP_EVERY_BEATS === 0 ? this.reapLostPeers() : undefined))
          .catch((err: unknown) => this.logger.warn({ err }, 'heartbeat failed')),
      this.intervalMs,
    );
    this.timer.unref();
  }

  /** Publishes the current state now. */
  async beat(): Promise<void> {
    const now = Date.now();
    const info: WorkerInfo = {
      ...this.info(),
      host: hostname(),
      pid: process.pid,
      started_ms: this.startedMs,
      heartbeat_ms: now,
      heartbeat_interval_ms: this.intervalMs,
    };
    const key = this.keys.worker(info.name);
    // The key outlives a few missed beats, then disappears; the sorted set
    // keeps the name so a lost worker is still listed (as lost).
    await this.redis
      .multi()
      .set(key, JSON.stringify(info), 'PX', Math.max(this.intervalMs * 10, LOST_LISTED_MS))
      .zadd(this.keys.workers(), now, info.name)
      .exec();
  }

  /**
   * Kills what lost workers of this host left running (orphan-reaper.ts): the
   * scheduler does so when it runs on the same host; this covers a scheduler
   * elsewhere, as long as one worker of the host lives.
   */
  private async reapLostPeers(): Promise<void> {
    const host = hostname();
    for (const w of await listWorkers(this.redis, this.prefix)) {
      if (w.status !== 'lost' || w.host !== host || this.reaped.has(w.instance)) continue;
      this.reaped.add(w.instance);
      const killed = reapWorkerProcesses(w.instance);
      if (killed.length > 0) this.logger.warn({ worker: w.name, killed }, 'worker:killed the processes a lost worker of this host left running');
    }
  }

  /** Stops beating and deregisters. */
  async stop(name: string): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.redis.multi().del(this.keys.worker(name)).zrem(this.keys.workers(), name).exec();
  }
}

