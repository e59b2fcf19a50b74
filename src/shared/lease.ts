/**
 * Leases in Redis: one holder at a time drives something (a run's scheduler,
 * the scheduler service's leader). A lease is a key whose value is its
 * holder (`host:pid`, see lease-holder.ts) and that expires unless the holder
 * renews it. Taking, renewing and giving it up are one Lua script each
 * (src/shared/lua/lease-*.lua), so every check and its change are atomic.
 *
 * Guarantees:
 * - renewals never overlap: a renewal asked for while one is in flight
 *   shares it. During a Redis outage renewals would otherwise queue up and
 *   race when Redis returns;
 * - a renewal succeeds only while the value is still the holder's; a lease
 *   that expired while nobody took it (an outage longer than the lease) is
 *   taken back; one another holder took is lost, and never touched;
 * - giving a lease up deletes it only while it is still the holder's.
 */
import { luaScript, withCommands } from './lua-commands.js';
import type { Redis } from 'ioredis';
import { holderIsDeadHere, thisHolder } from './lease-holder.js';
import { TypedEmitter } from './typed-emitter.js';

const scripts = {
  acquire: luaScript('lease-acquire'),
  renew: luaScript('lease-renew'),
  release: luaScript('lease-release'),
};

type LeaseCommands = {
  fgLeaseAcquire(key: string, holder: string, ttlMs: string, displace: string): Promise<[number, string, number]>;
  fgLeaseRenew(key: string, holder: string, ttlMs: string): Promise<[number, string]>;
  fgLeaseRelease(key: string, holder: string): Promise<number>;
};

/** The client with the lease scripts defined. */
function withScripts(redis: Redis): Redis & LeaseCommands {
  return withCommands<LeaseCommands>(redis, {
    fgLeaseAcquire: { numberOfKeys: 1, lua: scripts.acquire },
    fgLeaseRenew: { numberOfKeys: 1, lua: scripts.renew },
    fgLeaseRelease: { numberOfKeys: 1, lua: scripts.release },
  });
}

/** Options of a {@link Lease}. */
export interface LeaseOptions {
  /** Time to live of the lease (ms): a holder that stops renewing loses it after this long. */
  ttlMs: number;
  /** Who holds it. Default: this process, `host:pid` ({@link thisHolder}). */
  holder?: string;
  /**
   * Once taken, the lease renews itself this often (ms). Default `ttlMs / 3`;
   * 0: never on its own (the owner calls {@link Lease.renew}).
   */
  renewEveryMs?: number;
}

/** What {@link Lease.acquire} found. */
export type AcquireResult = { held: true } | { held: false; holder: string; ttlLeftMs: number };

/** What a renewal found: still ours (`renewed`), expired and taken back (`retaken`), or another's (`lost`). */
export type RenewResult = { outcome: 'renewed' } | { outcome: 'retaken' } | { outcome: 'lost'; holder: string };

/** Events of a {@link Lease}. Renewals the lease makes on its own report here. */
export interface LeaseEvents {
  /** The lease had expired and nobody had taken it: it is the holder's again. */
  'lease:retaken': { key: string; holder: string };
  /** Another holder has the lease; it is no longer renewed. */
  'lease:lost': { key: string; holder: string };
  /** A renewal could not reach Redis (it is tried again at the next period). */
  'lease:unreachable': { key: string; err: unknown };
}

/** What a key holds: its holder and time left, or nothing. */
export interface LeaseState {
  holder: string;
  /** ms left; -1 when the key has no expiry. */
  ttlLeftMs: number;
}

/** Reads who holds the lease at `key`, without taking part in it. */
export async function readLease(redis: Redis, key: string): Promise<LeaseState | undefined> {
  const rows = (await redis.multi().get(key).pttl(key).exec()) ?? [];
  for (const [err] of rows) if (err) throw err;
  const holder = rows[0]?.[1];
  if (typeof holder !== 'string') return undefined;
  return { holder, ttlLeftMs: Number(rows[1]?.[1] ?? -1) };
}

/** One lease, held (or wanted) by one holder. */
export class Lease extends TypedEmitter<LeaseEvents> {
  readonly key: string;
  readonly holder: string;
  readonly ttlMs: number;
  private readonly redis: Redis & LeaseCommands;
  private readonly renewEveryMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** The renewal in flight: every renewal asked for meanwhile shares it. */
  private inFlight: Promise<RenewResult> | undefined;
  /** Set by {@link stopRenewing} and {@link release}: a renewal that ends afterwards reports nothing. */
  private stopped = false;

  constructor(redis: Redis, key: string, options: LeaseOptions, onListenerError?: (err: unknown, event: string) => void) {
    super(onListenerError);
    this.redis = withScripts(redis);
    this.key = key;
    this.holder = options.holder ?? thisHolder();
    this.ttlMs = options.ttlMs;
    this.renewEveryMs = options.renewEveryMs ?? options.ttlMs / 3;
  }

  /**
   * Takes the lease if it is free or already ours. A holder that is a dead
   * process on this host is displaced at once rather than waited out.
   * Otherwise reports who holds it and for how much longer. Once taken, the
   * lease renews itself (unless `renewEveryMs` is 0).
   *
   * A holder names a process, so a lease already held under this holder is
   * this process's own (say, a run it dropped during an outage whose last
   * renewal landed after it was closed) and is taken again: a process must
   * not drive one thing twice at once, which its callers guarantee (the
   * service keeps one scheduler per run).
   */
  async acquire(): Promise<AcquireResult> {
    let [ok, holder, ttl] = await this.redis.fgLeaseAcquire(this.key, this.holder, String(this.ttlMs), '');
    if (ok !== 1 && holderIsDeadHere(holder)) [ok, holder, ttl] = await this.redis.fgLeaseAcquire(this.key, this.holder, String(this.ttlMs), holder);
    if (ok !== 1) return { held: false, holder, ttlLeftMs: ttl };
    this.startRenewing();
    return { held: true };
  }

  /**
   * Renews the lease (see lease-renew.lua); only for a holder that took it.
   * Never overlaps another renewal: while one is in flight, this returns it.
   * Rejects when Redis cannot be reached; a lost lease stops renewing itself.
   */
  renew(): Promise<RenewResult> {
    this.inFlight ??= this.renewOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async renewOnce(): Promise<RenewResult> {
    const [code, holder] = await this.redis.fgLeaseRenew(this.key, this.holder, String(this.ttlMs));
    if (code === 1) return { outcome: 'renewed' };
    if (code === 2) return { outcome: 'retaken' };
    this.clearTimer();
    return { outcome: 'lost', holder };
  }

  private startRenewing(): void {
    this.stopped = false;
    if (this.renewEveryMs <= 0 || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.renewOnTimer(), this.renewEveryMs);
    this.timer.unref();
  }

  private async renewOnTimer(): Promise<void> {
    // A tick while a renewal is in flight (Redis slow or away) is not a second renewal.
    if (this.inFlight !== undefined) return;
    try {
      const r = await this.renew();
      if (this.stopped) return;
      if (r.outcome === 'retaken') this.emit('lease:retaken', { key: this.key, holder: this.holder });
      if (r.outcome === 'lost') this.emit('lease:lost', { key: this.key, holder: r.holder });
    } catch (err) {
      if (!this.stopped) this.emit('lease:unreachable', { key: this.key, err });
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops renewing (the lease then expires unless released); a renewal in flight reports nothing. */
  stopRenewing(): void {
    this.stopped = true;
    this.clearTimer();
  }

  /** Whether the lease renews itself now. */
  get isRenewing(): boolean {
    return this.timer !== undefined;
  }

  /**
   * Gives the lease up: stops renewing and deletes it if it is still ours.
   * A renewal in flight was sent before, on the same connection, so it runs
   * first. Returns whether it was deleted.
   */
  async release(): Promise<boolean> {
    this.stopRenewing();
    return (await this.redis.fgLeaseRelease(this.key, this.holder)) === 1;
  }
}
