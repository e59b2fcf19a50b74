/**
 * The scheduler service (`flowgate scheduler`): a long-running process that
 * drives every run submitted with `flowgate submit`, all sharing one host
 * budget. Replicas elect a leader through a lease in Redis; the others stay
 * passive and take over, resuming the leader's runs from their durable state,
 * when it stops renewing.
 */
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { subscribeControl, type ControlMessage } from '../shared/control.js';
import { FlowgateError, toFlowgateError } from '../shared/errors.js';
import { Keys } from '../shared/keys.js';
import { readLease } from '../shared/lease.js';
import { holderIsDeadHere, thisHolder } from '../shared/lease-holder.js';
import { parseRetryNodes } from '../shared/retry-request.js';
import { prepareRetry } from './retry.js';
import type { Logger } from '../shared/logger.js';
import { closeRedis, connectionName, createRedis } from '../shared/redis.js';
import { SingleFlight } from '../shared/lifecycle.js';
import { registerOpen, unregisterOpen } from '../shared/open-components.js';
import { Releasers, withReleasers } from '../shared/releasers.js';
import { TypedEmitter } from '../shared/typed-emitter.js';
import { JobChannel } from './job-channel.js';
import { LeaderElection } from './leader-election.js';
import type { Resources } from './ledger.js';
import { DEFAULT_RETENTION, type RetentionPolicy } from './prune-plan.js';
import { RetentionTask } from './retention.js';
import { definitionFromMeta } from './run-definition.js';
import { recordWorkDir } from './run-records.js';
import { RunScheduler } from './scheduler.js';
import { ServiceAdmission } from './shared-admission.js';
import { FleetLedger } from './fleet-ledger.js';
import { HostWatch, type HostChange } from './host-watch.js';
import type { RunSummary } from './summary.js';
import { SERVICE_BUDGET_HINT, SERVICE_DEFAULTS } from '../shared/options/defaults.js';


/** Options of a {@link SchedulerService}. */
export interface ServiceOptions {
  redisUrl: string;
  prefix: string;
  /** The host budget every run shares (pool placement), or the cap on the fleet's (hosts placement). */
  budget: Resources & { resources?: Readonly<Record<string, number>> };
  /**
   * `pool` (default): one budget for every worker, one shared queue.
   * `hosts`: one ledger per registered host; each node is placed on one host
   * and its job goes to that host's queue.
   */
  placement?: 'pool' | 'hosts';
  /** Hosts placement: cap the fleet's threads and memory at `budget` (default: the live hosts' sum alone). */
  capFleet?: { n_procs: boolean; mem_gb: boolean };
  /** Work dir of runs submitted without one. */
  workDir: string;
  logger: Logger;
  /** Leader lease time to live; a dead leader is replaced after at most this long. Default 10000. */
  leaderTtlMs?: number;
  /** Safety sweep period of each run. Default 5000. */
  reconcileIntervalMs?: number;
  /** Safety check of the submitted list (a lost pub/sub message). Default 5000. */
  pickupIntervalMs?: number;
  /** Finished runs kept in Redis, applied by the leader after runs finish. Default {@link DEFAULT_RETENTION}. */
  retention?: RetentionPolicy;
  /** Retention is applied at most once per this period. Default 10000. */
  retentionIntervalMs?: number;
}

/** Events of the service. */
export interface ServiceEvents {
  leading: { holder: string };
  passive: { leader: string };
  'run:started': { runId: string; resumed: boolean };
  'run:finished': RunSummary;
  'run:rejected': { runId: string; error: string };
  'retention:applied': { removed: number; jobs: number };
}

/** Run meta fields the service reads to decide what to pick up. */
const PICKUP_FIELDS = ['mode', 'status', 'retry_requested'] as const;

/** The scheduler service. */
export class SchedulerService extends TypedEmitter<ServiceEvents> {
  readonly holder = thisHolder();
  private readonly keys: Keys;
  private readonly log: Logger;
  private readonly ttl: number;
  private redis: Redis | undefined;
  private election: LeaderElection | undefined;
  private subscriber: Redis | undefined;
  private channel: JobChannel | undefined;
  private retention: RetentionTask | undefined;
  private admission: ServiceAdmission;
  private readonly runs = new Map<string, RunScheduler>();
  /** Runs being started or waiting for a dead leader's run lease to expire. */
  private readonly pending = new Set<string>();
  private stopped = false;
  private pickupTimer: NodeJS.Timeout | undefined;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private startedMs = 0;
  private readonly releasers = new Releasers();
  private readonly starting = new SingleFlight(false);
  private readonly stopping = new SingleFlight(true);

  constructor(private readonly options: ServiceOptions) {
    super((err, event) => options.logger.error({ err, event }, 'listener failed'));
    this.keys = new Keys(options.prefix);
    this.log = options.logger;
    this.ttl = options.leaderTtlMs ?? SERVICE_DEFAULTS.leader_ttl_ms;
    this.admission = this.newAdmission();
  }

  /** The admission of a new leadership term: a pooled budget, or a fleet ledger fed by the host watch. */
  private newAdmission(): ServiceAdmission {
    if (this.options.placement !== 'hosts') return new ServiceAdmission(this.options.budget);
    const cap = this.options.capFleet;
    return new ServiceAdmission(new FleetLedger({ ...(cap?.n_procs === true ? { n_procs: this.options.budget.n_procs } : {}), ...(cap?.mem_gb === true ? { mem_gb: this.options.budget.mem_gb } : {}) }));
  }

  private hostWatch: HostWatch | undefined;

  /** Hosts came or went: nodes of lost hosts go back to their runs, and admission runs again. */
  private hostsChanged(c: HostChange): void {
    for (const { host, keys } of c.lost) {
      const byRun = new Map<string, number[]>();
      for (const key of keys) {
        const at = key.lastIndexOf('/');
        const runId = key.slice(0, at);
        byRun.set(runId, [...(byRun.get(runId) ?? []), Number(key.slice(at + 1))]);
      }
      for (const [runId, indices] of byRun) this.runs.get(runId)?.hostLost(indices, host);
    }
    this.admission.kickAll();
    void this.writeServiceInfo().catch(() => undefined);
  }

  /** Whether this replica leads. */
  get isLeader(): boolean {
    return this.election?.isLeader === true;
  }

  /** Ids of the runs this replica drives. */
  get activeRuns(): string[] {
    return [...this.runs.keys()];
  }

  /**
   * Connects and starts competing for leadership. A second call returns the
   * first; if a step fails, what was opened before it is closed again.
   */
  start(): Promise<void> {
    return this.starting.run(() =>
      withReleasers(this.releasers, async (r) => {
        if (this.stopped) return;
        registerOpen(this, `scheduler service ${this.holder} (prefix ${this.options.prefix})`);
        this.startedMs = Date.now();
        const redis = createRedis(this.options.redisUrl, { maxRetriesPerRequest: null, connectionName: connectionName(this.options.prefix, 'service') });
        this.redis = redis;
        redis.on('error', (err: unknown) => this.log.debug({ err }, 'redis error'));
        r.add('the service connection', () => closeRedis(redis));
        await redis.connect();
        const subscriber = await subscribeControl(this.options.redisUrl, this.options.prefix, (msg) => this.onControl(msg), (err) => this.log.debug({ err }, 'redis subscriber error'));
        this.subscriber = subscriber;
        r.add('the control subscriber', () => closeRedis(subscriber));
        r.add('leadership', () => this.leaveLeadership());
        this.election = new LeaderElection(
          redis,
          this.keys.leader(),
          this.holder,
          this.ttl,
          {
            lead: () => this.lead(),
            renewed: () => this.writeServiceInfo(),
            lost: (why) => this.stepDown(why),
            passive: (leader) => {
              this.log.info({ leader }, 'service:passive (another scheduler leads; taking over if it stops)');
              this.emit('passive', { leader });
            },
          },
          this.log,
        );
        await this.election.start();
      }).catch((err: unknown) => {
        if (this.releasers.size === 0) unregisterOpen(this);
        throw err;
      }),
    );
  }

  private onControl(msg: ControlMessage): void {
    if (msg.type === 'submitted' && this.isLeader) void this.pickUp();
  }

  private async lead(): Promise<void> {
    this.log.info({ holder: this.holder, budget: this.options.budget, placement: this.options.placement ?? 'pool' }, 'service:leading');
    this.channel = new JobChannel(this.options.redisUrl, this.options.prefix, this.log);
    await this.channel.open(this.redis as Redis);
    if (this.admission.ledger instanceof FleetLedger) {
      this.hostWatch = new HostWatch(this.redis as Redis, this.options.prefix, this.admission.ledger, (c) => this.hostsChanged(c), this.log);
      await this.hostWatch.start();
    }
    // Workers check at start that they see this work dir (work-dir-marker.ts).
    await recordWorkDir(this.redis as Redis, this.keys.service(), this.options.workDir, this.log);
    await this.writeServiceInfo();
    this.emit('leading', { holder: this.holder });
    await this.adoptAll();
    await this.pickUp();
    this.retention = new RetentionTask({
      redis: this.redis as Redis,
      prefix: this.options.prefix,
      jobs: this.channel,
      policy: this.options.retention ?? DEFAULT_RETENTION,
      minIntervalMs: this.options.retentionIntervalMs ?? SERVICE_DEFAULTS.retention_interval_ms,
      logger: this.log,
      onApplied: (r) => this.emit('retention:applied', { removed: r.removed_runs, jobs: r.removed_jobs }),
    });
    // Runs that finished while no service led are due too.
    this.retention.request();
    const every = this.options.pickupIntervalMs ?? 5000;
    this.pickupTimer = setInterval(() => void this.pickUp(), every);
    this.pickupTimer.unref();
  }

  /** Gives up leadership (no longer {@link isLeader}): stops driving runs (their state stays in Redis for the next leader). */
  private async stepDown(why: string): Promise<void> {
    this.log[this.stopped ? 'info' : 'warn']({ why }, 'service:stepping down');
    if (this.pickupTimer !== undefined) clearInterval(this.pickupTimer);
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    const runs = [...this.runs.values()];
    this.runs.clear();
    this.pending.clear();
    await this.retention?.close();
    this.retention = undefined;
    this.hostWatch?.stop();
    this.hostWatch = undefined;
    await Promise.allSettled(runs.map((r) => r.close()));
    this.admission = this.newAdmission();
    await this.channel?.close(false).catch(() => undefined);
    this.channel = undefined;
  }

  private async writeServiceInfo(): Promise<void> {
    await this.redis?.hset(this.keys.service(), {
      holder: this.holder,
      budget: JSON.stringify(this.budgetInfo()),
      placement: this.options.placement ?? 'pool',
      started_ms: String(this.startedMs),
      heartbeat_ms: String(Date.now()),
      lease_ttl_ms: String(this.ttl),
      work_dir: this.options.workDir,
      runs: JSON.stringify([...this.runs.keys()]),
    });
  }

  /** The budget as the service publishes it: the pool's, or the live hosts' sum (capped), with named resources. */
  private budgetInfo(): { n_procs: number; memory_gb: number; resources?: Record<string, number> } {
    const l = this.admission.ledger;
    const named = l.namedBudget();
    return { n_procs: l.budget.n_procs, memory_gb: l.budget.mem_gb, ...(Object.keys(named).length > 0 ? { resources: named } : {}) };
  }

  /** Takes every service run that is submitted, was running under a previous leader, or has a retry request pending. */
  private async adoptAll(): Promise<void> {
    const redis = this.redis as Redis;
    const ids = await redis.zrange(this.keys.runs(), 0, -1);
    const pipe = redis.pipeline();
    for (const id of ids) pipe.hmget(this.keys.runMeta(id), ...PICKUP_FIELDS);
    const rows = (await pipe.exec()) ?? [];
    // One after the other, oldest first: admission order follows submission order.
    // Nothing is admitted until every adopted run has put its running nodes'
    // holds back into the ledger: the budget holds across a takeover.
    this.admission.pause();
    try {
      for (const [i, id] of ids.entries()) {
        const [mode, status, retry] = (rows[i]?.[1] as Array<string | null> | undefined) ?? [];
        if (mode !== 'service') continue;
        // A retry request is kept in the run's meta until it is honoured or
        // refused: one a previous leader took off the submitted list and
        // died before acting on is taken up here, not lost.
        const retrying = retry !== null && retry !== undefined && (status === 'failed' || status === 'cancelled');
        if (status === 'submitted' || status === 'running' || retrying) await this.startRun(id);
      }
    } finally {
      this.admission.resume();
    }
  }

  /** Takes newly submitted runs off the submitted list, in submission order. */
  private async pickUp(): Promise<void> {
    if (!this.isLeader) return;
    try {
      for (;;) {
        const id = await this.redis?.lpop(this.keys.submitted());
        if (id === null || id === undefined) break;
        await this.startRun(id);
      }
    } catch (err) {
      this.log.warn({ err }, 'cannot read the submitted runs; retrying');
    }
  }

  /**
   * Runs still leased by a previous scheduler, waited for before they are
   * adopted: admission stays paused meanwhile, since their running nodes'
   * holds are not in the ledger yet.
   */
  private readonly awaitingAdoption = new Set<string>();

  private async startRun(runId: string): Promise<void> {
    try {
      await this.startRunNow(runId);
    } finally {
      // Adopted, refused or gone: either way, it no longer keeps admission waiting.
      if (!this.deferred.has(runId) && this.awaitingAdoption.delete(runId)) this.admission.resume();
    }
  }

  /** Runs deferred until their previous scheduler's lease runs out. */
  private readonly deferred = new Set<string>();

  private async startRunNow(runId: string): Promise<void> {
    this.deferred.delete(runId);
    if (!this.isLeader || this.runs.has(runId) || this.pending.has(runId)) return;
    this.pending.add(runId);
    const redis = this.redis as Redis;
    let resume = false;
    try {
      let meta = await redis.hgetall(this.keys.runMeta(runId));
      if (meta['retry_requested'] !== undefined && (meta['status'] === 'failed' || meta['status'] === 'cancelled')) {
        const retry = await this.prepareRetry(runId, meta['retry_requested']);
        if (retry !== 'ready') {
          this.pending.delete(runId);
          if (retry === 'later') this.retryLater(runId, 2000);
          return;
        }
        meta = await redis.hgetall(this.keys.runMeta(runId));
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
      const lease = await readLease(redis, this.keys.runLease(runId));
      if (lease !== undefined && lease.ttlLeftMs > 0 && lease.holder !== this.holder && !holderIsDeadHere(lease.holder)) {
        this.log.info({ runId, holder: lease.holder, waitMs: lease.ttlLeftMs }, `run still leased by another scheduler; taking it when the lease ends${resume ? ' (admission waits for it)' : ''}`);
        this.deferStart(runId, resume, lease.ttlLeftMs + 100);
        return;
      }
      // Per-host placement: a new run is checked against the hosts as they are now.
      if (!resume) await this.hostWatch?.fresh();
      if (!this.isLeader) {
        this.pending.delete(runId);
        return;
      }
      const def = definitionFromMeta(runId, meta);
      // Submitted without --work-dir: the service's own (the shared volume).
      if (def.workDir === '') def.workDir = this.options.workDir;
      if (def.crashdumpDir === '') def.crashdumpDir = join(def.workDir, '_crashes');
      const submittedMs = Number(meta['submitted_ms'] ?? meta['started_ms'] ?? Date.now());
      const run = new RunScheduler({
        ...def,
        budget: this.options.budget,
        // A submitted run has no budget of its own: the service's is raised.
        budgetHint: SERVICE_BUDGET_HINT,
        redisUrl: this.options.redisUrl,
        prefix: this.options.prefix,
        resume,
        leaseTtlMs: this.ttl,
        ...(this.options.reconcileIntervalMs !== undefined ? { reconcileIntervalMs: this.options.reconcileIntervalMs } : {}),
        logger: this.log,
        ...(this.channel !== undefined ? { channel: this.channel } : {}),
        admission: this.admission,
      });
      // A resumed run's running nodes are in the ledger only once it restored them.
      if (resume) this.admission.pause();
      this.admission.add(run, submittedMs);
      this.runs.set(runId, run);
      this.pending.delete(runId);
      try {
        await run.start();
      } finally {
        if (resume) this.admission.resume();
      }
      // Only a started run is followed: a failed start is handled below (its end rejects too).
      run.whenFinished().then(
        (summary) => void this.finished(run, summary),
        (err: unknown) => void this.dropped(run, err),
      );
      this.log.info({ runId, resumed: resume, active: this.runs.size }, 'service:run-started');
      this.emit('run:started', { runId, resumed: resume });
    } catch (err) {
      this.pending.delete(runId);
      const run = this.runs.get(runId);
      if (run !== undefined) {
        this.runs.delete(runId);
        this.admission.remove(run);
        await run.close().catch(() => undefined);
      }
      // Decided by the error's code: a lease held elsewhere or Redis trouble
      // is tried again later and never fails a healthy run; anything else
      // (a definition that cannot run, a bug) rejects it.
      const e = toFlowgateError(err);
      if (e.retryable) {
        this.log.warn({ runId, err, code: e.code }, 'cannot start run now; trying again later');
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
        this.admission.pause();
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
    const conn = (this.redis as Redis).duplicate();
    try {
      const nodes = parseRetryNodes(raw);
      if (nodes === undefined) throw new FlowgateError('OPTIONS_INVALID', `malformed retry request ${JSON.stringify(raw)}`);
      const plan = await prepareRetry(conn, this.options.prefix, runId, nodes);
      this.log.info({ runId, nodes: plan.reset }, 'service:retrying nodes');
      return 'ready';
    } catch (err) {
      const e = toFlowgateError(err);
      if (e.retryable) {
        this.log.warn({ err, runId, code: e.code }, 'service:retry request cannot be honoured now; trying again later');
        return 'later';
      }
      this.log.warn({ err, runId }, 'service:retry request refused');
      await conn
        .multi()
        .hdel(this.keys.runMeta(runId), 'retry_requested')
        .hset(this.keys.runMeta(runId), 'retry_refused', e.message)
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
      void this.startRun(runId);
    }, ms);
    t.unref();
    this.retryTimers.add(t);
  }

  /** A run that cannot be started (a non-retryable error) ends failed, with the reason stored for `status` and `submit --wait`. */
  private async reject(runId: string, err: FlowgateError): Promise<void> {
    const error = err.message;
    this.log.warn({ runId, error, code: err.code }, 'service:run-rejected');
    try {
      await this.redis
        ?.multi()
        .hset(this.keys.runMeta(runId), { status: 'failed', error, finished_ms: String(Date.now()) })
        .publish(this.keys.control(), JSON.stringify({ type: 'finished', run_id: runId, status: 'failed' }))
        .exec();
    } catch (e) {
      this.log.error({ err: e, runId }, 'cannot store the rejection of a run');
    }
    this.emit('run:rejected', { runId, error });
    this.retention?.request();
  }

  private async finished(run: RunScheduler, summary: RunSummary): Promise<void> {
    if (this.runs.get(run.runId) !== run) return;
    this.runs.delete(run.runId);
    this.admission.remove(run);
    await run.close().catch((err: unknown) => this.log.warn({ err, runId: run.runId }, 'error while closing a finished run'));
    await this.redis?.publish(this.keys.control(), JSON.stringify({ type: 'finished', run_id: run.runId, status: summary.status })).catch(() => undefined);
    this.log.info({ runId: run.runId, status: summary.status, counts: summary.counts, active: this.runs.size }, 'service:run-finished');
    this.emit('run:finished', summary);
    // After the run's lease is released (close): it counts as finished now.
    this.retention?.request();
  }

  /**
   * A run whose scheduler stopped with an error. Its lease taken, Redis gone
   * for too long (retryable): its state stays in Redis and it is adopted
   * again later. Anything else (a bug) would only repeat: the run is rejected.
   */
  private async dropped(run: RunScheduler, err: unknown): Promise<void> {
    if (this.runs.get(run.runId) !== run) return;
    this.runs.delete(run.runId);
    this.admission.remove(run);
    const e = toFlowgateError(err);
    this.log.error({ err, code: e.code, runId: run.runId }, e.retryable ? 'run stopped; its state stays in Redis and it is adopted again when possible' : 'run stopped');
    await run.close().catch(() => undefined);
    if (!this.isLeader) return;
    if (e.retryable) this.retryLater(run.runId, this.ttl);
    else await this.reject(run.runId, e);
  }

  /**
   * Stops the service: runs stop being driven but keep their state (a standby
   * or the next start resumes them); the leader lease is handed back at once.
   * A start under way is waited for; concurrent calls share one stop, and a
   * stop that failed (one `AggregateError`) can be called again.
   */
  stop(): Promise<void> {
    return this.stopping.run(async () => {
      this.stopped = true;
      await this.starting.pending?.catch(() => undefined);
      await this.releasers.release('errors while stopping the scheduler service');
      unregisterOpen(this);
    });
  }

  /** Stops competing for leadership; if leading, steps down and hands the leader lease back. */
  private async leaveLeadership(): Promise<void> {
    if (this.election?.stop() === true) {
      await this.stepDown('service stopping');
      await this.election.release().catch(() => undefined);
    }
  }
}
