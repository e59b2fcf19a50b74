/**
 * The scheduler service (`flowgate scheduler`): a long-running process that
 * drives every run submitted with `flowgate submit`, all sharing one host
 * budget. Replicas elect a leader through a lease in Redis; the others stay
 * passive and take over, resuming the leader's runs from their durable state,
 * when it stops renewing. The leader's runs are started and followed by
 * service-runs.ts.
 */
import type { Redis } from 'ioredis';
import { subscribeControl, type ControlMessage } from '../shared/control.js';
import { Keys } from '../shared/keys.js';
import { thisHolder } from '../shared/lease-holder.js';
import type { Logger } from '../shared/logger.js';
import { closeRedis, connectionName, createRedis } from '../shared/redis.js';
import { SingleFlight } from '../shared/lifecycle.js';
import { registerOpen, unregisterOpen } from '../shared/open-components.js';
import { Releasers, withReleasers } from '../shared/releasers.js';
import { TypedEmitter } from '../shared/typed-emitter.js';
import { JobChannel } from './job-channel.js';
import { LeaderElection } from './leader-election.js';
import { DEFAULT_RETENTION } from './prune-plan.js';
import { RetentionTask } from './retention.js';
import { recordWorkDir } from './run-records.js';
import { ServiceAdmission } from './shared-admission.js';
import { FleetLedger } from './fleet-ledger.js';
import { HostWatch, type HostChange } from './host-watch.js';
import { ServiceRuns } from './service-runs.js';
import type { ServiceEvents, ServiceOptions } from './service-types.js';
import { SERVICE_DEFAULTS } from '../shared/options/defaults.js';

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
  private readonly runs: ServiceRuns;
  private stopped = false;
  private pickupTimer: NodeJS.Timeout | undefined;
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
    this.runs = new ServiceRuns({
      options,
      keys: this.keys,
      holder: this.holder,
      ttlMs: this.ttl,
      log: this.log,
      redis: () => this.redis,
      isLeader: () => this.isLeader,
      admission: () => this.admission,
      channel: () => this.channel,
      hostWatch: () => this.hostWatch,
      retentionDue: () => this.retention?.request(),
      emit: (event, payload) => this.emit(event, payload),
    });
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
    return this.runs.ids();
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
    const runs = this.runs.takeAll();
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
      runs: JSON.stringify(this.runs.ids()),
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
        if (status === 'submitted' || status === 'running' || retrying) await this.runs.start(id);
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
        await this.runs.start(id);
      }
    } catch (err) {
      this.log.warn({ err }, 'cannot read the submitted runs; retrying');
    }
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
