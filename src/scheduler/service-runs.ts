/**
 * The runs the leading scheduler service drives (service.ts), each on a
 * RunScheduler sharing the service's admission: started, or resumed from its
 * durable state, when it is submitted or adopted; deferred while another live
 * scheduler's lease holds it; a pending retry request honoured first; started
 * again later after an error that may pass; rejected (stored as failed) when
 * it cannot run; followed to its end.
 */
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { FlowgateError, toFlowgateError } from '../shared/errors.js';
import type { Keys } from '../shared/keys.js';
import { readLease } from '../shared/lease.js';
import { holderIsDeadHere } from '../shared/lease-holder.js';
import type { Logger } from '../shared/logger.js';
import { SERVICE_BUDGET_HINT } from '../shared/options/defaults.js';
import { parseRetryNodes } from '../shared/retry-request.js';
import type { HostWatch } from './host-watch.js';
import type { JobChannel } from './job-channel.js';
import { prepareRetry } from './retry.js';
import { definitionFromMeta } from './run-definition.js';
import { RunScheduler } from './scheduler.js';
import type { ServiceEvents, ServiceOptions } from './service-types.js';
import type { ServiceAdmission } from './shared-admission.js';
import type { RunSummary } from './summary.js';

/** What the runs need of their service: its settings, its connection and what its current leadership term holds. */
export interface ServiceRunsContext {
  readonly options: ServiceOptions;
  readonly keys: Keys;
  /** This replica's lease holder id. */
  readonly holder: string;
  /** Time to live of the leader lease, and of the runs' leases. */
  readonly ttlMs: number;
  readonly log: Logger;
  /** The service connection (set once the service starts). */
  redis(): Redis | undefined;
  /** Whether this replica leads now. */
  isLeader(): boolean;
  /** The admission of the current leadership term. */
  admission(): ServiceAdmission;
  /** The job channel of the current leadership term. */
  channel(): JobChannel | undefined;
  /** The host watch of the current leadership term (per-host placement). */
  hostWatch(): HostWatch | undefined;
  /** A run finished or was rejected: retention is due. */
  retentionDue(): void;
  /** Emits one of the service's events. */
  emit<K extends keyof ServiceEvents>(event: K, payload: ServiceEvents[K]): void;
}

/** The runs a leading service drives, and those it is about to start. */
export class ServiceRuns {
  private readonly runs = new Map<string, RunScheduler>();
  /** Runs being started or waiting for a dead leader's run lease to expire. */
  private readonly pending = new Set<string>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  /**
   * Runs still leased by a previous scheduler, waited for before they are
   * adopted: admission stays paused meanwhile, since their running nodes'
   * holds are not in the ledger yet.
   */
  private readonly awaitingAdoption = new Set<string>();
  /** Runs deferred until their previous scheduler's lease runs out. */
  private readonly deferred = new Set<string>();

  constructor(private readonly ctx: ServiceRunsContext) {}

  /** Ids of the runs driven. */
  ids(): string[] {
    return [...this.runs.keys()];
  }

  /** The run driven as `runId`, if any. */
  get(runId: string): RunScheduler | undefined {
    return this.runs.get(runId);
  }

  /**
   * Stops the starts to come (their timers cleared, none pending) and hands
   * the runs driven over, no longer tracked, for the caller to close.
   */
  takeAll(): RunScheduler[] {
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    const runs = [...this.runs.values()];
    this.runs.clear();
    this.pending.clear();
    return runs;
  }

  /**
   * Starts (or resumes) service run `runId` while this replica leads, unless
   * it is driven or being started already: one that cannot start now is
   * tried again later, one that cannot run is rejected.
   */
  async start(runId: string): Promise<void> {
    try {
      await this.startRunNow(runId);
    } finally {
      // Adopted, refused or gone: either way, it no longer keeps admission waiting.
      if (!this.deferred.has(runId) && this.awaitingAdoption.delete(runId)) this.ctx.admission().resume();
    }
  }

  private async startRunNow(runId: string): Promise<void> {
    this.deferred.delete(runId);
    if (!this.ctx.isLeader() || this.runs.has(runId) || this.pending.has(runId)) return;
    this.pending.add(runId);
    const redis = this.ctx.redis() as Redis;
    let resume = false;
    try {
      let meta = await redis.hgetall(this.ctx.keys.runMeta(runId));
      if (meta['retry_requested'] !== undefined && (meta['status'] === 'failed' || meta['status'] === 'cancelled')) {
        const retry = await this.prepareRetry(runId, meta['retry_requested']);
        if (retry !== 'ready') {
          this.pending.delete(runId);
          if (retry === 'later') this.retryLater(runId, 2000);
          return;
        }
        meta = await redis.hgetall(this.ctx.keys.runMeta(runId));
      }
      const status = meta['status'];
      if (meta['mode'] !== 'service' || (status !== 'submitted' && status !== 'running')) {
        this.pending.delete(runId);
        return;
      }
      resume = status === 'running';
      // A run another live scheduler holds (a previous leader's, or one it is
      // starting) is taken when that lease runs out. A holder that was a
      // process on this host and is gone is not waited for.
      const lease = await readLease(redis, this.ctx.keys.runLease(runId));
      if (lease !== undefined && lease.ttlLeftMs > 0 && lease.holder !== this.ctx.holder && !holderIsDeadHere(lease.holder)) {
        this.ctx.log.info({ runId, holder: lease.holder, waitMs: lease.ttlLeftMs }, `run still leased by another scheduler; taking it when the lease ends${resume ? ' (admission waits for it)' : ''}`);
        this.deferStart(runId, resume, lease.ttlLeftMs + 100);
        return;
      }
      // Per-host placement: a new run is checked against the hosts as they are now.
      if (!resume) await this.ctx.hostWatch()?.fresh();
      if (!this.ctx.isLeader()) {
        this.pending.delete(runId);
        return;
      }
      const def = definitionFromMeta(runId, meta);
      // Submitted without --work-dir: the service's own (the shared volume).
      if (def.workDir === '') def.workDir = this.ctx.options.workDir;
      if (def.crashdumpDir === '') def.crashdumpDir = join(def.workDir, '_crashes');
      const submittedMs = Number(meta['submitted_ms'] ?? meta['started_ms'] ?? Date.now());
      const channel = this.ctx.channel();
      const run = new RunScheduler({
        ...def,
        budget: this.ctx.options.budget,
        // A submitted run has no budget of its own: the service's is raised.
        budgetHint: SERVICE_BUDGET_HINT,
        redisUrl: this.ctx.options.redisUrl,
        prefix: this.ctx.options.prefix,
        resume,
        leaseTtlMs: this.ctx.ttlMs,
        ...(this.ctx.options.reconcileIntervalMs !== undefined ? { reconcileIntervalMs: this.ctx.options.reconcileIntervalMs } : {}),
        logger: this.ctx.log,
        ...(channel !== undefined ? { channel } : {}),
        admission: this.ctx.admission(),
      });
      // A resumed run's running nodes are in the ledger only once it restored them.
      if (resume) this.ctx.admission().pause();
      this.ctx.admission().add(run, submittedMs);
      this.runs.set(runId, run);
      this.pending.delete(runId);
      try {
        await run.start();
      } finally {
        if (resume) this.ctx.admission().resume();
      }
      // Only a started run is followed: a failed start is handled below (its end rejects too).
      run.whenFinished().then(
        (summary) => void this.finished(run, summary),
        (err: unknown) => void this.dropped(run, err),
      );
      this.ctx.log.info({ runId, resumed: resume, active: this.runs.size }, 'service:run-started');
      this.ctx.emit('run:started', { runId, resumed: resume });
    } catch (err) {
      this.pending.delete(runId);
      const run = this.runs.get(runId);
      if (run !== undefined) {
        this.runs.delete(runId);
        this.ctx.admission().remove(run);
        await run.close().catch(() => undefined);
      }
      // Decided by the error's code: a lease held elsewhere or Redis trouble
      // is tried again later and never fails a healthy run; anything else
      // (a definition that cannot run, a bug) rejects it.
      const e = toFlowgateError(err);
      if (e.retryable) {
        this.ctx.log.warn({ runId, err, code: e.code }, 'cannot start run now; trying again later');
        this.deferStart(runId, resume, 2000);
      } else await this.reject(runId, e);
    }
  }

  /**
   * Starts the run again after `ms`. Until a resumed run is adopted, nothing
   * is admitted: its running nodes' holds are not in the ledger yet.
   */
  private deferStart(runId: string, resume: boolean, ms: number): void {
    if (resume) {
      this.deferred.add(runId);
      if (!this.awaitingAdoption.has(runId)) {
        this.awaitingAdoption.add(runId);
        this.ctx.admission().pause();
      }
    }
    this.retryLater(runId, ms);
  }

  /**
   * A retry asked for from the board or `flowgate retry`: the run's nodes are
   * reset (on a connection of its own: the reset is a watched transaction)
   * and the run is resumed like any other. A request that cannot be honoured
   * is dropped with the reason in the run's meta (`retry_refused`); one that
   * may succeed later (the run's lease still held, Redis trouble) is kept.
   */
  private async prepareRetry(runId: string, raw: string): Promise<'ready' | 'refused' | 'later'> {
    const conn = (this.ctx.redis() as Redis).duplicate();
    try {
      const nodes = parseRetryNodes(raw);
      if (nodes === undefined) throw new FlowgateError('OPTIONS_INVALID', `malformed retry request ${JSON.stringify(raw)}`);
      const plan = await prepareRetry(conn, this.ctx.options.prefix, runId, nodes);
      this.ctx.log.info({ runId, nodes: plan.reset }, 'service:retrying nodes');
      return 'ready';
    } catch (err) {
      const e = toFlowgateError(err);
      if (e.retryable) {
        this.ctx.log.warn({ err, runId, code: e.code }, 'service:retry request cannot be honoured now; trying again later');
        return 'later';
      }
      this.ctx.log.warn({ err, runId }, 'service:retry request refused');
      await conn
        .multi()
        .hdel(this.ctx.keys.runMeta(runId), 'retry_requested')
        .hset(this.ctx.keys.runMeta(runId), 'retry_refused', e.message)
        .exec()
        .catch(() => undefined);
      return 'refused';
    } finally {
      conn.disconnect();
    }
  }

  private retryLater(runId: string, ms: number): void {
    const t = setTimeout(() => {
      this.retryTimers.delete(t);
      this.pending.delete(runId);
      void this.start(runId);
    }, ms);
    t.unref();
    this.retryTimers.add(t);
  }

  /** A run that cannot be started (a non-retryable error) ends failed, with the reason stored for `status` and `submit --wait`. */
  private async reject(runId: string, err: FlowgateError): Promise<void> {
    const error = err.message;
    this.ctx.log.warn({ runId, error, code: err.code }, 'service:run-rejected');
    try {
      await this.ctx.redis()
        ?.multi()
        .hset(this.ctx.keys.runMeta(runId), { status: 'failed', error, finished_ms: String(Date.now()) })
        .publish(this.ctx.keys.control(), JSON.stringify({ type: 'finished', run_id: runId, status: 'failed' }))
        .exec();
    } catch (e) {
      this.ctx.log.error({ err: e, runId }, 'cannot store the rejection of a run');
    }
    this.ctx.emit('run:rejected', { runId, error });
    this.ctx.retentionDue();
  }

  private async finished(run: RunScheduler, summary: RunSummary): Promise<void> {
    if (this.runs.get(run.runId) !== run) return;
    this.runs.delete(run.runId);
    this.ctx.admission().remove(run);
    await run.close().catch((err: unknown) => this.ctx.log.warn({ err, runId: run.runId }, 'error while closing a finished run'));
    await this.ctx.redis()?.publish(this.ctx.keys.control(), JSON.stringify({ type: 'finished', run_id: run.runId, status: summary.status })).catch(() => undefined);
    this.ctx.log.info({ runId: run.runId, status: summary.status, counts: summary.counts, active: this.runs.size }, 'service:run-finished');
    this.ctx.emit('run:finished', summary);
    // After the run's lease is released (close): it counts as finished now.
    this.ctx.retentionDue();
  }

  /**
   * A run whose scheduler stopped with an error. Its lease taken, Redis gone
   * for too long (retryable): its state stays in Redis and it is adopted
   * again later. Anything else (a bug) would only repeat: the run is rejected.
   */
  private async dropped(run: RunScheduler, err: unknown): Promise<void> {
    if (this.runs.get(run.runId) !== run) return;
    this.runs.delete(run.runId);
    this.ctx.admission().remove(run);
    const e = toFlowgateError(err);
    this.ctx.log.error({ err, code: e.code, runId: run.runId }, e.retryable ? 'run stopped; its state stays in Redis and it is adopted again when possible' : 'run stopped');
    await run.close().catch(() => undefined);
    if (!this.ctx.isLeader()) return;
    if (e.retryable) this.retryLater(run.runId, this.ctx.ttlMs);
    else await this.reject(run.runId, e);
  }
}
