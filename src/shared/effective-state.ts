/**
 * How a node's state and a run's status are shown, in every view (board,
 * metrics, `flowgate status`, `submit --wait`): the one place each is
 * decided, from what Redis holds (the stored state, the worker's claim of the
 * current attempt, who drives the run). Pure: the readers of run-reader.ts
 * fetch what these functions need.
 */
import { isObject, num, parseJsonOrUndefined, str } from './json.js';
import { holderIsDeadHere } from './lease-holder.js';

/** Every state a node can be in (the scheduler's state machine, mirrored). */
export const NODE_STATE_NAMES = ['waiting', 'ready', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'cached', 'cancelled'] as const;
/** A node state. */
export type NodeStateName = (typeof NODE_STATE_NAMES)[number];
/** Statuses a run is stored with (`meta.status`). */
const STORED_RUN_STATUSES = ['submitted', 'running', 'succeeded', 'failed', 'cancelled'] as const;
/**
 * Statuses a run is listed with: the stored ones, and `orphaned` — a run
 * stored as running that no scheduler drives any more (derived, never stored).
 */
export const RUN_STATUSES = [...STORED_RUN_STATUSES, 'orphaned'] as const;
/** A run's status. */
export type RunStatusName = (typeof RUN_STATUSES)[number];
/** Node states that will not change again. */
export const FINAL_NODE_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'skipped', 'cached', 'cancelled']);

/** The stored run status from `meta.status` (unknown values read as `running`). */
export function runStatus(raw: string | null | undefined): RunStatusName {
  return (STORED_RUN_STATUSES as readonly string[]).includes(raw ?? '') ? (raw as RunStatusName) : 'running';
}

/** What drives a run, for {@link effectiveRunStatus}. */
export interface RunDrivers {
  mode: 'run' | 'service';
  /** Holder (`host:pid`) of the run's lease; null when the lease is absent or expired. */
  lease: string | null;
  /** Holder of the scheduler service's leader lease; null when no service leads. */
  leader: string | null;
}

/**
 * The status a run is shown with. A run stored as `running` is `orphaned`
 * when nothing drives it: its lease expired (or its holder is a dead process
 * on this host), and, for a run of the scheduler service, no service leads
 * that would adopt it. Every other status is shown as stored; a submitted run
 * waiting for the service is `submitted`.
 */
export function effectiveRunStatus(stored: string | null | undefined, drivers: RunDrivers, isDead: (holder: string) => boolean = holderIsDeadHere): RunStatusName {
  const status = runStatus(stored);
  if (status !== 'running') return status;
  if (drivers.lease !== null && !isDead(drivers.lease)) return 'running';
  // A leading service adopts its runs whose scheduler is gone.
  if (drivers.mode === 'service' && drivers.leader !== null && !isDead(drivers.leader)) return 'running';
  return 'orphaned';
}

/** The command that continues a run shown as `status`; null unless it is orphaned. */
export function continueCommand(runId: string, status: RunStatusName): string | null {
  return status === 'orphaned' ? `flowgate resume ${runId}` : null;
}

/** A node as it is shown: see {@link effectiveNodeState}. */
export interface EffectiveNode {
  state: NodeStateName;
  start_ms: number | null;
  end_ms: number | null;
  worker: string | null;
  finishing: 'succeeded' | 'failed' | null;
}

/** What {@link effectiveNodeState} needs of the node's stored record. */
export interface RecordTimes {
  /** The node's current attempt (0 before its first admission). */
  attempt: number;
  start_ms: number | null;
  end_ms: number | null;
  worker: string | null;
}

/**
 * The one place a node's shown state is decided: its stored state (the
 * scheduler's, written behind its in-memory graph) corrected by its worker's
 * claim of the current attempt, which is written the moment the worker
 * starts it. Only an in-flight node (`queued` or `running`) is corrected, and
 * only by a claim of the attempt its record names:
 * - claim `running`: the node is `running` since the claim's `start_ms`, on its worker;
 * - claim `succeeded`/`failed`: the worker is done but the scheduler has not
 *   applied the outcome yet. The node is still shown `running` (it holds its
 *   resources and its dependents have not been released until then), with the
 *   claim's `end_ms` and `finishing` set to the outcome;
 * - claim `requeued`: the job went back to the queue, the node is `queued`.
 * Claims of other attempts (an earlier attempt, or a run retried with
 * `flowgate retry`) and malformed claims change nothing.
 */
export function effectiveNodeState(stored: string | undefined, record: RecordTimes, claimJson: string | null | undefined): EffectiveNode {
  const state = (NODE_STATE_NAMES as readonly string[]).includes(stored ?? '') ? (stored as NodeStateName) : 'waiting';
  const shown: EffectiveNode = { state, start_ms: record.start_ms, end_ms: record.end_ms, worker: record.worker, finishing: null };
  if (state !== 'queued' && state !== 'running') return shown;
  const c = parseJsonOrUndefined(claimJson ?? undefined);
  if (!isObject(c) || num(c['attempt']) !== record.attempt || record.attempt === 0) return shown;
  const start = num(c['start_ms']);
  const worker = str(c['worker']);
  switch (c['state']) {
    case 'running':
      return { state: 'running', start_ms: start, end_ms: null, worker, finishing: null };
    case 'succeeded':
    case 'failed':
      return { state: 'running', start_ms: start, end_ms: num(c['end_ms']), worker, finishing: c['state'] };
    case 'requeued':
      return { ...shown, state: 'queued', start_ms: null, end_ms: null };
    default:
      return shown;
  }
}

/** The record fields {@link effectiveNodeState} reads, from a record's JSON. */
export function recordTimes(recordJson: string | null | undefined): RecordTimes {
  const r = parseJsonOrUndefined(recordJson ?? undefined);
  const rec = isObject(r) ? r : {};
  return { attempt: num(rec['attempt']) ?? num(rec['attempts']) ?? 0, start_ms: num(rec['start_ms']), end_ms: num(rec['end_ms']), worker: str(rec['worker']) };
}
