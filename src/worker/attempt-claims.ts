/**
 * A worker's claims on node attempts (shared/node-claim.ts): claiming the
 * attempt a job points to, after checking its run's work dir, and refusing
 * jobs that are not admitted attempts; recording how the attempt ended in
 * the run store, and on disk while Redis is away.
 */
import { hostname } from 'node:os';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { writePendingOutcome } from '../shared/attempt-logs.js';
import { requireCjs } from '../shared/cjs.js';
import type { DirLock } from '../shared/dir-lock.js';
import type { Logger } from '../shared/logger.js';
import { claimNode, finishClaim, REFUSED_PREFIX, type ClaimEnd, type ClaimHistoryEntry } from '../shared/node-claim.js';
import { parseNodeJobData, parseNodeJobRef, type NodeJobData, type NodeJobRef, type NodeOutcome } from '../shared/payloads.js';
import { slotEnv } from './node-env.js';
import type { WorkDirGate } from './work-dir-gate.js';

const { UnrecoverableError } = requireCjs('bullmq') as typeof import('bullmq');
/** This host's name, read once (os.hostname() is a system call, and claims carry it). */
export const HOST = hostname();

/** The worker that claims, as its claims name it. */
export interface ClaimingWorker {
  name: string;
  /** The worker process's instance id. */
  instance: string;
  /** The host it belongs to (`--host-id`). */
  hostId: string;
  /** How often an attempt may be lost with its worker before it fails (the queue's `maxStalledCount`). */
  maxLost: number;
}

/** A claimed attempt: what to run, the node directory's lock, and the executions of the attempt lost before. */
export interface ClaimedAttempt {
  ref: NodeJobRef;
  data: NodeJobData;
  lock: DirLock | undefined;
  earlier: ClaimHistoryEntry[];
}

/** Claims attempts for one worker and records their ends. */
export class AttemptClaims {
  constructor(
    private readonly redis: () => Redis,
    private readonly prefix: string,
    private readonly worker: ClaimingWorker,
    private readonly workDirs: WorkDirGate,
    private readonly logger: Logger,
  ) {}

  /**
   * Claims the attempt a job points to and returns what to run; a job that
   * is not an admitted attempt (added by anyone but the scheduler, retried
   * after it ran, a copy of one running elsewhere) runs nothing and fails
   * as refused.
   */
  async claim(job: Job<NodeJobRef, NodeOutcome>, token: string | undefined): Promise<ClaimedAttempt> {
    const refuse = (why: string): never => {
      this.logger.warn({ jobId: job.id, reason: why }, 'worker:job-refused');
      throw new UnrecoverableError(`${REFUSED_PREFIX}${why}`);
    };
    let ref: NodeJobRef;
    try {
      ref = parseNodeJobRef(job.data);
    } catch (err) {
      return refuse(err instanceof Error ? err.message : String(err));
    }
    // Before the claim: a worker that does not see the run's work dir leaves
    // the node to another one, and the scheduler does not count it as a failure.
    let unshared: string | undefined;
    try {
      unshared = await this.workDirs.checkRun(ref.run_id);
    } catch (err) {
      return refuse(`cannot check the run's work dir: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (unshared !== undefined) return refuse(unshared);
    let claimed: Awaited<ReturnType<typeof claimNode>>;
    try {
      claimed = await claimNode(this.redis(), this.prefix, ref, { name: this.worker.name, instance: this.worker.instance, host: HOST, hostId: this.worker.hostId, maxLost: this.worker.maxLost }, token);
    } catch (err) {
      // Nothing was started: the scheduler's sweep adds the job again.
      return refuse(`cannot claim the attempt: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!claimed.ok) return refuse(`not admitted by the scheduler (${claimed.reason})`);
    let data: NodeJobData;
    try {
      data = parseNodeJobData(claimed.admission.spec);
    } catch (err) {
      return refuse(err instanceof Error ? err.message : String(err));
    }
    if (data.run_id !== ref.run_id || data.attempt !== ref.attempt) refuse('the stored admission is not this attempt');
    const slots = slotEnv(claimed.admission.slots);
    if (slots !== undefined) data = { ...data, env: { ...data.env, ...slots } };
    const lock = claimed.admission.lock;
    return { ref, data, lock: lock === undefined ? undefined : { key: lock.key, value: lock.value }, earlier: claimed.earlier };
  }

  /** Keeps the outcome on disk, for a scheduler that resumes the run after this worker gave up waiting for Redis (attempt-logs.ts). */
  keepPending(data: NodeJobData, outcome: NodeOutcome): void {
    try {
      writePendingOutcome(data.logs_dir as string, data.node_id, data.attempt, { state: outcome.ok ? 'succeeded' : 'failed', outcome });
    } catch (err) {
      this.logger.warn({ err, node: data.node_id }, 'worker:cannot keep the outcome on disk');
    }
  }

  /** Records how the claimed attempt ended in the run store (before the queue hears of it). */
  async endClaim(ref: NodeJobRef, end: ClaimEnd, lock: DirLock | undefined): Promise<void> {
    let mine: boolean;
    try {
      mine = await finishClaim(this.redis(), this.prefix, ref, { name: this.worker.name, instance: this.worker.instance }, end, lock);
    } catch (err) {
      // The queue still carries the outcome; the run store misses it only if both fail.
      this.logger.warn({ err, run: ref.run_id, node: ref.node_id }, 'worker:cannot record the outcome in the run store');
      return;
    }
    if (!mine) this.logger.warn({ run: ref.run_id, node: ref.node_id, attempt: ref.attempt }, 'worker:claim taken over while running (this worker was presumed lost)');
  }
}
