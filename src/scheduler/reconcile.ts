/**
 * Reconciliation: in-flight nodes checked against their jobs' state, for
 * when queue events were missed (restarts, stream trimming, Redis outages).
 */
import { nodeJobId, type NodeOutcome } from '../shared/payloads.js';
import type { Incoming } from './incoming.js';
import { isRefusal, type Claim, type ClaimRecord } from '../shared/node-claim.js';
import { parseJsonOrUndefined } from '../shared/json.js';
import type { PendingOutcome } from '../shared/attempt-logs.js';
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

/** What the run store says about the attempts of in-flight nodes (see node-claim.ts). */
export interface ClaimView {
  /** Claims (with outcomes) by node index. */
  claims: ReadonlyMap<number, ClaimRecord>;
  /** Whether the worker instance that holds a claim is alive. */
  alive(claim: Claim): Promise<boolean>;
  /** The outcome a worker kept on disk because it could not reach Redis (attempt-logs.ts). */
  pending(n: NodeRuntime): PendingOutcome | undefined;
}

/**
 * Checks every in-flight node not heard of for `quietMs` (0: all of them)
 * against the run store and its job. The run store comes first: an outcome a
 * worker recorded there is the node's, whatever happened to its job (removed
 * from the queue, completion never delivered). A job that no worker would
 * run (refused) or that vanished is added again, unless a live worker is
 * running the attempt.
 */
export async function reconcileInFlight(
  queue: Pick<JobChannel, 'getJob'>,
  runId: string,
  inFlight: readonly NodeRuntime[],
  lastHeard: (n: NodeRuntime) => number,
  now: number,
  quietMs: number,
  readClaims: (nodes: readonly NodeRuntime[]) => Promise<ClaimView>,
): Promise<Reconciled> {
  const out: Reconciled = { incoming: [], missing: [], checked: [] };
  const quiet = inFlight.filter((n) => now - lastHeard(n) >= quietMs);
  if (quiet.length === 0) return out;
  const view = await readClaims(quiet);
  for (const n of quiet) {
    out.checked.push(n);
    const record = view.claims.get(n.index);
    const claim = record?.claim.attempt === n.attempt ? record : undefined;
    const recorded = claim?.outcome === undefined ? undefined : parseOutcome(claim.outcome);
    if (claim !== undefined && recorded !== undefined) {
      if (claim.claim.state === 'succeeded') out.incoming.push({ kind: 'completed', index: n.index, attempt: n.attempt, outcome: recorded });
      else out.incoming.push({ kind: 'failed', index: n.index, attempt: n.attempt, reason: recorded.reason ?? 'failed', outcome: recorded });
      continue;
    }
    if (claim !== undefined && claim.claim.state === 'failed' && claim.claim.ended !== undefined) {
      // Ended by the scheduler: its worker was lost more often than its queue allows.
      out.incoming.push({ kind: 'failed', index: n.index, attempt: n.attempt, reason: `worker lost: ${claim.claim.ended}` });
      continue;
    }
    const runningElsewhere = claim?.claim.state === 'running' && (await view.alive(claim.claim));
    const kept = runningElsewhere ? undefined : view.pending(n);
    if (kept !== undefined) {
      // It finished while Redis was away and its worker gave up before it could say so.
      const outcome = kept.outcome as NodeOutcome;
      if (kept.state === 'succeeded') out.incoming.push({ kind: 'completed', index: n.index, attempt: n.attempt, outcome });
      else out.incoming.push({ kind: 'failed', index: n.index, attempt: n.attempt, reason: outcome.reason ?? 'failed', outcome });
      continue;
    }
    if (runningElsewhere && n.state === 'queued') out.incoming.push({ kind: 'active', index: n.index, attempt: n.attempt });
    const jobId = nodeJobId(runId, n.index, n.attempt);
    const job = await queue.getJob(jobId, n.record.host);
    if (job === undefined) {
      if (!runningElsewhere) out.missing.push(n);
      continue;
    }
    const state = await job.getState();
    if (state === 'completed') {
      // Completed after it was read (no return value here): the next sweep or its event brings the outcome.
      if (job.returnvalue !== null && job.returnvalue !== undefined) out.incoming.push({ kind: 'completed', index: n.index, attempt: n.attempt, outcome: job.returnvalue as unknown as NodeOutcome });
    } else if (state === 'failed' && isRefusal(job.failedReason)) {
      if (!runningElsewhere) {
        await job.remove().catch(() => undefined);
        out.missing.push(n);
      }
    } else if (state === 'failed') {
      out.incoming.push({ kind: 'failed', index: n.index, attempt: n.attempt, reason: job.failedReason });
    } else if (state === 'active' && n.state === 'queued' && !runningElsewhere) {
      out.incoming.push({ kind: 'active', index: n.index, attempt: n.attempt });
    }
  }
  return out;
}

function parseOutcome(raw: string): NodeOutcome | undefined {
  const v = parseJsonOrUndefined(raw);
  return typeof v === 'object' && v !== null ? (v as NodeOutcome) : undefined;
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
    const job = await jobs.getJob(jobId, n.record.host);
    const state = job === undefined ? 'missing' : await job.getState();
    // A job that completed between reading it and reading its state has no return value here:
    // its completion event brings the outcome.
    if (state === 'completed') {
      if (job?.returnvalue !== null && job?.returnvalue !== undefined) out.finished.push({ kind: 'completed', index: n.index, attempt: n.attempt, outcome: job.returnvalue as unknown as NodeOutcome });
    }
    else if (state === 'failed' && isRefusal(job?.failedReason)) out.unstarted.push(n);
    else if (state === 'failed') out.finished.push({ kind: 'failed', index: n.index, attempt: n.attempt, reason: job?.failedReason ?? 'failed' });
    else if (state === 'missing') out.unstarted.push(n);
    else if ((state === 'waiting' || state === 'delayed' || state === 'prioritized') && (await jobs.remove(jobId, n.record.host)) === 1) out.unstarted.push(n);
  }
  return out;
}
