/**
 * What a job event does to a run, with no I/O: the node state changes in the
 * run graph, and the effects the scheduler carries out afterwards (events to
 * emit, node directories a worker let go, jobs to take out of the queue,
 * attempts to enqueue again, crash records), handed to an injected sink.
 * Also the staging of changed nodes into the run store and the check for a
 * run that can never progress.
 */
import type { Logger } from '../shared/logger.js';
import { isRefusal } from '../shared/node-claim.js';
import { nodeJobId, type NodeOutcome } from '../shared/payloads.js';
import type { Incoming, RanAs } from './incoming.js';
import { SATISFIED, TERMINAL_STATES } from './node-state.js';
import { RunGraph, type NodeRuntime } from './run-graph.js';
import { inputsFailure } from './node-job.js';
import type { RunStore } from './run-store.js';
import { describeFailedReason } from './scheduler-support.js';
import type { SchedulerEvents } from './scheduler-types.js';

/** An event the scheduler emits once the step's writes are done. */
export type Notice = { [K in keyof SchedulerEvents]: { event: K; data: SchedulerEvents[K] } }[keyof SchedulerEvents];

/** Where applying events sends its effects. */
export interface EventSink {
  /** An event to emit after the step's writes. */
  notice(n: Notice): void;
  /** The node's worker ended its attempt and let its directory go. */
  workerReleased(index: number): void;
  /** The node's attempt is over: nothing more is expected of its job. */
  settled(index: number): void;
  /** A job to take out of the queue (a requeued job of a cancelled run); `index`: its node, whose host queue it is on. */
  removeJob(jobId: string, index?: number): void;
  /** A node whose next attempt is to be enqueued in this step. */
  retry(n: NodeRuntime): void;
  /** Writes the crash record of a final failure; returns its path, or null when it could not be written. */
  writeCrash(n: NodeRuntime, reason: string, outcome: NodeOutcome | undefined, skipped: NodeRuntime[], ran: RanAs | undefined): string | null;
  /** Stores why the run stopped admitting (a resumed run must not start admitting again). */
  stopReason(reason: string): void;
}

/** What applying an event needs to know about the run. */
export interface ApplyContext {
  graph: RunGraph;
  runId: string;
  /** Set while the run is being cancelled: nodes that stop now end cancelled. */
  cancelReason: string | undefined;
  /** Stop admitting at the first final failure. */
  stopOnFirstCrash: boolean;
  log: Logger;
  sink: EventSink;
}

const finished = (n: NodeRuntime, status: string, reason: string | null): Notice => ({ event: 'node:finished', data: { id: n.node.id, status, reason } });

/** Applies one job event to the run graph; effects go to the context's sink. */
export function applyJobEvent(ev: Incoming, cx: ApplyContext): void {
  const { graph, sink, log } = cx;
  const n = graph.nodes[ev.index];
  if (n === undefined) return;
  if (ev.kind === 'active') {
    if (graph.markRunning(ev.index, ev.attempt)) sink.notice({ event: 'node:started', data: { id: n.node.id } });
    return;
  }
  if (ev.kind === 'unplaced') {
    applyUnplaced(ev, n, cx);
    return;
  }
  if (cx.cancelReason !== undefined && (ev.kind === 'failed' || ev.kind === 'stalled')) {
    // The run is being cancelled: a node stopped now ends cancelled.
    if (graph.cancelInFlight(ev.index, cx.cancelReason, ev.attempt, ev.kind === 'failed' ? ev.outcome : undefined)) {
      // A worker that stopped the node released its directory; a stalled job's lock expires.
      if (ev.kind === 'stalled' || !isRefusal(ev.reason)) sink.workerReleased(ev.index);
      // A stalled job is back in the queue: take it out so nobody runs it.
      if (ev.kind === 'stalled') sink.removeJob(nodeJobId(cx.runId, ev.index, ev.attempt), ev.index);
      sink.notice(finished(n, 'cancelled', cx.cancelReason));
    }
    return;
  }
  if (ev.kind === 'failed' && isRefusal(ev.reason)) {
    // A job no worker would run (not this attempt's, or a copy of one that
    // is running or has run): not an outcome of the node. The sweep finds
    // the real one in the run store.
    log.warn({ node: n.node.id, attempt: ev.attempt, reason: ev.reason }, 'node:job-refused');
    return;
  }
  if (ev.kind === 'stalled') {
    // Its worker stopped renewing the lock (killed, frozen): BullMQ has put
    // the job back to run again; the node keeps its hold meanwhile.
    if (graph.markLost(ev.index, ev.attempt)) {
      log.warn({ node: n.node.id, attempt: ev.attempt }, 'node:worker-lost (job requeued)');
      sink.notice({ event: 'node:retrying', data: { id: n.node.id, attempt: n.attempt, reason: 'worker lost; job requeued' } });
    }
    return;
  }
  if (ev.kind === 'completed') {
    if (graph.complete(ev.index, ev.attempt, ev.outcome)) {
      sink.workerReleased(ev.index);
      sink.settled(ev.index);
      sink.notice(finished(n, 'succeeded', null));
    }
    return;
  }
  applyFailure(ev, n, cx);
}

/**
 * The node's host was lost: it is placed again as a new attempt (its job,
 * if still waiting in the lost host's queue, is taken out), unless it lost
 * its host too often or the run is being cancelled: then it fails.
 */
function applyUnplaced(ev: Extract<Incoming, { kind: 'unplaced' }>, n: NodeRuntime, cx: ApplyContext): void {
  const { graph, sink } = cx;
  const losses = n.record.attempt_history.filter((a) => a.status === 'lost').length;
  if (cx.cancelReason !== undefined || !graph.isAdmitting || losses + 1 >= RunGraph.MAX_HOST_LOSSES) {
    const why = cx.cancelReason !== undefined || !graph.isAdmitting ? ev.reason : `${ev.reason} (its host was lost ${losses + 1} times)`;
    sink.removeJob(nodeJobId(cx.runId, ev.index, ev.attempt), ev.index);
    applyFailure({ kind: 'failed', index: ev.index, attempt: ev.attempt, reason: why, outcome: lostOutcome(n, why) }, n, cx);
    return;
  }
  if (!graph.unplace(ev.index, ev.attempt, ev.reason, { ...(ev.worker !== undefined ? { worker: ev.worker } : {}), ...(ev.start_ms !== undefined ? { start_ms: ev.start_ms } : {}) })) return;
  sink.removeJob(nodeJobId(cx.runId, ev.index, ev.attempt), ev.index);
  sink.settled(ev.index);
  cx.log.warn({ node: n.node.id, attempt: ev.attempt, reason: ev.reason }, 'node:host-lost');
  sink.notice({ event: 'node:retrying', data: { id: n.node.id, attempt: n.attempt + 1, reason: ev.reason } });
}

/** The outcome of an attempt that ended with its host. */
function lostOutcome(n: NodeRuntime, reason: string): NodeOutcome {
  // `worker: scheduler`: no worker let the node's directory go; the scheduler does.
  return { ...inputsFailure(n, reason, Date.now()), failure: 'worker_lost' };
}

/** A failed attempt: retried, or final (crash record, descendants skipped, maybe the run stopped). */
function applyFailure(ev: Extract<Incoming, { kind: 'failed' }>, n: NodeRuntime, cx: ApplyContext): void {
  const { graph, sink, log } = cx;
  const reason = ev.outcome?.reason ?? describeFailedReason(ev.reason, n.record.stalls);
  const result = graph.fail(ev.index, ev.attempt, reason, ev.outcome);
  if (result === undefined) return;
  if (ev.outcome?.worker !== 'scheduler') sink.workerReleased(ev.index);
  sink.settled(ev.index);
  if (result.retry) {
    log.info({ node: n.node.id, reason, nextAttempt: n.attempt }, 'node:retrying');
    sink.retry(n);
    sink.notice({ event: 'node:retrying', data: { id: n.node.id, attempt: n.attempt, reason } });
    return;
  }
  // A failed map element: its siblings not yet started never start (running ones finish).
  const skipped = [...result.skipped, ...graph.stopSiblings(n)];
  n.record.crash_file = sink.writeCrash(n, reason, ev.outcome, skipped, ev.ran);
  log.info({ node: n.node.id, reason, crashFile: n.record.crash_file }, 'node:failed');
  sink.notice(finished(n, 'failed', reason));
  for (const s of skipped) sink.notice(finished(s, 'skipped', s.record.reason));
  // The run's flag, or the failed node's own config (nipype's node.config).
  if ((cx.stopOnFirstCrash || n.node.config?.stop_on_first_crash === true) && graph.isAdmitting) {
    const stop = `stop-on-first-crash: node "${n.node.id}" failed`;
    sink.stopReason(stop);
    for (const c of graph.stopAdmitting(stop)) sink.notice(finished(c, 'cancelled', c.record.reason));
  }
}

/** The run store's staging side: what {@link stageChanges} writes. */
export type StagedWrites = Pick<RunStore, 'setState' | 'setRemaining' | 'setRecord' | 'hold' | 'release' | 'withdraw'>;

/**
 * Stages every node changed since the last call into the run store: state,
 * remaining predecessors, record, resource hold; a node that reached a final
 * state loses its admission and is handed to `ended` (its directory lock goes).
 */
export function stageChanges(graph: RunGraph, store: StagedWrites, ended: (n: NodeRuntime) => void): void {
  for (const index of graph.takeChanged()) {
    const n = graph.node(index);
    store.setState(index, n.state);
    store.setRemaining(index, n.remaining);
    store.setRecord(index, n.record);
    if (n.state === 'queued' || n.state === 'running') store.hold(index, n.candidate.grant);
    else store.release(index);
    if (TERMINAL_STATES.has(n.state)) {
      store.withdraw(index);
      ended(n);
    } else if (n.state === 'ready' && n.attempt > 0) {
      // Placed again after its host was lost: the lost attempt's admission
      // goes, so a returning host cannot claim it.
      store.withdraw(index);
    }
  }
  // A finished predecessor counted off: the count alone is written, not the whole record again.
  for (const index of graph.takeRecounted()) store.setRemaining(index, graph.node(index).remaining);
}

/** What, besides the graph, tells whether a run still has something to wait for. */
export interface StuckCheck {
  /** Events queued or another step asked for. */
  pendingWork: boolean;
  /** Nodes handed over by a shared admission pass, not yet enqueued. */
  handed: number;
  /** Shared admission is paused (the service is adopting runs). */
  admissionPaused: boolean;
}

/**
 * Defensive: nothing in flight, nothing admitted, yet nodes remain. Must not
 * happen; if it does, returns why the run stops (it must never hang), else
 * undefined.
 */
/** Nodes a stuck run's reason names at most. */
const STUCK_NODES_SHOWN = 10;

export function stuckReason(graph: RunGraph, s: StuckCheck): string | undefined {
  // Another step was asked for (admission resumed, resources freed): judge after it.
  if (s.pendingWork) return undefined;
  if (graph.inFlight > 0 || graph.done) return undefined;
  // Sharing a budget: other runs' nodes hold it; this run gets its turn when they release.
  if (graph.ledger.holdCount > 0 || s.handed > 0) return undefined;
  // Waiting for another run to let go of a node directory.
  if (graph.blockedCount > 0) return undefined;
  // The service is adopting runs: admission resumes once their holds are restored.
  if (s.admissionPaused) return undefined;
  // A fleet: a host that fits may join; the nodes wait with their reasons.
  if (graph.ledger.elastic === true) return undefined;
  // The first few only: a reason stored in every cancelled node's record is never one line a node.
  const waiting = graph.waiting(STUCK_NODES_SHOWN);
  const more = graph.readyCount + graph.blockedCount - waiting.length;
  if (waiting.length > 0) return `no node could be admitted: ${waiting.map((w) => `${w.id} (${w.reason})`).join(', ')}${more > 0 ? `, and ${more} more` : ''}`;
  // Nothing is ready: the nodes left wait for predecessors that can no longer succeed.
  const left = graph.nodes.filter((n) => !TERMINAL_STATES.has(n.state));
  const shown = left.slice(0, STUCK_NODES_SHOWN).map((n) => {
    const unmet = (graph.dag.preds[n.index] ?? []).map((p) => graph.node(p)).filter((p) => !SATISFIED.has(p.state));
    return unmet.length > 0 ? `${n.node.id} (needs ${unmet.map((p) => `${p.node.id}: ${p.state}`).join(', ')})` : `${n.node.id} (${n.state})`;
  });
  return `no node could be admitted: ${left.length} node(s) wait for predecessors that can no longer succeed: ${shown.join(', ')}${left.length > shown.length ? ', …' : ''}`;
}
