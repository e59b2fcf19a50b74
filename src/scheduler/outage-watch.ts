/**
 * Watches a Redis connection: while it is down, commands wait for it; if it
 * stays down longer than a deadline, `onExpired` is called once.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';

/** Outage deadline for one connection. */
export class OutageWatch {
  private timer: NodeJS.Timeout | undefined;
  private downSince: number | undefined;
  /** When Redis last became reachable (or the watch started). */
  private upSince = Date.now();
  private stopped = false;

  constructor(
    redis: Redis,
    private readonly limitMs: number,
    private readonly log: Logger,
    private readonly onExpired: () => void,
    private readonly onRecovered: () => void,
  ) {
    redis.on('close', () => this.down());
    redis.on('ready', () => this.up());
  }

  /** Whether Redis is unreachable right now. */
  get isDown(): boolean {
    return this.downSince !== undefined;
  }

  /** How long Redis has been reachable without a break (0 while it is down). */
  connectedForMs(now = Date.now()): number {
    return this.downSince !== undefined ? 0 : now - this.upSince;
  }

  private down(): void {
    if (this.downSince !== undefined || this.stopped) return;
    this.downSince = Date.now();
    this.log.warn({ limitMs: this.limitMs }, 'redis unreachable; waiting for it');
    this.timer = setTimeout(() => this.onExpired(), this.limitMs);
    this.timer.unref();
  }

  private up(): void {
    if (this.downSince === undefined) return;
    this.log.warn({ downMs: Date.now() - this.downSince }, 'redis reachable again');
    this.downSince = undefined;
    this.upSince = Date.now();
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (!this.stopped) this.onRecovered();
  }

  /** Stops watching (the run is over). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}
