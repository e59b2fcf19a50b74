/**
 * The work of one run's steps (the I/O shell around job-events.ts): a step
 * fills in what failed jobs ran, applies the events, admits what fits,
 * stages and writes the run state, enqueues and announces; the safety sweep
 * reconciles in-flight nodes with their jobs. Nothing is admitted or
 * enqueued once the run is no longer active (finished, failed, closing).
 */
import type { Logger } from '../shared/logger.js';
import { Keys } from '../shared/keys.js';
import { parseJsonOrUndefined } from '../shared/json.js';
import { isRefusal } from '../shared/node-claim.js';
import { DEFAULT_MAX_OUTPUT_BYTES, nodeJobId, type NodeJobData, type NodeJobRef, type NodeOutcome } from '../shared/payloads.js';
import { claimViewOf, RunAdmissions } from './admissions.js';
import { attemptLogsDir } from '../shared/attempt-logs.js';
import { crashRecordFor, writeCrashRecord } from './crash-report.js';
import { Dispatcher } from './dispatch.js';
import type { Incoming, RanAs } from './incoming.js';
import { applyJobEvent, stageChanges, stuckReason, type EventSink, type Notice } from './job-events.js';
import { inputsFailure } from './node-job.js';
import { reconcileInFlight } from './reconcile.js';
import type { RunConnections } from './run-connections.js';
import type { RunDirLocks } from './run-dir-locks.js';
import type { NodeRuntime, RunGraph } from './run-graph.js';
import type { AdmissionRun, SchedulerOptions } from './scheduler-types.js';
import { HOLDING_STATES, SATISFIED } from './node-state.js';
import type { StepLoop, StepResult } from './step-loop.js';
import { RUN_DEFAULTS } from '../shared/options/defaults.js';

/** What the steps need of the scheduler that owns them. */
export interface StepHost {
  /** Whether the run admits nodes, enqueues jobs and applies their events. */
  readonly active: boolean;
  /** Why the run is being cancelled, if it is. */
  readonly cancelReason: string | undefined;
  /** The connections (a step runs only once they are open). */
  readonly conn: RunConnections;
  /** Emits a scheduler event. */
  notify(n: Notice): void;
  /** The run has nothing left to do: ends it. */
  finish(): Promise<void>;
  /** A cancel was requested while nobody listened: honour it. */
  cancel(reason: string): Promise<void>;
  /** Asks for a step. */
  kick(): void;
  /** Asks for the dashboards' waiting snapshot to be written. */
  waitingChanged(): void;
}

/** Collaborators of {@link RunSteps}. */
export interface RunStepsDeps {
  options: SchedulerOptions;
  graph: RunGraph;
  dirLocks: RunDirLocks;
  loop: StepLoop<Incoming>;
  clock: () => number;
  log: Logger;
  host: StepHost;
  /** The run as shared admission knows it. */
  run: AdmissionRun;
}

/** The steps and sweeps of one run. */
export class RunSteps {
  /** When each in-flight node was last heard of (event or sweep). */
  readonly lastEventAt = new Map<number, number>();
  private readonly admissions = new RunAdmissions();
  /** Nodes whose next attempt must be enqueued in this step. */
  private retrying: NodeRuntime[] = [];
  /** Nodes of this run admitted by a shared admission pass started by another run. */
  private handed: NodeRuntime[] = [];
  /** Jobs to take out of the queue in the next step (requeued jobs of a cancelled run), with their host. */
  private toRemove: Array<{ id: string; host: string | undefined }> = [];
  /** The cache checks and job building of the run. */
  private readonly dispatch: Dispatcher;

  constructor(private readonly d: RunStepsDeps) {
    const { options } = d;
    this.dispatch = new Dispatcher(d.graph, {
      runId: options.runId,
      workflow: options.workflow.name,
      memoryMargin: options.memoryMargin,
      maxOutputBytes: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      ...(options.maxNodes !== undefined ? { maxNodes: options.maxNodes } : {}),
      hashMethod: options.hashMethod ?? RUN_DEFAULTS.hash_method,
      updateHash: options.updateHash === true,
      logsDir: attemptLogsDir(options.workDir, options.runId),
      lockDirs: (nodes) => d.dirLocks.take(nodes),
    });
  }

  /** Takes nodes admitted for this run by a shared admission pass; they are enqueued in the next step. */
  hand(nodes: NodeRuntime[]): void {
    for (const n of nodes) this.handed.push(n);
  }

  /** One step: applies queued events, admits what fits, persists, enqueues. */
  async step(events: Incoming[]): Promise<StepResult> {
    const { graph, host } = this.d;
    for (const ev of events) {
      if (ev.kind === 'failed' && (ev.outcome === undefined || ev.ran === undefined) && !isRefusal(ev.reason)) {
        const { outcome, ran } = await this.fetchOutcome(ev.index, ev.attempt);
        if (outcome !== undefined) ev.outcome = outcome;
        if (ran !== undefined) ev.ran = ran;
      }
    }
    // A fatal error (or close) meanwhile: nothing more is applied, admitted or enqueued.
    if (!host.active) return 'done';
    const notices: Notice[] = [];
    const cx = { graph, runId: this.d.options.runId, cancelReason: host.cancelReason, stopOnFirstCrash: this.d.options.stopOnFirstCrash, log: this.d.log, sink: this.sink(notices) };
    for (const ev of events) applyJobEvent(ev, cx);
    for (const { node: c, note, status } of await this.dispatch.checkReady()) {
      // A map node starts when it is expanded (its elements run), and finishes when they all did.
      notices.push(status === 'started' ? { event: 'node:started', data: { id: c.node.id } } : { event: 'node:finished', data: { id: c.node.id, status, reason: note } });
    }
    if (!host.active) return 'done';
    const shared = this.d.options.admission;
    const admitted = [...this.handed.splice(0), ...(shared !== undefined ? shared.admit(this.d.run) : graph.admit())];
    const retries = this.retrying.splice(0).filter((n) => n.state === 'queued');
    this.stage();
    // State and jobs are written concurrently: job ids are deterministic,
    // so a job whose admission was not persisted is found and adopted on
    // resume, and adding it again is a no-op.
    const removals = this.toRemove.splice(0);
    // The jobs go first: workers wait for them, nothing waits for the rest.
    await Promise.all([
      admitted.length > 0 ? this.enqueue(admitted) : undefined,
      retries.length > 0 ? this.enqueue(retries) : undefined,
      ...removals.map((r) => host.conn.jobs.remove(r.id, r.host)),
      host.conn.store.flush(),
      this.d.dirLocks.flushReleases(),
      this.d.dirLocks.takeAhead(this.nextUp(events, admitted, retries)),
    ]);
    for (const n of admitted) notices.push({ event: 'node:admitted', data: { id: n.node.id, attempt: n.attempt } });
    for (const n of notices) host.notify(n);
    if (graph.done) {
      await host.finish();
      return 'done';
    }
    const stuck = stuckReason(graph, { pendingWork: this.d.loop.pending, handed: this.handed.length, admissionPaused: shared?.paused === true });
    if (stuck !== undefined) {
      this.d.log.error({ waiting: graph.waiting() }, 'no node can ever be admitted; stopping the run');
      graph.stopAdmitting(stuck);
      this.d.loop.requestAgain();
    }
    host.waitingChanged();
    return 'more';
  }

  /**
   * Nodes that will be ready as soon as nodes in flight succeed: successors
   * that only the admitted nodes (or retried ones) keep waiting, and those
   * that a node succeeding in this step left waiting for one predecessor
   * already in flight. Their directory locks are taken now, alongside this
   * step's writes, not in a round trip of their own when they become ready
   * (a chain hop). Map nodes take no lock.
   */
  private nextUp(events: readonly Incoming[], admitted: readonly NodeRuntime[], retries: readonly NodeRuntime[]): NodeRuntime[] {
    const { graph } = this.d;
    const out: NodeRuntime[] = [];
    const lastOne = (s: number): NodeRuntime | undefined => {
      const succ = graph.node(s);
      return succ.remaining === 1 && succ.state === 'waiting' && succ.node.map === null ? succ : undefined;
    };
    for (const list of [admitted, retries]) {
      for (const n of list) for (const s of graph.dag.succs[n.index] ?? []) {
        const succ = lastOne(s);
        if (succ !== undefined) out.push(succ);
      }
    }
    for (const ev of events) {
      if (ev.kind !== 'completed' || graph.node(ev.index).state !== 'succeeded') continue;
      // Its success took each such successor from two predecessors left to one: looked at once per node.
      for (const s of graph.dag.succs[ev.index] ?? []) {
        const succ = lastOne(s);
        if (succ === undefined) continue;
        const left = (graph.dag.preds[s] ?? []).find((p) => !SATISFIED.has(graph.node(p).state));
        if (left !== undefined && HOLDING_STATES.has(graph.node(left).state)) out.push(succ);
      }
    }
    return out;
  }

  /** Where applying job events sends its effects. */
  private sink(notices: Notice[]): EventSink {
    return {
      notice: (n) => notices.push(n),
      workerReleased: (index) => this.d.dirLocks.workerReleased(index),
      settled: (index) => {
        this.lastEventAt.delete(index);
        this.admissions.forget(index);
        this.dispatch.settled(index);
      },
      removeJob: (jobId, index) => this.toRemove.push({ id: jobId, host: index === undefined ? undefined : this.d.graph.nodes[index]?.record.host }),
      retry: (n) => this.retrying.push(n),
      writeCrash: (n, reason, outcome, skipped, ran) => this.writeCrash(n, reason, outcome, skipped, ran),
      // Stored, so a resumed run does not start admitting (or retrying) again.
      stopReason: (reason) => this.d.host.conn.store.setMeta('stop_reason', reason),
    };
  }

  /** Stages the changed nodes into the run store. */
  stage(): void {
    stageChanges(this.d.graph, this.d.host.conn.store, (n) => this.d.dirLocks.settle(n));
  }

  private writeCrash(n: NodeRuntime, reason: string, outcome: NodeOutcome | undefined, skipped: NodeRuntime[], ran: RanAs | undefined): string | null {
    const o = this.d.options;
    try {
      return writeCrashRecord(n.node.config?.crashdump_dir ?? o.crashdumpDir, crashRecordFor(o.runId, o.workflow.name, n, reason, outcome, skipped, ran), new Date(), o.crashfileFormat);
    } catch (err) {
      this.d.log.error({ err, node: n.node.id }, 'cannot write crash record');
      return null;
    }
  }

  /** A failed job's outcome, and the command and inputs it ran with (for the crash record). */
  private async fetchOutcome(index: number, attempt: number): Promise<{ outcome?: NodeOutcome; ran?: RanAs }> {
    const { runId, prefix } = this.d.options;
    const c = this.d.host.conn;
    const [job, admission] = await Promise.all([c.jobs.getJob(nodeJobId(runId, index, attempt), this.d.graph.nodes[index]?.record.host), c.redis.hget(new Keys(prefix).runAdmits(runId), String(index))]);
    const outcome = (job?.data as NodeJobRef | undefined)?.outcome;
    // What ran: the admission the worker ran (it is withdrawn only once the node's end is applied).
    const spec = parseJsonOrUndefined(admission ?? undefined) as { attempt?: number; spec?: NodeJobData } | undefined;
    const ran: RanAs | undefined = spec?.attempt === attempt && spec.spec !== undefined ? { command: spec.spec.command, inputs: spec.spec.inputs ?? {} } : undefined;
    return { ...(outcome !== undefined ? { outcome: outcome as NodeOutcome } : {}), ...(ran !== undefined ? { ran } : {}) };
  }

  /**
   * Adds the jobs of admitted nodes; a node refused for its inputs fails at
   * once, with a crash record. Each attempt's admission (what its worker
   * runs, and the token its job carries) is in Redis before its job exists.
   * Nothing is enqueued once the run is no longer active.
   */
  private async enqueue(nodes: NodeRuntime[]): Promise<void> {
    if (!this.d.host.active) return;
    const { graph, dirLocks, options, loop, clock } = this.d;
    const { jobs, refused } = this.dispatch.jobsFor(nodes);
    for (const { node: n, reason } of refused) {
      this.lastEventAt.set(n.index, clock());
      loop.push({ kind: 'failed', index: n.index, attempt: n.attempt, reason, outcome: inputsFailure(n, reason, clock()) });
      loop.requestAgain();
    }
    if (jobs.length === 0) return;
    const { entries, fields } = this.admissions.admit(
      jobs,
      (index) => dirLocks.lockOf(graph.node(index)),
      (index) => {
        const r = graph.node(index).record;
        return { ...(r.host !== undefined ? { host: r.host } : {}), ...(r.slots !== undefined ? { slots: r.slots } : {}) };
      },
    );
    await this.d.host.conn.jobs.add(entries, { key: new Keys(options.prefix).runAdmits(options.runId), fields });
  }

  /**
   * Safety net: a node in flight with no event for a whole interval is
   * checked against its job. Finished jobs are fed in as if their event had
   * arrived; a job that vanished is added again under the same id.
   */
  async sweep(intervalMs: number): Promise<void> {
    const { graph, host, options, clock } = this.d;
    const c = host.conn;
    const now = clock();
    const found = await reconcileInFlight(
      c.jobs,
      options.runId,
      graph.inFlightNodes(),
      (n) => this.lastEventAt.get(n.index) ?? n.record.admitted_ms ?? now,
      now,
      intervalMs,
      (nodes) => claimViewOf(c.redis, options.prefix, options.runId, nodes, now, attemptLogsDir(options.workDir, options.runId)),
    );
    for (const n of found.checked) this.lastEventAt.set(n.index, now);
    if (found.missing.length > 0 && host.cancelReason === undefined && host.active) {
      this.d.log.warn({ nodes: found.missing.map((n) => n.node.id) }, 'jobs missing; enqueueing them again');
      await this.enqueue(found.missing);
    }
    for (const ev of found.incoming) this.d.loop.push(ev);
    host.kick();
    if (host.cancelReason === undefined && host.active) {
      const requested = await c.redis.hget(new Keys(options.prefix).runMeta(options.runId), 'cancel_requested');
      if (requested !== null) await host.cancel(requested);
    }
  }
}
