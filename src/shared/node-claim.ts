/**
 * The worker claim path: a node job on the queue is only a pointer
 * (`NodeJobRef`). Before it starts anything, a worker claims the attempt in
 * the run store — atomically checking that the run is live, that the node is
 * admitted for exactly this attempt with the token the job carries, and that
 * no live worker holds it — and runs what the scheduler stored, never what
 * the job says. When the attempt ends, the worker records its outcome in the
 * run store before reporting to the queue.
 */
import { luaScript, withCommands } from './lua-commands.js';
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';
import type { NodeJobData } from './payloads.js';
import type { DirLock } from './dir-lock.js';
import { WORKER_DEFAULTS } from './options/defaults.js';

/** What the scheduler stores for an admitted node attempt. */
export interface Admission {
  attempt: number;
  /** Random token; the attempt's job carries it. */
  token: string;
  /** The node directory's lock: the claim takes it over (see dir-lock.ts). */
  lock?: DirLock & { ttl_ms: number };
  /** What the worker runs. */
  spec: NodeJobData;
  /** The host the attempt was placed on (per-host placement): only that host's workers may claim it. */
  host?: string;
  /** Named resource slots the attempt holds (`{gpu: [1]}`), set in the node's environment. */
  slots?: Record<string, number[]>;
}

/** How an execution of a claimed attempt ended, when another claim followed it. */
export interface ClaimHistoryEntry {
  worker: string;
  start_ms: number;
  end_ms?: number;
  /** `killed: worker lost`, `requeued: <why>`. */
  ended: string;
}

/** A worker's claim of a node attempt, as stored. */
export interface Claim {
  attempt: number;
  worker: string;
  /** The worker process's instance id (its registration carries the same). */
  instance: string;
  state: 'running' | 'succeeded' | 'failed' | 'requeued';
  start_ms: number;
  end_ms?: number;
  /** Why the execution was requeued (state `requeued`). */
  ended?: string;
  /** Earlier executions of the same attempt (requeued, or whose worker was lost). */
  history?: ClaimHistoryEntry[];
  /** The job's BullMQ lock token as the claiming worker holds it (to requeue the job at once if the worker is lost). */
  job_token?: string;
  /** The claiming worker's host name. */
  host?: string;
  /** How many times the claiming worker's queue runs a lost job again (its `maxStalledCount`). */
  max_lost?: number;
}

/** The reason prefix of a job a worker refused: not an outcome of the node. */
export const REFUSED_PREFIX = 'refused by worker: ';

/** Whether a job's failure reason is a refusal (the job was not the scheduler's to run). */
export function isRefusal(reason: string | undefined): boolean {
  return reason !== undefined && reason.startsWith(REFUSED_PREFIX);
}

const scripts = {
  claim: luaScript('claim-node'),
  finish: luaScript('finish-node'),
  requeueLost: luaScript('requeue-lost'),
};

type ClaimCommands = {
  fgClaimNode(k1: string, k2: string, k3: string, ...args: string[]): Promise<[number, string, string?]>;
  fgFinishNode(k1: string, k2: string, k3: string, ...args: string[]): Promise<number>;
  fgRequeueLost(k1: string, ...args: string[]): Promise<number>;
};

/** The client with flowgate's claim scripts defined. */
function withScripts(redis: Redis): Redis & ClaimCommands {
  return withCommands<ClaimCommands>(redis, {
    fgClaimNode: { numberOfKeys: 3, lua: scripts.claim },
    fgFinishNode: { numberOfKeys: 3, lua: scripts.finish },
    fgRequeueLost: { numberOfKeys: 1, lua: scripts.requeueLost },
  });
}

/** A claim granted (with what to run) or refused (with why). */
export type ClaimResult = { ok: true; admission: Admission; earlier: ClaimHistoryEntry[] } | { ok: false; reason: string };

/** A worker as it claims: its registered name and the instance id its heartbeat publishes. */
export interface ClaimingWorker {
  name: string;
  instance: string;
  /** Its host name (default: none recorded). */
  host?: string;
  /** The host id it registered under (`--host-id`): checked against the attempt's placement. */
  hostId?: string;
  /** Its queue's `maxStalledCount` (default 1). */
  maxLost?: number;
}

/** Claims an attempt for `worker`; see claim-node.lua for the checks. */
export async function claimNode(
  redis: Redis,
  prefix: string,
  ref: { run_id: string; node_index: number; attempt: number; token: string },
  worker: ClaimingWorker,
  jobToken: string | undefined,
  now = Date.now(),
): Promise<ClaimResult> {
  const k = new Keys(prefix);
  const [ok, payload, earlier] = await withScripts(redis).fgClaimNode(
    k.runMeta(ref.run_id),
    k.runAdmits(ref.run_id),
    k.runClaims(ref.run_id),
    String(ref.node_index),
    String(ref.attempt),
    ref.token,
    worker.name,
    String(now),
    k.workerPrefix(),
    worker.instance,
    jobToken ?? '',
    worker.host ?? '',
    String(worker.maxLost ?? 1),
    worker.hostId ?? '',
  );
  if (ok !== 1) return { ok: false, reason: payload };
  return { ok: true, admission: JSON.parse(payload) as Admission, earlier: earlier === undefined || earlier === '' ? [] : (JSON.parse(earlier) as ClaimHistoryEntry[]) };
}

/** How a claimed attempt ended, for {@link finishClaim}. */
export type ClaimEnd = { state: 'succeeded' | 'failed'; outcome: unknown } | { state: 'requeued'; why: string };

/** Records the end of this worker's claim; false when the claim is no longer its own. */
export async function finishClaim(
  redis: Redis,
  prefix: string,
  ref: { run_id: string; node_index: number; attempt: number },
  worker: ClaimingWorker,
  end: ClaimEnd,
  lock: DirLock | undefined,
  now = Date.now(),
): Promise<boolean> {
  const k = new Keys(prefix);
  const done = await withScripts(redis).fgFinishNode(
    k.runClaims(ref.run_id),
    k.runOutcomes(ref.run_id),
    lock?.key ?? k.runClaims(ref.run_id),
    String(ref.node_index),
    String(ref.attempt),
    worker.name,
    String(now),
    end.state,
    end.state === 'requeued' ? end.why : '',
    end.state === 'requeued' ? '' : JSON.stringify(end.outcome),
    worker.instance,
    lock?.value ?? '',
    k.dirsReleased(),
  );
  return done === 1;
}

/**
 * Ends the running claim of a lost worker instance (see requeue-lost.lua):
 * `requeued` lets the attempt run again, `failed` ends it. False when the
 * claim was not the lost instance's any more, or the instance beat again.
 */
export async function endLostClaim(
  redis: Redis,
  prefix: string,
  ref: { run_id: string; node_index: number; attempt: number },
  instance: string,
  as: 'requeued' | 'failed',
  now = Date.now(),
): Promise<boolean> {
  const k = new Keys(prefix);
  const done = await withScripts(redis).fgRequeueLost(k.runClaims(ref.run_id), String(ref.node_index), String(ref.attempt), instance, String(now), k.workerPrefix(), WORKER_LOST, as);
  return done === 1;
}

/** How an execution whose worker stopped beating ended. */
export const WORKER_LOST = 'killed: worker lost';

/** A claim with its outcome, as the scheduler reads it back. */
export interface ClaimRecord {
  claim: Claim;
  /** The recorded outcome (raw JSON) when the claim ended succeeded/failed. */
  outcome?: string;
}

/** Reads the claims (and outcomes) of some nodes of a run. */
export async function readClaims(redis: Redis, prefix: string, runId: string, indices: readonly number[]): Promise<Map<number, ClaimRecord>> {
  const out = new Map<number, ClaimRecord>();
  if (indices.length === 0) return out;
  const k = new Keys(prefix);
  const fields = indices.map(String);
  const [claims, outcomes] = await Promise.all([redis.hmget(k.runClaims(runId), ...fields), redis.hmget(k.runOutcomes(runId), ...fields)]);
  indices.forEach((index, i) => {
    const raw = claims[i];
    if (raw === null || raw === undefined) return;
    const claim = JSON.parse(raw) as Claim;
    const outcome = outcomes[i];
    out.set(index, outcome !== null && outcome !== undefined && (claim.state === 'succeeded' || claim.state === 'failed') ? { claim, outcome } : { claim });
  });
  return out;
}

/**
 * Whether the worker instance holding a claim is alive at `now`: its name is
 * registered by the same instance, which beat within three intervals.
 */
export async function workerAlive(redis: Redis, prefix: string, claim: Pick<Claim, 'worker' | 'instance'>, now = Date.now()): Promise<boolean> {
  const raw = await redis.get(new Keys(prefix).worker(claim.worker));
  if (raw === null) return false;
  try {
    const info = JSON.parse(raw) as { heartbeat_ms?: number; heartbeat_interval_ms?: number; instance?: string };
    return info.instance === claim.instance && now - (info.heartbeat_ms ?? 0) <= 3 * (info.heartbeat_interval_ms ?? WORKER_DEFAULTS.heartbeat_ms);
  } catch {
    return false;
  }
}
