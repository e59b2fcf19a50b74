/**
 * Leader election of scheduler service replicas: whoever holds the leader
 * lease (src/shared/lease.ts) leads; the others stay passive and take over
 * when the leader stops renewing. One step at a time on a self-rescheduling
 * timer, so a renewal never overlaps another.
 */
import type { Redis } from 'ioredis';
import { Lease } from '../shared/lease.js';
import type { Logger } from '../shared/logger.js';

/** A standby looks at the leader lease at least this often. */
const STANDBY_POLL_MS = 1000;

/** What the election tells the service. */
export interface ElectionHandlers {
  /** This replica leads now. */
  lead(): Promise<void>;
  /** Still leading after a renewal. */
  renewed(): Promise<void>;
  /** Another replica took the lease: this one leads no more. */
  lost(why: string): Promise<void>;
  /** Another replica leads (called when the leader changes). */
  passive(leader: string): void;
}

/** Competes for the leader lease and keeps it while leading. */
export class LeaderElection {
  private readonly lease: Lease;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private passiveSeen: string | undefined;

  constructor(
    redis: Redis,
    key: string,
    holder: string,
    private readonly ttlMs: number,
    private readonly handlers: ElectionHandlers,
    private readonly log: Logger,
  ) {
    // Renewed by the steps below, not by a timer of its own.
    this.lease = new Lease(redis, key, { ttlMs, holder, renewEveryMs: 0 });
  }

  /** Whether this replica leads. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** Takes the first step (resolves once it is done) and keeps stepping. */
  start(): Promise<void> {
    return this.step();
  }

  /** One step: take, renew or lose the lease; reschedules itself. */
  private async step(): Promise<void> {
    if (this.stopped) return;
    let nextMs: number | undefined;
    try {
      if (this.leading) {
        const renewed = await this.lease.renew();
        if (renewed.outcome === 'lost') {
          this.leading = false;
          await this.handlers.lost(`the leader lease was lost (Redis unreachable for longer than the lease, and ${renewed.holder} leads now)`);
        } else {
          // Expired during an outage but taken by nobody: taken back rather than every run handed over.
          if (renewed.outcome === 'retaken') this.log.warn('the leader lease expired while Redis was unreachable; nobody took it, taken back');
          await this.handlers.renewed();
        }
      } else {
        // A leader that was a process on this host and is gone is displaced now, not when its lease runs out.
        const taken = await this.lease.acquire();
        if (taken.held && this.stopped) {
          // Stopped while the lease was being taken: hand it back rather than lead.
          await this.lease.release();
          return;
        }
        if (taken.held) {
          this.leading = true;
          this.passiveSeen = undefined;
          await this.handlers.lead();
        } else {
          if (this.passiveSeen !== taken.holder) {
            this.passiveSeen = taken.holder;
            this.handlers.passive(taken.holder);
          }
          // Try again as the leader's lease runs out, and at least every second (a leader on
          // this host that died is seen then): a standby takes over within one lease of the
          // leader's last renewal, and within a second of a local leader's death.
          const left = taken.ttlLeftMs;
          nextMs = Math.min(STANDBY_POLL_MS, this.ttlMs / 2, left > 0 ? left + 20 : STANDBY_POLL_MS);
        }
      }
    } catch (err) {
      this.log.warn({ err }, 'leader lease step failed; retrying');
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.step(), nextMs ?? (this.leading ? this.ttlMs / 3 : this.ttlMs / 2));
    this.timer.unref();
  }

  /** Stops competing; returns whether this replica was leading (then call {@link release}). */
  stop(): boolean {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const was = this.leading;
    this.leading = false;
    return was;
  }

  /** Hands the lease back at once (if it is still this replica's), so a standby need not wait it out. */
  async release(): Promise<void> {
    await this.lease.release();
  }
}
