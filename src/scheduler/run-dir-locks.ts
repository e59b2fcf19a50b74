/**
 * The node directory locks one run holds (see shared/dir-lock.ts): taken
 * when its nodes become ready, renewed while they are ready or in flight,
 * released when they end. A worker that ran the node releases the lock
 * itself when the node's processes have exited; the run releases the rest
 * (cached nodes, nodes cancelled or refused before any worker took them).
 */
import type { Redis } from 'ioredis';
import { DIR_LOCK_TTL_MS, dirLock, lockDirs, lockHolderRun, unlockDirs, type DirLock } from '../shared/dir-lock.js';
import type { Logger } from '../shared/logger.js';
import type { NodeRuntime } from './run-graph.js';

/** One run's node directory locks. */
export class RunDirLocks {
  private readonly held = new Map<number, DirLock>();
  /** Nodes whose worker released the lock when the node ended. */
  private readonly releasedByWorker = new Set<number>();
  private pending: DirLock[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly prefix: string,
    private readonly runId: string,
    private readonly redis: () => Redis | undefined,
    private readonly log: Logger,
  ) {}

  /** The lock of a node (held or not). */
  lockOf(n: NodeRuntime): DirLock {
    return this.held.get(n.index) ?? dirLock(this.prefix, this.runId, n.index, n.record.node_dir);
  }

  /** Takes the locks of `nodes`; returns why each node whose directory another run holds must wait. */
  async take(nodes: readonly NodeRuntime[]): Promise<Map<number, string>> {
    const blocked = new Map<number, string>();
    const redis = this.redis();
    if (redis === undefined || nodes.length === 0) return blocked;
    const locks = nodes.map((n) => this.lockOf(n));
    const result = await lockDirs(redis, this.runId, locks, 'take');
    nodes.forEach((n, i) => {
      const holder = result[i] ?? '';
      if (holder === '') this.held.set(n.index, locks[i] as DirLock);
      else blocked.set(n.index, `node directory held by run ${lockHolderRun(holder)}`);
    });
    return blocked;
  }

  /** The node's worker ended its attempt and released the lock. */
  workerReleased(index: number): void {
    this.releasedByWorker.add(index);
  }

  /** The node reached a final state: its lock goes, unless its worker let it go already. */
  settle(n: NodeRuntime): void {
    const lock = this.held.get(n.index);
    this.held.delete(n.index);
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

  /** Renews the held locks and those of `inFlight` nodes every third of their lifetime. */
  startRenewing(inFlight: () => readonly NodeRuntime[]): void {
    this.timer = setInterval(() => void this.renew(inFlight()), DIR_LOCK_TTL_MS / 3);
    this.timer.unref();
  }

  private async renew(inFlight: readonly NodeRuntime[]): Promise<void> {
    const redis = this.redis();
    if (redis === undefined) return;
    const locks = new Map(this.held);
    for (const n of inFlight) if (!locks.has(n.index)) locks.set(n.index, this.lockOf(n));
    if (locks.size === 0) return;
    try {
      const list = [...locks.values()];
      const result = await lockDirs(redis, this.runId, list, 'renew');
      result.forEach((holder, i) => {
        if (holder !== '' && holder !== '-') this.log.warn({ lock: list[i]?.value, holder }, 'node directory lock now held by another run');
      });
    } catch (err) {
      this.log.warn({ err }, 'cannot renew node directory locks; will retry');
    }
  }

  /** Stops renewing. Locks still held expire, or are released by `releaseAll`. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** Releases every lock this run still holds (its scheduler ends the run). */
  async releaseAll(): Promise<void> {
    for (const lock of this.held.values()) this.pending.push(lock);
    this.held.clear();
    await this.flushReleases();
  }
}
