/**
 * Reconciliation: in-flight nodes checked against their jobs' state, for
 * when queue events were missed (restarts, stream trimming, Redis outages).
 */
import type { Queue } from 'bullmq';
import { nodeJobId, type NodeJobData, type NodeOutcome } from '../shared/payloads.js';
import type { Incoming } from './incoming.js';
import type { JobChannel } from './job-channel.js';
import type { NodeRuntime } from './run-graph.js';

/** What reconciling found. */
export interface Reconciled {
  /** Facts to apply as if their events had arrived. */
  incoming: Incoming[];
  /** Nodes whose job does not exist (to be enqueued again under the same id). */
  missing: NodeRuntime[];
  /** Nodes that were checked (their "last heard of" time is now). */
  checked: NodeRuntime[];
}

/**
 * Checks every in-flight node not heard of for `quietMs` (0: all of them)
 * against its job.
 */
export async function reconcileInFlight(
  queue: Queue<NodeJobData>,
  runId: string,
  inFlight: readonly NodeRuntime[],
  lastHeard: (n: NodeRuntime) => number,
  now: number,
  quietMs: number,
): Promise<Reconciled> {
  const out: Reconciled = { incoming: [], missing: [], checked: [] };
  for (const n of inFlight) {
    if (now - lastHeard(n) < quietMs) continue;
    out.checked.push(n);
    const job = await queue.getJob(nodeJobId(runId, n.index, n.attempt));
    if (job === undefined) {
      out.missing.push(n);
      continue;
    }
    const state = await job.getState();
    if (state === 'completed') {
      out.incoming.push({ kind: 'completed', index: n.index, attempt: n.attempt, outcome: job.returnvalue as unknown as NodeOutcome });
    } else if (state === 'failed') {
      out.incoming.push({ kind: 'failed', index: n.index, attempt: n.attempt, reason: job.failedReason });
    } else if (state === 'active' && n.state === 'queued') {
      out.incoming.push({ kind: 'active', index: n.index, attempt: n.attempt });
    }
  }
  return out;
}

/** In-flight nodes sorted out when a run is cancelled. */
export interface CancelTriage {
  /** Jobs that finished before the cancel: their real outcome, to apply. */
  finished: Incoming[];
  /** Nodes whose job had not started (now removed from the queue) or is gone: cancelled at once. */
  unstarted: NodeRuntime[];
}

/**
 * Looks at the job of every in-flight node of a run being cancelled: finished
 * jobs keep their outcome, jobs not started yet are taken out of the queue.
 * Active jobs are locked by their workers and are stopped by the abort message.
 */
export async function triageForCancel(jobs: JobChannel, runId: string, nodes: readonly NodeRuntime[]): Promise<CancelTriage> {
  const out: CancelTriage = { finished: [], unstarted: [] };
  for (const n of nodes) {
    const jobId = nodeJobId(runId, n.index, n.attempt);
    const job = await jobs.getJob(jobId);
    const state = job === undefined ? 'missing' : await job.getState();
    if (state === 'completed') out.finished.push({ kind: 'completed', index: n.index, attempt: n.attempt, outcome: job?.returnvalue as unknown as NodeOutcome });
    else if (state === 'failed') out.finished.push({ kind: 'failed', index: n.index, attempt: n.attempt, reason: job?.failedReason ?? 'failed' });
    else if (state === 'missing') out.unstarted.push(n);
    else if ((state === 'waiting' || state === 'delayed' || state === 'prioritized') && (await jobs.remove(jobId)) === 1) out.unstarted.push(n);
  }
  return out;
}
