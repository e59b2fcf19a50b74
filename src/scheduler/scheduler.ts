/**
 * The scheduler of one run: owns its DAG state, ledger and admission; enqueues
 * admitted nodes as BullMQ jobs and reacts to queue events within
 * milliseconds. A slow safety sweep reconciles against job state, so a missed
 * event can delay a node but never hang the run.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { DEFAULT_MAX_OUTPUT_BYTES, nodeJobId, type NodeJobData, type NodeJobRef, type NodeOutcome } from '../shared/payloads.js';
import { TypedEmitter } from '../shared/typed-emitter.js';
import type { ControlMessage } from '../shared/control.js';
import { FlowgateError, ValidationError } from '../shared/errors.js';
import { isRefusal } from '../shared/node-claim.js';
import { claimViewOf, RunAdmissions } from './admissions.js';
import { Keys } from '../shared/keys.js';
import { parseJsonOrUndefined } from '../shared/json.js';
import { assertFitsBudget } from './admission.js';
import { crashRecordFor, writeCrashRecord } from './crash-report.js';
import type { Incoming, RanAs } from './incoming.js';
import type { OutageWatch } from './outage-watch.js';
import { LostWorkerCheck } from './lost-workers.js';
import type { JobChannel } from './job-channel.js';
import { reconcileInFlight, triageForCancel } from './reconcile.js';
import { inputsFailure } from './node-job.js';
import { Dispatcher } from './dispatch.js';
import { metaFields } from './run-definition.js';
import { RunGraph, type NodeRuntime } from './run-graph.js';
import { RunDirLocks } from './run-dir-locks.js';
import { attemptLogsDir } from '../shared/attempt-logs.js';
import { loadStoredRun, unfinishedPreviousRun, type RunStore } from './run-store.js';
import type { Lease } from '../shared/lease.js';
import { writeRunFiles } from './resource-monitor.js';
import { QUEUE_PAUSED_REASON, WaitingPublisher, WorkerWatch, type WaitingSnapshotBody } from './run-watchers.js';
import { buildSummary, type RunSummary } from './summary.js';
import { closeRunConnections, openRunConnections, takeRunLease, type RunConnections } from './run-connections.js';
import { describeFailedReason } from './scheduler-support.js';
import type { RunProgress, SchedulerEvents, SchedulerOptions } from './scheduler-types.js';

export type { AdmissionRun, RunProgress, SchedulerEvents, SchedulerOptions, SharedAdmission } from './scheduler-types.js';
export { describeFailedReason } from './scheduler-support.js';

type Phase = 'new' | 'starting' | 'running' | 'finished' | 'closed';

/** Node states after which no attempt of the node may start. */
const TERMINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'skipped', 'cached', 'cancelled']);

/** Schedules one run. */
export class RunScheduler extends TypedEmitter<SchedulerEvents> {
  readonly runId: string;
  readonly graph: RunGraph;
  private phase: Phase = 'new';
  private readonly clock: () => number;
  private readonly log: Logger;
  private redis: Redis | undefined;
  private store: RunStore | undefined;
  private queue: Queue<NodeJobRef> | undefined;
  private jobs: JobChannel | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private lostTimer: NodeJS.Timeout | undefined;
  private lostCheck: LostWorkerCheck | undefined;
  private inbox: Incoming[] = [];
  /** Nodes whose next attempt must be enqueued in this step. */
  private retrying: NodeRuntime[] = [];
  private draining = false;
  /** Resolves when the current drain has ended (see {@link JobChannel}: the next events are read after it). */
  private drained: Promise<void> | undefined;
  private endDrain: (() => void) | undefined;
  private again = false;
  private startedMs = 0;
  private cancelReason: string | undefined;
  private summary: RunSummary | undefined;
  private finishedWaiters: Array<{ resolve: (s: RunSummary) => void; reject: (e: unknown) => void }> = [];
  private fatalError: unknown;
  private lastEventAt = new Map<number, number>();
  private closing: Promise<void> | undefined;
  private lease: Lease | undefined;
  /** A cancel asked for before the run had started. */
  private pendingCancel: string | undefined;
  /** Jobs to take out of the queue in the next step (requeued jobs of a cancelled run). */
  private toRemove: string[] = [];
  private outage: OutageWatch | undefined;
  private subscriber: Redis | undefined;
  private cancelTimer: NodeJS.Timeout | undefined;
  private conn: RunConnections | undefined;
  private readonly dispatch: Dispatcher;
  private readonly dirLocks: RunDirLocks;
  private readonly admissions = new RunAdmissions();
  private readonly waiting: WaitingPublisher;
  private readonly workerWatch: WorkerWatch;

  constructor(private readonly options: SchedulerOptions) {
    super((err, event) => options.logger.error({ err, event }, 'listener failed'));
    this.runId = options.runId;
    this.clock = options.clock ?? Date.now;
    this.log = options.logger.child({ runId: options.runId });
    this.waiting = new WaitingPublisher(
      () => this.redis,
      new Keys(options.prefix).runWaiting(options.runId),
      () => this.waitingSnapshot(),
      this.clock,
      this.log,
    );
    this.workerWatch = new WorkerWatch(options.prefix, options.runId, this.log);

    if (options.raiseInsufficient) {
      assertFitsBudget(
        options.workflow.nodes.map((n) => ({ id: n.id, request: { n_procs: n.n_procs, mem_gb: n.mem_gb } })),
        options.budget,
        options.workflowFile,
      );
    }
    this.graph = new RunGraph({
      workflow: options.workflow,
      budget: options.budget,
      order: options.order,
      raiseInsufficient: options.raiseInsufficient,
      workDir: options.workDir,
      clock: this.clock,
      ...(options.admission !== undefined ? { ledger: options.admission.ledger, holdPrefix: `${options.runId}/` } : {}),
    });
    this.dispatch = new Dispatcher(this.graph, {
      runId: options.runId,
      workflow: options.workflow.name,
      memoryMargin: options.memoryMargin,
      maxOutputBytes: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      hashMethod: options.hashMethod ?? 'timestamp',
      updateHash: options.updateHash === true,
      logsDir: attemptLogsDir(options.workDir, options.runId),
      lockDirs: (nodes) => this.dirLocks.take(nodes),
    });
    this.dirLocks = new RunDirLocks(options.prefix, options.runId, () => this.redis, this.log);
  }

  /** Creates the run in Redis, starts listening and admits the first nodes. */
  async start(): Promise<void> {
    if (this.phase !== 'new') return;
    this.phase = 'starting';
    const o = this.options;
    const c = await openRunConnections(
      o,
      {
        incoming: (ev) => {
          this.lastEventAt.set(ev.index, this.clock());
          this.inbox.push(ev);
          this.kick();
        },
        settled: () => this.drained ?? Promise.resolve(),
        control: (msg) => {
          if (msg.type === 'cancel' && msg.run_id === this.runId) void this.cancel(msg.reason);
          if (msg.type === 'dirs-released') this.retryBlocked();
        },
        fatal: (err) => this.fail(err),
        // Anything missed while Redis was away is found by reconciling now.
        reconnected: () => void this.sweep(0),
        pausedChanged: () => this.waiting.request(),
      },
      this.log,
    );
    this.conn = c;
    ({ redis: this.redis, subscriber: this.subscriber, outage: this.outage, jobs: this.jobs, queue: this.queue, store: this.store, lease: this.lease } = c);
    if (o.resume === true) {
      await this.restore();
    } else {
      this.startedMs = this.clock();
      const workDirKey = new Keys(o.prefix).workDirRun(o.workDir, o.workflow.name);
      if (o.refuseWhilePreviousRun === true) await this.refuseIfPreviousRun(workDirKey);
      // The lease first: a run stored as running without a lease reads as orphaned.
      await takeRunLease(this.lease, this.runId, false);
      await this.store.create(metaFields(o, this.startedMs), this.graph.nodes.map(() => 'waiting'), this.graph.nodes.map((n) => n.remaining), this.startedMs, workDirKey);
      this.graph.start();
    }
    this.phase = 'running';
    this.log.info({ nodes: this.graph.size, budget: o.budget, order: o.order, resumed: o.resume === true }, 'run:started');
    const interval = o.reconcileIntervalMs ?? 5000;
    this.sweepTimer = setInterval(() => void this.sweep(interval), interval);
    this.sweepTimer.unref();
    this.lostCheck = new LostWorkerCheck(c.redis, c.queue, o.prefix, this.runId, this.log);
    this.lostTimer = setInterval(() => void this.findLost(), o.lostCheckIntervalMs ?? 1000);
    this.lostTimer.unref();
    this.dirLocks.startRenewing(() => this.graph.inFlightNodes());
    // After a restart every in-flight node is checked against its job at once:
    // nodes that finished while no scheduler was watching are adopted.
    if (o.resume === true) await this.sweep(0);
    // A cancel requested while no scheduler was listening (a submitted run
    // cancelled in the queue, or before start finished) is honoured before
    // anything new is admitted, after in-flight nodes were reconciled.
    const pending = this.pendingCancel ?? (await this.redis.hget(new Keys(o.prefix).runMeta(this.runId), 'cancel_requested'));
    if (pending !== null && pending !== undefined) await this.cancel(pending);
    this.kick();
  }

  /** Refuses to start next to an unfinished run of the same workflow and work dir (exit 2, nothing written). */
  private async refuseIfPreviousRun(workDirKey: string): Promise<void> {
    const previous = await unfinishedPreviousRun(this.redis as Redis, this.options.prefix, workDirKey);
    if (previous === undefined) return;
    const where = `workflow "${this.options.workflow.name}" in work dir ${this.options.workDir}`;
    const message =
      previous.state === 'running'
        ? `run ${previous.runId} of ${where} is still running (driven by ${previous.holder ?? 'another scheduler'}); wait for it, cancel it (flowgate cancel ${previous.runId}), or start another run that waits for its node directories with --force`
        : `run ${previous.runId} of ${where} ended without finishing (its scheduler is gone); continue it with \`flowgate resume ${previous.runId}\`, or start a new run with --force`;
    throw new ValidationError('OPTIONS_INVALID', [{ field: 'WORKFLOW', message }]);
  }

  /** Loads the run's durable state (resume). Refuses a run another live scheduler drives. */
  private async restore(): Promise<void> {
    const stored = await loadStoredRun(this.redis as Redis, this.options.prefix, this.runId);
    if (stored === undefined) throw new FlowgateError('RUN_NOT_FOUND', `no run "${this.runId}" under prefix "${this.options.prefix}"`);
    if (this.lease !== undefined) await takeRunLease(this.lease, this.runId, true);
    this.startedMs = Number(stored.meta['started_ms'] ?? this.clock());
    this.graph.restore(stored.states, stored.records);
    const stopped = stored.meta['stop_reason'];
    if (stopped !== undefined) this.graph.stopAdmitting(stopped);
    this.store?.setMeta('resumed_ms', String(this.clock()));
  }

  /**
   * The ready queue for dashboards: ready nodes not admitted, with why; while
   * the node queue is paused, admitted nodes that have not started come
   * first, with that reason (they would otherwise look like a silent stall).
   */
  private waitingSnapshot(): WaitingSnapshotBody {
    const paused = this.jobs?.paused === true;
    const stuck = paused ? this.graph.inFlightNodes().filter((n) => n.state === 'queued').map((n) => ({ id: n.node.id, reason: QUEUE_PAUSED_REASON })) : [];
    return { budget: this.graph.ledger.budget, free: this.graph.ledger.free, waiting: [...stuck, ...this.graph.waiting()].slice(0, 200), queue_paused: paused };
  }

  /** Nodes of this run admitted by a shared admission pass started by another run. */
  private handed: NodeRuntime[] = [];

  /** Takes nodes admitted for this run by {@link SharedAdmission} and enqueues them. */
  hand(nodes: NodeRuntime[]): void {
    if (nodes.length === 0) return;
    this.handed.push(...nodes);
    this.kick();
  }

  /** Asks for a step: events are applied and admission runs (the service calls it when resources free up). */
  kick(): void {
    if (this.phase !== 'running') return;
    if (this.draining) {
      this.again = true;
      return;
    }
    // Deferred to a microtask so that a batch of events read in one XREAD is
    // applied, persisted and answered together.
    this.draining = true;
    this.drained = new Promise((resolve) => {
      this.endDrain = resolve;
    });
    queueMicrotask(() => void this.drain());
  }

  /** Applies queued events, admits what fits, persists, enqueues; repeats while there is work. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      do {
        this.again = false;
        const events = this.inbox;
        this.inbox = [];
        for (const ev of events) {
          if (ev.kind === 'failed' && (ev.outcome === undefined || ev.ran === undefined) && !isRefusal(ev.reason)) {
            const { outcome, ran } = await this.fetchOutcome(ev.index, ev.attempt);
            if (outcome !== undefined) ev.outcome = outcome;
            if (ran !== undefined) ev.ran = ran;
          }
        }
        const notices: Array<() => void> = [];
        for (const ev of events) this.apply(ev, notices);
        for (const { node: c, note, status } of await this.dispatch.checkReady()) {
          // A map node starts when it is expanded (its elements run), and finishes when they all did.
          notices.push(status === 'started' ? () => this.emit('node:started', { id: c.node.id }) : () => this.emit('node:finished', { id: c.node.id, status, reason: note }));
        }
        const shared = this.options.admission;
        const admitted = [...this.handed.splice(0), ...(shared !== undefined ? shared.admit(this) : this.graph.admit())];
        const retries = this.retrying.splice(0).filter((n) => n.state === 'queued');
        this.stageChanges();
        // State and jobs are written concurrently: job ids are deterministic,
        // so a job whose admission was not persisted is found and adopted on
        // resume, and adding it again is a no-op.
        const removals = this.toRemove.splice(0);
        await Promise.all([
          ...removals.map((id) => this.jobs?.remove(id)),
          this.store?.flush(),
          this.dirLocks.flushReleases(),
          admitted.length > 0 ? this.enqueue(admitted) : undefined,
          retries.length > 0 ? this.enqueue(retries) : undefined,
        ]);
        for (const n of admitted) notices.push(() => this.emit('node:admitted', { id: n.node.id, attempt: n.attempt }));
        for (const notify of notices) notify();
        if (this.graph.done) {
          await this.finish();
          return;
        }
        this.checkStuck();
        this.waiting.request();
      } while (this.again || this.inbox.length > 0);
    } catch (err) {
      this.fail(err);
    } finally {
      this.draining = false;
      this.drained = undefined;
      this.endDrain?.();
      this.endDrain = undefined;
    }
  }

  private apply(ev: Incoming, notices: Array<() => void>): void {
    const n = this.graph.nodes[ev.index];
    if (n === undefined) return;
    if (ev.kind === 'active') {
      if (this.graph.markRunning(ev.index, ev.attempt)) notices.push(() => this.emit('node:started', { id: n.node.id }));
      return;
    }
    if (this.cancelReason !== undefined && (ev.kind === 'failed' || ev.kind === 'stalled')) {
      // The run is being cancelled: a node stopped now ends cancelled.
      if (this.graph.cancelInFlight(ev.index, this.cancelReason, ev.attempt)) {
        // A worker that stopped the node released its directory; a stalled job's lock expires.
        if (ev.kind === 'stalled' || !isRefusal(ev.reason)) this.dirLocks.workerReleased(ev.index);
        // A stalled job is back in the queue: take it out so nobody runs it.
        if (ev.kind === 'stalled') this.toRemove.push(nodeJobId(this.runId, ev.index, ev.attempt));
        const reason = this.cancelReason;
        notices.push(() => this.emit('node:finished', { id: n.node.id, status: 'cancelled', reason }));
      }
      return;
    }
    if (ev.kind === 'failed' && isRefusal(ev.reason)) {
      // A job no worker would run (not this attempt's, or a copy of one that
      // is running or has run): not an outcome of the node. The sweep finds
      // the real one in the run store.
      this.log.warn({ node: n.node.id, attempt: ev.attempt, reason: ev.reason }, 'node:job-refused');
      return;
    }
    if (ev.kind === 'stalled') {
      // Its worker stopped renewing the lock (killed, frozen): BullMQ has put
      // the job back to run again; the node keeps its hold meanwhile.
      if (this.graph.markLost(ev.index, ev.attempt)) {
        this.log.warn({ node: n.node.id, attempt: ev.attempt }, 'node:worker-lost (job requeued)');
        notices.push(() => this.emit('node:retrying', { id: n.node.id, attempt: n.attempt, reason: 'worker lost; job requeued' }));
      }
      return;
    }
    if (ev.kind === 'completed') {
      if (this.graph.complete(ev.index, ev.attempt, ev.outcome)) {
        this.dirLocks.workerReleased(ev.index);
        this.lastEventAt.delete(ev.index);
        notices.push(() => this.emit('node:finished', { id: n.node.id, status: 'succeeded', reason: null }));
      }
      return;
    }
    const reason = ev.outcome?.reason ?? describeFailedReason(ev.reason, n.record.stalls);
    const result = this.graph.fail(ev.index, ev.attempt, reason, ev.outcome);
    if (result === undefined) return;
    if (ev.outcome?.worker !== 'scheduler') this.dirLocks.workerReleased(ev.index);
    this.lastEventAt.delete(ev.index);
    if (result.retry) {
      this.log.info({ node: n.node.id, reason, nextAttempt: n.attempt }, 'node:retrying');
      this.retrying.push(n);
      notices.push(() => this.emit('node:retrying', { id: n.node.id, attempt: n.attempt, reason }));
      return;
    }
    // A failed map element: its siblings not yet started never start (running ones finish).
    const skipped = [...result.skipped, ...this.graph.stopSiblings(n)];
    n.record.crash_file = this.writeCrash(n, reason, ev.outcome, skipped, ev.ran);
    this.log.info({ node: n.node.id, reason, crashFile: n.record.crash_file }, 'node:failed');
    notices.push(() => this.emit('node:finished', { id: n.node.id, status: 'failed', reason }));
    for (const s of skipped) notices.push(() => this.emit('node:finished', { id: s.node.id, status: 'skipped', reason: s.record.reason }));
    if ((this.options.stopOnFirstCrash || n.node.config?.stop_on_first_crash === true) && this.graph.isAdmitting) {
      const stop = `stop-on-first-crash: node "${n.node.id}" failed`;
      // Stored, so a resumed run does not start admitting (or retrying) again.
      this.store?.setMeta('stop_reason', stop);
      for (const c of this.graph.stopAdmitting(stop)) {
        notices.push(() => this.emit('node:finished', { id: c.node.id, status: 'cancelled', reason: c.record.reason }));
      }
    }
  }

  private writeCrash(n: NodeRuntime, reason: string, outcome: NodeOutcome | undefined, skipped: NodeRuntime[], ran: RanAs | undefined): string | null {
    try {
      return writeCrashRecord(n.node.config?.crashdump_dir ?? this.options.crashdumpDir, crashRecordFor(this.runId, this.options.workflow.name, n, reason, outcome, skipped, ran), new Date(), this.options.crashfileFormat);
    } catch (err) {
      this.log.error({ err, node: n.node.id }, 'cannot write crash record');
      return null;
    }
  }

  /** A failed job's outcome, and the command and inputs it ran with (for the crash record). */
  private async fetchOutcome(index: number, attempt: number): Promise<{ outcome?: NodeOutcome; ran?: RanAs }> {
    const [job, admission] = await Promise.all([
      this.jobs?.getJob(nodeJobId(this.runId, index, attempt)),
      this.redis?.hget(new Keys(this.options.prefix).runAdmits(this.runId), String(index)),
    ]);
    const outcome = (job?.data as NodeJobRef | undefined)?.outcome;
    // What ran: the admission the worker ran (it is withdrawn only once the node's end is applied).
    const spec = parseJsonOrUndefined(admission ?? undefined) as { attempt?: number; spec?: NodeJobData } | undefined;
    const ran: RanAs | undefined = spec?.attempt === attempt && spec.spec !== undefined ? { command: spec.spec.command, inputs: spec.spec.inputs ?? {} } : undefined;
    return { ...(outcome !== undefined ? { outcome: outcome as NodeOutcome } : {}), ...(ran !== undefined ? { ran } : {}) };
  }

  private stageChanges(): void {
    const store = this.store;
    if (store === undefined) return;
    for (const index of this.graph.takeChanged()) {
      const n = this.graph.node(index);
      store.setState(index, n.state);
      store.setRemaining(index, n.remaining);
      store.setRecord(index, n.record);
      if (n.state === 'queued' || n.state === 'running') store.hold(index, n.candidate.grant);
      else store.release(index);
      if (TERMINAL.has(n.state)) {
        store.withdraw(index);
        this.dirLocks.settle(n);
      }
    }
  }

  /**
   * Adds the jobs of admitted nodes; a node refused for its inputs fails at
   * once, with a crash record. Each attempt's admission (what its worker
   * runs, and the token its job carries) is in Redis before its job exists.
   */
  private async enqueue(nodes: NodeRuntime[]): Promise<void> {
    const { jobs, refused } = this.dispatch.jobsFor(nodes);
    for (const { node: n, reason } of refused) {
      this.lastEventAt.set(n.index, this.clock());
      this.inbox.push({ kind: 'failed', index: n.index, attempt: n.attempt, reason, outcome: inputsFailure(n, reason, this.clock()) });
      this.again = true;
    }
    if (jobs.length === 0) return;
    const { entries, fields } = this.admissions.admit(jobs, (index) => this.dirLocks.lockOf(this.graph.node(index)));
    await this.jobs?.add(entries, { key: new Keys(this.options.prefix).runAdmits(this.runId), fields });
  }

  /**
   * Safety net: a node in flight with no event for a whole interval is
   * checked against its job. Finished jobs are fed in as if their event had
   * arrived; a job that vanished is added again under the same id.
   */
  private async sweep(intervalMs: number): Promise<void> {
    if (this.phase !== 'running' || this.queue === undefined) return;
    const now = this.clock();
    try {
      if (this.redis !== undefined) await this.workerWatch.check(this.redis);
      // A lock that expired (its holder died) wakes nobody: look again here.
      this.retryBlocked();
      const found = await reconcileInFlight(
        this.queue,
        this.runId,
        this.graph.inFlightNodes(),
        (n) => this.lastEventAt.get(n.index) ?? n.record.admitted_ms ?? now,
        now,
        intervalMs,
        (nodes) => claimViewOf(this.redis as Redis, this.options.prefix, this.runId, nodes, now, attemptLogsDir(this.options.workDir, this.runId)),
      );
      for (const n of found.checked) this.lastEventAt.set(n.index, now);
      if (found.missing.length > 0 && this.cancelReason === undefined) {
        this.log.warn({ nodes: found.missing.map((n) => n.node.id) }, 'jobs missing; enqueueing them again');
        await this.enqueue(found.missing);
      }
      this.inbox.push(...found.incoming);
      this.kick();
      if (this.cancelReason === undefined) {
        const requested = await this.redis?.hget(new Keys(this.options.prefix).runMeta(this.runId), 'cancel_requested');
        if (requested !== null && requested !== undefined) await this.cancel(requested);
      }
    } catch (err) {
      this.log.warn({ err }, 'reconcile sweep failed; will retry');
    }
  }

  /** In-flight nodes whose worker stopped beating go back to the queue (or fail) at once; see lost-workers.ts. */
  private async findLost(): Promise<void> {
    if (this.phase !== 'running' || this.lostCheck === undefined || this.outage === undefined) return;
    try {
      const nodes = this.graph.inFlightNodes().map((n) => ({ index: n.index, attempt: n.attempt, stalls: n.record.stalls }));
      const lost = await this.lostCheck.check(nodes, this.outage.connectedForMs(), this.cancelReason !== undefined, this.clock());
      for (const l of lost) {
        // A job BullMQ put back itself was reported stalled by BullMQ already.
        if (l.as === 'requeued' && l.moved) this.inbox.push({ kind: 'stalled', index: l.index, attempt: l.attempt });
        if (l.as === 'failed') this.inbox.push({ kind: 'failed', index: l.index, attempt: l.attempt, reason: l.reason });
      }
      if (lost.length > 0) this.kick();
    } catch (err) {
      this.log.warn({ err }, 'lost-worker check failed; will retry');
    }
  }

  /** Nodes waiting for a node directory another run held are checked again (lock, then cache). */
  private retryBlocked(): void {
    if (this.graph.recheckBlocked() > 0) this.kick();
  }

  /** Defensive: nothing in flight, nothing admitted, yet nodes remain. Must not happen; never hang if it does. */
  private checkStuck(): void {
    // Another step was asked for while this one ran (admission resumed, resources freed): judge after it.
    if (this.again) return;
    if (this.graph.inFlight > 0 || this.graph.done || this.inbox.length > 0) return;
    // Sharing a budget: other runs' nodes hold it; this run gets its turn when they release.
    if (this.graph.ledger.holdCount > 0 || this.handed.length > 0) return;
    // Waiting for another run to let go of a node directory.
    if (this.graph.blockedCount > 0) return;
    // The service is adopting runs: admission resumes once their holds are restored.
    if (this.options.admission?.paused === true) return;
    const waiting = this.graph.waiting();
    this.log.error({ waiting }, 'no node can ever be admitted; stopping the run');
    this.graph.stopAdmitting(`no node could be admitted: ${waiting.map((w) => `${w.id} (${w.reason})`).join(', ')}`);
    this.again = true;
  }

  /**
   * Cancels the run: nothing new is admitted, jobs not yet started are
   * removed, workers are told to kill the run's running nodes. Every node ends
   * `cancelled` or in its real final state (a node that finished meanwhile
   * keeps its result). Resources are released as the processes end; nodes
   * that never report are cancelled after `cancelGraceMs`.
   */
  async cancel(reason = 'cancelled by user'): Promise<void> {
    if (this.phase === 'new' || this.phase === 'starting') {
      // Not started yet: honoured as soon as start() has the run in hand.
      this.pendingCancel ??= reason;
      return;
    }
    if (this.phase !== 'running' || this.cancelReason !== undefined) return;
    this.cancelReason = reason;
    this.log.info({ reason }, 'run:cancelling');
    const notices: Array<() => void> = [];
    for (const c of this.graph.stopAdmitting(reason)) {
      notices.push(() => this.emit('node:finished', { id: c.node.id, status: 'cancelled', reason }));
    }
    if (this.jobs !== undefined) {
      const triage = await triageForCancel(this.jobs, this.runId, this.graph.inFlightNodes());
      // Finished before the cancel: they keep their real outcome.
      this.inbox.push(...triage.finished);
      for (const n of triage.unstarted) {
        if (this.graph.cancelInFlight(n.index, reason, n.attempt)) notices.push(() => this.emit('node:finished', { id: n.node.id, status: 'cancelled', reason }));
      }
    }
    this.store?.setMeta('cancel_requested', reason);
    if (this.graph.inFlight > 0) {
      const msg: ControlMessage = { type: 'abort', run_id: this.runId, reason };
      await this.redis?.publish(new Keys(this.options.prefix).control(), JSON.stringify(msg)).catch((err: unknown) => this.log.warn({ err }, 'cannot announce the cancel'));
      this.cancelTimer = setTimeout(() => {
        for (const n of this.graph.inFlightNodes()) {
          // Its processes may still run: the directory stays locked until its worker lets it go (or the lock expires).
          this.dirLocks.workerReleased(n.index);
          this.graph.cancelInFlight(n.index, `${reason} (process did not report; assumed stopped)`);
        }
        this.kick();
      }, this.options.cancelGraceMs ?? 10_000);
      this.cancelTimer.unref();
    }
    for (const notify of notices) notify();
    this.kick();
  }

  /**
   * Ends the run at once, cancelled, after its nodes' processes were killed
   * (a second interrupt): every unfinished node is stored `cancelled` and the
   * summary written, so no view shows the run as running. The caller bounds
   * how long it waits for this.
   */
  async abandon(reason: string): Promise<void> {
    if (this.phase !== 'running') return;
    this.cancelReason ??= reason;
    this.graph.stopAdmitting(reason);
    for (const n of this.graph.inFlightNodes()) this.graph.cancelInFlight(n.index, reason);
    this.stageChanges();
    await this.finish();
  }

  private async finish(): Promise<void> {
    if (this.phase === 'finished' || this.phase === 'closed') return;
    this.phase = 'finished';
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
      if (this.lostTimer !== undefined) clearInterval(this.lostTimer);
    if (this.cancelTimer !== undefined) clearTimeout(this.cancelTimer);
    this.dirLocks.stop();
    await this.dirLocks.releaseAll().catch((err: unknown) => this.log.warn({ err }, 'cannot release node directory locks'));
    await this.waiting.stop(true);
    const finishedMs = this.clock();
    const summary = buildSummary({
      runId: this.runId,
      workflow: this.options.workflow.name,
      cancelled: this.cancelReason !== undefined,
      budget: this.options.budget,
      order: this.options.order,
      startedMs: this.startedMs,
      finishedMs,
      nodes: this.graph.nodes.map((n) => ({ ...n.record })),
    });
    const { status, counts } = summary;
    this.summary = summary;
    try {
      await this.store?.recordEnd(summary);
    } catch (err) {
      this.log.error({ err }, 'cannot store the run summary in Redis');
    }
    try {
      writeRunFiles(this.options.workDir, summary);
    } catch (err) {
      this.log.error({ err }, 'cannot write the run summary file');
    }
    this.log.info({ status, counts, wallS: summary.wall_s }, 'run:finished');
    this.emit('run:finished', summary);
    for (const w of this.finishedWaiters.splice(0)) w.resolve(summary);
  }

  private fail(err: unknown): void {
    if (this.fatalError !== undefined) return;
    this.fatalError = err;
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
      if (this.lostTimer !== undefined) clearInterval(this.lostTimer);
    this.dirLocks.stop();
    this.log.error({ err }, 'scheduler failed');
    for (const w of this.finishedWaiters.splice(0)) w.reject(err);
  }

  /** Resolves with the summary when the run has finished (at once if it has). */
  whenFinished(): Promise<RunSummary> {
    if (this.summary !== undefined) return Promise.resolve(this.summary);
    if (this.fatalError !== undefined) return Promise.reject(this.fatalError as Error);
    return new Promise((resolve, reject) => this.finishedWaiters.push({ resolve, reject }));
  }

  /** Live counts, running nodes and free resources. */
  progress(): RunProgress {
    const counts = this.graph.counts();
    return {
      counts,
      running: this.graph.inFlightNodes().filter((n) => n.state === 'running').map((n) => n.node.id),
      free: this.graph.ledger.free,
      budget: this.graph.ledger.budget,
      waiting: this.graph.waiting().slice(0, 20),
      workers: this.workerWatch.counts,
    };
  }


  /** Releases connections. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closing = (async () => {
      if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
      if (this.lostTimer !== undefined) clearInterval(this.lostTimer);
      this.dirLocks.stop();
      if (this.phase !== 'finished') this.phase = 'closed';
      if (this.cancelTimer !== undefined) clearTimeout(this.cancelTimer);
      void this.waiting.stop(false);
      const errors = await closeRunConnections(this.conn ?? {}, this.runId, this.options.channel === undefined);
      if (errors.length > 0) throw new AggregateError(errors, 'errors while closing the scheduler');
    })();
    return this.closing;
  }
}

