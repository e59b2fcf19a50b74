/**
 * The node directory locks one run holds (see shared/dir-lock.ts): taken
 * when its nodes become ready — or ahead, while the one predecessor they
 * still wait for is in flight, so that a node becoming ready costs no round
 * trip — renewed while they are held or in flight, released when they end. A worker that ran the node releases the lock
 * itself when the node's processes have exited; the run releases the rest
 * (cached nodes, nodes cancelled or refused before any worker took them).
 */
import type { Redis } from 'ioredis';
import { DIR_LOCK_TTL_MS, dirLock, lockDirs, lockHolderRun, unlockDirs, type DirLock } from '../shared/dir-lock.js';
import type { Logger } from '../shared/logger.js';
import type { NodeRuntime } from './run-graph.js';

/** How often renewal looks for locks that are due. */
const RENEW_TICK_MS = 1000;
/** A lock is due for renewal this long after it was taken or last renewed. */
const RENEW_AFTER_MS = DIR_LOCK_TTL_MS / 3;
/**
 * Locks renewed per tick, at least: more when many are due, so that all
 * are renewed within this many ticks of falling due (well inside the TTL).
 */
const RENEW_MIN_PER_TICK = 1000;
const RENEW_SPREAD_TICKS = 5;

/** One run's node directory locks. */
export class RunDirLocks {
  private readonly held = new Map<number, DirLock>();
  /**
   * When each lock renewed by this run was last taken or renewed, oldest
   * first (an entry is moved to the end when renewed): a tick reads only
   * the due ones, never every held lock (a wide run holds 100 000).
   */
  private readonly renewedAt = new Map<number, number>();
  private renewing = false;
  /** Nodes whose worker released the lock when the node ended. */
  private readonly releasedByWorker = new Set<number>();
  private pending: DirLock[] = [];
  /** Locks being taken ahead (see {@link takeAhead}); {@link take} waits for them. */
  private ahead: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly prefix: string,
    private readonly runId: string,
    private readonly redis: () => Redis | undefined,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The lock of a node (held or not). */
  lockOf(n: NodeRuntime): DirLock {
    return this.held.get(n.index) ?? dirLock(this.prefix, this.runId, n.index, n.record.node_dir);
  }

  /**
   * Takes the locks of `nodes`; returns why each node whose directory another
   * run holds must wait. A lock this run holds already (taken ahead) costs no
   * round trip.
   */
  async take(nodes: readonly NodeRuntime[]): Promise<Map<number, string>> {
    const blocked = new Map<number, string>();
    if (this.ahead !== undefined) await this.ahead;
    const redis = this.redis();
    const missing = nodes.filter((n) => !this.held.has(n.index));
    if (redis === undefined || missing.length === 0) return blocked;
    const locks = missing.map((n) => this.lockOf(n));
    const result = await lockDirs(redis, this.runId, locks, 'take');
    const now = this.clock();
    missing.forEach((n, i) => {
      const holder = result[i] ?? '';
      if (holder === '') {
        this.held.set(n.index, locks[i] as DirLock);
        this.stamp(n.index, now);
      } else blocked.set(n.index, `node directory held by run ${lockHolderRun(holder)}`);
    });
    return blocked;
  }

  /**
   * Takes, ahead of time, the locks of nodes that are not ready yet but will
   * be when their predecessors in flight succeed. A lock another run holds is
   * left alone: the node takes it (or waits for it) when it becomes ready,
   * as any other. Failures are left to that moment too.
   */
  async takeAhead(nodes: readonly NodeRuntime[]): Promise<void> {
    const wanted = nodes.filter((n) => !this.held.has(n.index));
    if (wanted.length === 0) return;
    const taking = this.aheadOf(wanted).catch((err: unknown) => this.log.debug({ err }, 'cannot take node directory locks ahead; they are taken when the nodes become ready'));
    const previous = this.ahead;
    const both = previous === undefined ? taking : Promise.all([previous, taking]).then(() => undefined);
    this.ahead = both;
    await both;
    if (this.ahead === both) this.ahead = undefined;
  }

  private async aheadOf(wanted: readonly NodeRuntime[]): Promise<void> {
    const redis = this.redis();
    if (redis === undefined) return;
    const locks = wanted.map((n) => this.lockOf(n));
    const result = await lockDirs(redis, this.runId, locks, 'take');
    const now = this.clock();
    wanted.forEach((n, i) => {
      if (result[i] !== '') return;
      if (n.state === 'waiting' || n.state === 'ready') {
        this.held.set(n.index, locks[i] as DirLock);
        this.stamp(n.index, now);
      } else {
        // Settled meanwhile (skipped, cancelled, the run abandoned): released again, to be sure.
        this.pending.push(locks[i] as DirLock);
      }
    });
  }

  /** The node's worker ended its attempt and released the lock. */
  workerReleased(index: number): void {
    this.releasedByWorker.add(index);
  }

  /** The node reached a final state: its lock goes, unless its worker let it go already. */
  settle(n: NodeRuntime): void {
    const lock = this.held.get(n.index);
    this.held.delete(n.index);
    this.renewedAt.delete(n.index);
    if (this.releasedByWorker.delete(n.index)) return;
    this.pending.push(lock ?? this.lockOf(n));
  }

  /** Releases the locks of nodes settled since the last call. */
  async flushReleases(): Promise<void> {
    const redis = this.redis();
    if (redis === undefined || this.pending.length === 0) return;
    const locks = this.pending;
    this.pending = [];
    await unlockDirs(redis, this.prefix, locks);
  }

  /**
   * Renews the held locks and those of `inFlight` nodes every third of their
   * lifetime. Each tick renews only the locks that fell due, in bounded
   * numbers, so the work per tick does not grow with the run.
   */
  startRenewing(inFlight: () => readonly NodeRuntime[]): void {
    this.timer = setInterval(() => void this.renewDue(inFlight()), RENEW_TICK_MS);
    this.timer.unref();
  }

  private stamp(index: number, at: number): void {
    this.renewedAt.delete(index);
    this.renewedAt.set(index, at);
  }

  /**
   * One renewal tick: renews the locks that fell due (and those of
   * `inFlight` nodes not yet held), oldest first, at most a fifth of the
   * held locks (at least 1000). Returns how many it renewed.
   */
  async renewDue(inFlight: readonly NodeRuntime[]): Promise<number> {
    const redis = this.redis();
    if (redis === undefined || this.renewing) return 0;
    // In-flight nodes of a resumed run were never taken by this scheduler: due at once.
    for (const n of inFlight) {
      if (!this.held.has(n.index)) {
        this.held.set(n.index, this.lockOf(n));
        this.stamp(n.index, 0);
      }
    }
    const now = this.clock();
    const cap = Math.max(RENEW_MIN_PER_TICK, Math.ceil(this.renewedAt.size / RENEW_SPREAD_TICKS));
    const due: number[] = [];
    for (const [index, at] of this.renewedAt) {
      if (now - at < RENEW_AFTER_MS || due.length >= cap) break;
      due.push(index);
    }
    if (due.length === 0) return 0;
    this.renewing = true;
    try {
      const indices = due.filter((i) => this.held.has(i));
      const list = indices.map((i) => this.held.get(i) as DirLock);
      const result = await lockDirs(redis, this.runId, list, 'renew');
      const flying = new Set(inFlight.map((n) => n.index));
      result.forEach((holder, i) => {
        if (holder === '') return;
        if (holder !== '-') this.log.warn({ lock: list[i]?.value, holder }, 'node directory lock now held by another run');
        // Lost before its node ran (it expired): taken again when the node becomes ready.
        const index = indices[i] as number;
        if (!flying.has(index)) {
          this.held.delete(index);
          this.renewedAt.delete(index);
        }
      });
      // Settled meanwhile: gone from `held`, not stamped again.
      for (const i of indices) if (this.held.has(i)) this.stamp(i, now);
      return list.length;
    } catch (err) {
      this.log.warn({ err }, 'cannot renew node directory locks; will retry');
      return 0;
    } finally {
      this.renewing = false;
    }
  }

  /** Stops renewing. Locks still held expire, or are released by `releaseAll`. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** Releases every lock this run still holds (its scheduler ends the run). */
  async releaseAll(): Promise<void> {
    if (this.ahead !== undefined) await this.ahead;
    for (const lock of this.held.values()) this.pending.push(lock);
    this.held.clear();
    this.renewedAt.clear();
    await this.flushReleases();
  }
}
