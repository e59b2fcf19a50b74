/**
 * Lost workers found from their heartbeats, in seconds. A worker that stops
 * beating for three intervals (6 s by default) while it holds a claim of this
 * run is lost: its claim is ended in the run store (atomically, only if it
 * still has not beaten), the processes it left on this host are killed, and
 * its job goes back to the queue at once (or fails as "worker lost" when its
 * worker's queue allows no more reruns) — instead of after BullMQ's job lock
 * (30 s) and stalled check (30 s) expire, which remain as the backstop.
 *
 * An outage of Redis stops every heartbeat at once: nobody is judged lost
 * until this scheduler has been connected for four heartbeat intervals, time
 * enough for every live worker to beat again.
 */
import { hostname } from 'node:os';
import type { Job } from 'bullmq';
import type { JobChannel } from './job-channel.js';
import type { Redis } from 'ioredis';
import { Keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { endLostClaim, readClaims, WORKER_LOST, type Claim } from '../shared/node-claim.js';
import { reapWorkerProcesses } from '../shared/orphan-reaper.js';
import { nodeJobId, type NodeJobRef } from '../shared/payloads.js';
import type { WorkerInfo } from '../shared/worker-registry.js';

/** The heartbeat interval assumed for a worker whose registration is gone. */
const DEFAULT_HEARTBEAT_MS = 2000;

/** An in-flight node as this check needs it. */
export interface InFlightNode {
  index: number;
  attempt: number;
  /** Times it was already lost (its record's `stalls`). */
  stalls: number;
}

/** What became of a lost worker's node. */
export interface LostNode {
  index: number;
  attempt: number;
  worker: string;
  /** `requeued`: it runs again; `failed`: lost more often than its worker allows. */
  as: 'requeued' | 'failed';
  /** Processes of the lost worker killed on this host. */
  reaped: number[];
  /**
   * Whether this check moved the job: false when BullMQ had already put it
   * back (its lock expired first), and reported it as stalled itself.
   */
  moved: boolean;
  /** Why, for the node's record. */
  reason: string;
}

/** Whether a registration shows the claim's worker instance alive at `now`. */
export function beating(raw: string | null | undefined, claim: Pick<Claim, 'instance'>, now: number): boolean {
  if (raw === null || raw === undefined) return false;
  try {
    const info = JSON.parse(raw) as Partial<WorkerInfo>;
    return info.instance === claim.instance && now - (info.heartbeat_ms ?? 0) <= 3 * (info.heartbeat_interval_ms ?? DEFAULT_HEARTBEAT_MS);
  } catch {
    return false;
  }
}

/** Finds this run's nodes held by lost workers and sends them back (or fails them). */
export class LostWorkerCheck {
  private readonly keys: Keys;
  private readonly host = hostname();
  private running = false;

  constructor(
    private readonly redis: Redis,
    private readonly jobs: Pick<JobChannel, 'getJob'>,
    /** The host a node's attempt was placed on (its job is in that host's queue). */
    private readonly hostOf: (index: number) => string | undefined,
    private readonly prefix: string,
    private readonly runId: string,
    private readonly log: Logger,
  ) {
    this.keys = new Keys(prefix);
  }

  /**
   * One check. `connectedForMs`: how long this scheduler has had Redis
   * without a break; `cancelling`: lost nodes fail instead of running again.
   * Never runs twice at once (a slow check is not overtaken by the next tick).
   */
  async check(nodes: readonly InFlightNode[], connectedForMs: number, cancelling: boolean, now = Date.now()): Promise<LostNode[]> {
    if (this.running || nodes.length === 0 || connectedForMs < 4 * DEFAULT_HEARTBEAT_MS) return [];
    this.running = true;
    try {
      return await this.lost(nodes, connectedForMs, cancelling, now);
    } finally {
      this.running = false;
    }
  }

  private async lost(nodes: readonly InFlightNode[], connectedForMs: number, cancelling: boolean, now: number): Promise<LostNode[]> {
    const claims = await readClaims(this.redis, this.prefix, this.runId, nodes.map((n) => n.index));
    const held = nodes.flatMap((n) => {
      const claim = claims.get(n.index)?.claim;
      return claim !== undefined && claim.state === 'running' && claim.attempt === n.attempt ? [{ node: n, claim }] : [];
    });
    if (held.length === 0) return [];
    const names = [...new Set(held.map((h) => h.claim.worker))];
    const regs = await this.redis.mget(...names.map((w) => this.keys.worker(w)));
    const reg = new Map(names.map((w, i) => [w, regs[i]]));
    const out: LostNode[] = [];
    for (const { node, claim } of held) {
      const raw = reg.get(claim.worker);
      if (beating(raw, claim, now)) continue;
      // Its registration says how often it beats; a claim younger than three
      // beats (or than this scheduler's connection) is not judged yet.
      const interval = intervalOf(raw, claim) ?? DEFAULT_HEARTBEAT_MS;
      if (now - claim.start_ms <= 3 * interval || connectedForMs < 4 * interval) continue;
      // Counted per attempt, as BullMQ counts a job's stalls: executions of
      // this attempt already lost with their worker (a node placed again
      // after its host was lost is a new attempt and starts from none).
      const lostBefore = (claim.history ?? []).filter((h) => h.ended.startsWith(WORKER_LOST)).length;
      const as = cancelling || lostBefore >= (claim.max_lost ?? 1) ? 'failed' : 'requeued';
      if (!(await endLostClaim(this.redis, this.prefix, { run_id: this.runId, node_index: node.index, attempt: node.attempt }, claim.instance, as, now))) continue;
      const reaped = claim.host === this.host ? reapWorkerProcesses(claim.instance) : [];
      const reason = `worker lost: worker ${claim.worker} stopped beating while it ran the node${as === 'failed' ? ` (lost ${lostBefore + 1} time(s); its queue allows ${claim.max_lost ?? 1})` : ''}`;
      const moved = await this.release(nodeJobId(this.runId, node.index, node.attempt), this.hostOf(node.index), claim, as, reason);
      this.log.warn({ node: node.index, attempt: node.attempt, worker: claim.worker, host: claim.host, reaped, as, moved }, `node:${WORKER_LOST}`);
      out.push({ index: node.index, attempt: node.attempt, worker: claim.worker, as, reaped, reason, moved });
    }
    return out;
  }

  /**
   * Puts the job back on the queue (or fails it) with the lost worker's lock
   * token. If that fails (its lock expired and BullMQ moved it already), the
   * ended claim still lets the next worker take the attempt over.
   */
  private async release(jobId: string, host: string | undefined, claim: Claim, as: 'requeued' | 'failed', reason: string): Promise<boolean> {
    if (claim.job_token === undefined) return false;
    try {
      const job: Job<NodeJobRef> | undefined = await this.jobs.getJob(jobId, host);
      if (job === undefined) return false;
      if (as === 'requeued') await job.moveToWait(claim.job_token);
      else await job.moveToFailed(new Error(reason), claim.job_token, false);
      return true;
    } catch (err) {
      this.log.debug({ err, jobId }, 'lost worker: job not moved (BullMQ has it already)');
      return false;
    }
  }
}

function intervalOf(raw: string | null | undefined, claim: Pick<Claim, 'instance'>): number | undefined {
  if (raw === null || raw === undefined) return undefined;
  try {
    const info = JSON.parse(raw) as Partial<WorkerInfo>;
    return info.instance === claim.instance ? info.heartbeat_interval_ms : undefined;
  } catch {
    return undefined;
  }
}
