/**
 * The scheduler of one run: owns its DAG state, ledger and admission; enqueues
 * admitted nodes as BullMQ jobs and reacts to queue events within
 * milliseconds. A slow safety sweep reconciles against job state, so a missed
 * event can delay a node but never hang the run.
 *
 * This class is the run's lifecycle and I/O shell: its phase (run-phase.ts)
 * changes only through one checked setter; job events are applied by the pure
 * job-events.ts, one step at a time (step-loop.ts); what it acquires is
 * released in reverse order on close. Its parts: the steps and the safety
 * sweep (run-steps.ts), the checks before the run (run-checks.ts), nodes lost
 * with their host or worker (lost-nodes.ts), cancelling the run's nodes
 * (run-cancel.ts), its progress and ready-queue views (run-watchers.ts).
 */
import type { Logger } from '../shared/logger.js';
import { TypedEmitter } from '../shared/typed-emitter.js';
import type { ControlMessage } from '../shared/control.js';
import { FlowgateError } from '../shared/errors.js';
import { Outcome, PhaseMachine, SingleFlight } from '../shared/lifecycle.js';
import { registerOpen, unregisterOpen } from '../shared/open-components.js';
import { Releasers } from '../shared/releasers.js';
import { Keys } from '../shared/keys.js';
import type { Incoming } from './incoming.js';
import type { Notice } from './job-events.js';
import { RunCancel } from './run-cancel.js';
import { RunGraph, type NodeRuntime } from './run-graph.js';
import { RunDirLocks } from './run-dir-locks.js';
import { LostNodes } from './lost-nodes.js';
import { runProgress, WaitingPublisher, waitingSnapshot, WorkerWatch } from './run-watchers.js';
import { checkRunRequests } from './run-checks.js';
import type { RunSummary } from './summary.js';
import { openRunConnections, type RunConnections } from './run-connections.js';
import { ACTIVE_PHASES, RUN_PHASES, type RunPhase } from './run-phase.js';
import { createRun, recordRunEnd, recordWorkDir, restoreRun } from './run-records.js';
import { RunSteps, type StepHost } from './run-steps.js';
import { CLOSE_STEP_MS } from './scheduler-support.js';
import { StepLoop } from './step-loop.js';
import type { RunProgress, SchedulerEvents, SchedulerOptions } from './scheduler-types.js';
import { RUN_DEFAULTS } from '../shared/options/defaults.js';

export type { AdmissionRun, RunProgress, SchedulerEvents, SchedulerOptions, SharedAdmission } from './scheduler-types.js';
export { describeFailedReason } from './scheduler-support.js';
export type { RunPhase } from './run-phase.js';

/**
 * How long the step for nodes that started waits for other events to join it
 * (a node shows as running in the run's records at most this much later).
 */
const STARTED_FOLD_MS = 50;

/** Schedules one run. */
export class RunScheduler extends TypedEmitter<SchedulerEvents> {
  readonly runId: string;
  readonly graph: RunGraph;
  private readonly phase: PhaseMachine<RunPhase>;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly loop: StepLoop<Incoming>;
  private readonly outcome = new Outcome<RunSummary>();
  private readonly releasers = new Releasers(CLOSE_STEP_MS);
  private readonly starting = new SingleFlight(false);
  private readonly closing = new SingleFlight(true);
  private readonly steps: RunSteps;
  private readonly dirLocks: RunDirLocks;
  private readonly waiting: WaitingPublisher;
  private readonly workerWatch: WorkerWatch;
  private readonly lost: LostNodes;
  private readonly canceller: RunCancel;
  /** The Redis side, once started. */
  private conn: RunConnections | undefined;
  private startedMs = 0;
  /** Why the run is being cancelled (set with the `cancelling` phase, or by abandon). */
  private cancelReason: string | undefined;
  /** A cancel asked for before the run had started. */
  private pendingCancel: string | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** A step asked for by `active` events alone, waiting for another event to join (see {@link kickSoon}). */
  private startedTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SchedulerOptions) {
    super((err, event) => options.logger.error({ err, event }, 'listener failed'));
    this.runId = options.runId;
    this.clock = options.clock ?? Date.now;
    this.log = options.logger.child({ runId: options.runId });
    this.phase = new PhaseMachine<RunPhase>(`scheduler of run ${options.runId}`, 'new', RUN_PHASES, this.log);
    this.loop = new StepLoop((events) => this.steps.step(events), (err) => this.fail(err));
    this.waiting = new WaitingPublisher(() => this.conn?.redis, new Keys(options.prefix).runWaiting(options.runId), () => waitingSnapshot(this.graph, this.conn?.jobs.paused === true), this.clock, this.log);
    this.workerWatch = new WorkerWatch(options.prefix, options.runId, this.log);
    checkRunRequests(options, this.log);
    this.graph = new RunGraph({
      workflow: options.workflow,
      budget: options.budget,
      order: options.order,
      raiseInsufficient: options.raiseInsufficient,
      workDir: options.workDir,
      clock: this.clock,
      ...(options.admission !== undefined ? { ledger: options.admission.ledger, holdPrefix: `${options.runId}/` } : {}),
    });
    this.dirLocks = new RunDirLocks(options.prefix, options.runId, () => this.conn?.redis, this.log);
    // The steps, the lost-node handling and the cancel see the scheduler through this narrow view.
    const self = (): RunScheduler => this;
    const host: StepHost = {
      get active() {
        return self().active;
      },
      get cancelReason() {
        return self().cancelReason;
      },
      get conn() {
        return self().c;
      },
      notify: (n) => this.notify(n),
      finish: () => this.finish(),
      cancel: (reason) => this.cancel(reason),
      kick: () => this.kick(),
      waitingChanged: () => this.waiting.request(),
    };
    this.steps = new RunSteps({ options, graph: this.graph, dirLocks: this.dirLocks, loop: this.loop, clock: this.clock, log: this.log, host, run: this });
    this.lost = new LostNodes({ graph: this.graph, loop: this.loop, prefix: options.prefix, runId: options.runId, clock: this.clock, log: this.log, host, connection: () => this.conn, sweep: (ms) => this.sweep(ms) });
    this.canceller = new RunCancel({ graph: this.graph, loop: this.loop, dirLocks: this.dirLocks, prefix: options.prefix, runId: options.runId, graceMs: options.cancelGraceMs, log: this.log, host });
  }

  /** The scheduler's phase (see run-phase.ts). */
  get state(): RunPhase {
    return this.phase.phase;
  }

  /** Whether the run admits nodes, enqueues jobs and applies their events. */
  private get active(): boolean {
    return this.phase.is(...ACTIVE_PHASES);
  }

  private get c(): RunConnections {
    if (this.conn === undefined) throw new FlowgateError('INTERNAL', `scheduler of run ${this.runId} used before it started`);
    return this.conn;
  }

  /**
   * Creates the run in Redis (or restores it), starts listening and admits
   * the first nodes. A second call returns the first; a failed start releases
   * what it opened and leaves the scheduler `failed`.
   */
  start(): Promise<void> {
    return this.starting.run(() => this.doStart());
  }

  private async doStart(): Promise<void> {
    if (!this.phase.is('new')) return;
    this.phase.set('starting');
    registerOpen(this, `scheduler of run ${this.runId}`);
    const o = this.options;
    try {
      this.conn = await openRunConnections(o, this.connectionHandlers(), this.log);
      const conn = this.conn;
      this.releasers.add('the run connections', () => conn.close());
      this.startedMs = o.resume === true ? await restoreRun(o, conn, this.graph, this.clock()) : await createRun(o, conn, this.graph, this.clock());
      // Before any node is enqueued: workers check the run's work dir against it.
      await recordWorkDir(conn.redis, new Keys(o.prefix).runMeta(this.runId), o.workDir, this.log);
      // A fatal error while starting (Redis gone, the lease taken) made the run failed already.
      if (!this.phase.is('starting')) throw this.fatalError();
      this.phase.set('running');
      this.releasers.add('the timers', () => this.stopTimers());
      this.log.info({ nodes: this.graph.size, budget: o.budget, order: o.order, resumed: o.resume === true }, 'run:started');
      const interval = o.reconcileIntervalMs ?? RUN_DEFAULTS.reconcile_interval_ms;
      this.sweepTimer = setInterval(() => void this.sweep(interval), interval);
      this.sweepTimer.unref();
      this.lost.start(conn, o.lostCheckIntervalMs ?? 1000);
      this.dirLocks.startRenewing(() => this.graph.inFlightNodes());
      // After a restart every in-flight node is checked against its job at once:
      // nodes that finished while no scheduler was watching are adopted.
      if (o.resume === true) await this.sweep(0);
      // A cancel requested while no scheduler was listening (a submitted run
      // cancelled in the queue, or before start finished) is honoured before
      // anything new is admitted, after in-flight nodes were reconciled.
      const pending = this.pendingCancel ?? (await conn.redis.hget(new Keys(o.prefix).runMeta(this.runId), 'cancel_requested'));
      if (pending !== null && pending !== undefined) await this.cancel(pending);
      this.loop.kick();
    } catch (err) {
      // A refusal (the run id taken, a run to resume that cannot be) is the
      // caller's to report, once, as the error it is: not logged as a failure here.
      if (err !== this.failure) this.fail(err, err instanceof FlowgateError && err.code !== 'INTERNAL' && err.code !== 'INFRASTRUCTURE');
      // Everything opened so far is released now: a caller that never calls close() leaks nothing.
      const errors = await this.releasers.releaseAll();
      if (errors.length > 0) this.log.warn({ errors }, 'errors while releasing after a failed start');
      else unregisterOpen(this);
      throw err;
    }
  }

  private connectionHandlers(): Parameters<typeof openRunConnections>[1] {
    return {
      incoming: (ev) => {
        this.steps.lastEventAt.set(ev.index, this.clock());
        this.loop.push(ev);
        if (ev.kind === 'active') this.kickSoon();
        else this.kick();
      },
      settled: () => this.loop.settled(),
      control: (msg: ControlMessage) => {
        if (msg.type === 'cancel' && msg.run_id === this.runId) void this.cancel(msg.reason);
        if (msg.type === 'dirs-released') this.retryBlocked();
      },
      fatal: (err) => this.fail(err),
      // Anything missed while Redis was away is found by reconciling now.
      reconnected: () => void this.sweep(0),
      pausedChanged: () => this.waiting.request(),
    };
  }

  /**
   * The hosts some of this run's nodes were placed on were lost (per-host
   * placement; their holds went with them): they are placed again.
   */
  hostLost(indices: readonly number[], host: string): void {
    void this.lost.placeAgain(indices, host);
  }

  /** Takes nodes admitted for this run by {@link SharedAdmission} and enqueues them. */
  hand(nodes: NodeRuntime[]): void {
    if (nodes.length === 0) return;
    this.steps.hand(nodes);
    this.kick();
  }

  /** Asks for a step: events are applied and admission runs (the service calls it when resources free up). */
  kick(): void {
    if (this.startedTimer !== undefined) clearTimeout(this.startedTimer);
    this.startedTimer = undefined;
    if (this.active) this.loop.kick();
  }

  /**
   * Asks for a step within {@link STARTED_FOLD_MS}, for nodes that started: a
   * start frees and admits nothing, so its step waits for an event that does
   * — a short node's end is usually a millisecond behind its start — and the
   * two are applied and written in one step instead of two.
   */
  private kickSoon(): void {
    if (this.startedTimer !== undefined || !this.active) return;
    this.startedTimer = setTimeout(() => this.kick(), STARTED_FOLD_MS);
  }

  private notify(n: Notice): void {
    this.emit(n.event, n.data);
  }

  /** The safety sweep (see {@link RunSteps.sweep}); a failed one is tried again at the next interval. */
  private async sweep(intervalMs: number): Promise<void> {
    if (!this.active || this.conn === undefined) return;
    try {
      await this.workerWatch.check(this.conn.redis);
      // A lock that expired (its holder died) wakes nobody: look again here.
      this.retryBlocked();
      await this.steps.sweep(intervalMs);
    } catch (err) {
      this.log.warn({ err }, 'reconcile sweep failed; will retry');
    }
  }

  /** Nodes waiting for a node directory another run held are checked again (lock, then cache). */
  private retryBlocked(): void {
    if (this.graph.recheckBlocked() > 0) this.kick();
  }

  /**
   * Cancels the run: nothing new is admitted, jobs not yet started are
   * removed, workers are told to kill the run's running nodes. Every node ends
   * `cancelled` or in its real final state (a node that finished meanwhile
   * keeps its result). Resources are released as the processes end; nodes
   * that never report are cancelled after `cancelGraceMs`.
   */
  async cancel(reason = 'cancelled by user'): Promise<void> {
    if (this.phase.is('new', 'starting')) {
      // Not started yet: honoured as soon as start() has the run in hand.
      this.pendingCancel ??= reason;
      return;
    }
    if (!this.phase.is('running')) return;
    this.phase.set('cancelling');
    this.cancelReason = reason;
    this.log.info({ reason }, 'run:cancelling');
    await this.canceller.cancelNodes(reason);
  }

  /**
   * Ends the run at once, cancelled, after its nodes' processes were killed
   * (a second interrupt): every unfinished node is stored `cancelled` and the
   * summary written, so no view shows the run as running. The caller bounds
   * how long it waits for this.
   */
  async abandon(reason: string): Promise<void> {
    if (!this.active) return;
    this.cancelReason ??= reason;
    this.graph.stopAdmitting(reason);
    for (const n of this.graph.inFlightNodes()) this.graph.cancelInFlight(n.index, reason);
    this.steps.stage();
    await this.finish();
  }

  private async finish(): Promise<void> {
    if (!this.active) return;
    this.phase.set('finished');
    this.loop.stop();
    this.stopTimers();
    await this.dirLocks.releaseAll().catch((err: unknown) => this.log.warn({ err }, 'cannot release node directory locks'));
    await this.waiting.stop(true);
    const summary = await recordRunEnd(this.options, this.c, this.graph, { cancelled: this.cancelReason !== undefined, startedMs: this.startedMs, finishedMs: this.clock() }, this.log);
    const { status, counts } = summary;
    this.log.info({ status, counts, wallS: summary.wall_s }, 'run:finished');
    this.emit('run:finished', summary);
    this.outcome.resolve(summary);
  }

  /**
   * A fatal error (Redis gone for too long, the lease lost, a failed step or
   * start): the run stops here — nothing more is admitted, enqueued or
   * applied — and whoever waits for its end hears the error. Its state stays
   * in Redis for a resume.
   */
  private fail(err: unknown, refusal = false): void {
    const during = this.phase.phase;
    if (!this.phase.is('starting', ...ACTIVE_PHASES) && !(during === 'finished' && !this.outcome.settled)) {
      this.log.warn({ err, phase: during }, 'error after the run ended; ignored');
      return;
    }
    this.phase.set('failed');
    this.failure = err;
    this.loop.stop();
    this.stopTimers();
    if (refusal) this.log.debug({ err }, 'scheduler refused to start');
    else this.log.error({ err }, 'scheduler failed');
    this.outcome.reject(err);
  }

  private failure: unknown;

  private fatalError(): unknown {
    return this.failure ?? new FlowgateError('INTERNAL', `scheduler of run ${this.runId} failed`);
  }

  private stopTimers(): void {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    if (this.startedTimer !== undefined) clearTimeout(this.startedTimer);
    this.startedTimer = undefined;
    this.sweepTimer = undefined;
    this.canceller.stop();
    this.lost.stop();
    this.dirLocks.stop();
  }

  /** Resolves with the summary when the run has finished (at once if it has); rejects if the scheduler failed. */
  whenFinished(): Promise<RunSummary> {
    return this.outcome.promise;
  }

  /** Live counts, running nodes and free resources. */
  progress(): RunProgress {
    return runProgress(this.graph, this.workerWatch.counts);
  }

  /**
   * Stops driving the run and releases what it holds, in reverse order of
   * acquisition. A start under way is waited for. Concurrent calls share one
   * close; a close that failed (one `AggregateError`) can be called again.
   */
  close(): Promise<void> {
    return this.closing.run(async () => {
      await this.starting.pending?.catch(() => undefined);
      if (!this.phase.is('closing')) this.phase.set('closing');
      this.loop.stop();
      void this.waiting.stop(false);
      await this.releasers.release(`errors while closing the scheduler of run ${this.runId}`);
      this.phase.set('closed');
      unregisterOpen(this);
    });
  }
}
