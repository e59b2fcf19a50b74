/**
 * Asking for a run to be cancelled, shared by `flowgate cancel` and the
 * board's `POST /api/runs/:id/cancel`. The request is stored with the run
 * (`cancel_requested` in its meta, which schedulers also sweep) and announced
 * on the control channel, so whichever scheduler drives the run stops it.
 */
import type { Redis } from 'ioredis';
import type { ControlMessage } from './control.js';
import { Keys } from './keys.js';
import { holderIsDeadHere } from './lease-holder.js';

/** What a cancel request found and did. */
export type CancelRequest =
  /** No such run under the prefix: nothing written. */
  | { kind: 'not_found' }
  /** The run already ended (`status`); nothing written. `summary` is its stored summary's meta field (see stored-summary.ts), if any. */
  | { kind: 'ended'; status: string; summary: string | null }
  /** Still queued for the scheduler service: stored; the service cancels it when it takes it. */
  | { kind: 'queued'; serviceAlive: boolean }
  /** Running under a live scheduler (`holder`): stored and announced. */
  | { kind: 'signalled'; holder: string }
  /** Running, but no scheduler holds it any more: stored; honoured when the run is resumed. */
  | { kind: 'orphaned' };

/** A scheduler service whose heartbeat is older than this is taken for gone. */
export const SERVICE_ALIVE_MS = 30_000;

/*
 * Stores the request only while the run is queued or running, atomically, so a
 * run that ends (or expires) meanwhile is not given a stray field or a new key.
 * KEYS[1] run meta hash. ARGV[1] reason.
 * Returns the status before the request ('' when the run does not exist).
 */
const STORE_CANCEL = `
local status = redis.call('hget', KEYS[1], 'status')
if not status then return '' end
if status == 'running' or status == 'submitted' then redis.call('hset', KEYS[1], 'cancel_requested', ARGV[1]) end
return status`;

/** Requests that `runId` be cancelled with `reason`; see {@link CancelRequest}. */
export async function requestCancel(redis: Redis, prefix: string, runId: string, reason: string, now: number = Date.now()): Promise<CancelRequest> {
  const keys = new Keys(prefix);
  const status = String(await redis.eval(STORE_CANCEL, 1, keys.runMeta(runId), reason));
  if (status === '') {
    // A meta hash without a status (partly written or foreign) counts as no run.
    return { kind: 'not_found' };
  }
  if (status === 'submitted') {
    const beat = Number((await redis.hget(keys.service(), 'heartbeat_ms')) ?? 0);
    return { kind: 'queued', serviceAlive: now - beat <= SERVICE_ALIVE_MS };
  }
  if (status !== 'running') return { kind: 'ended', status, summary: await redis.hget(keys.runMeta(runId), 'summary') };
  const holder = await redis.get(keys.runLease(runId));
  if (holder === null || holderIsDeadHere(holder)) return { kind: 'orphaned' };
  const msg: ControlMessage = { type: 'cancel', run_id: runId, reason };
  await redis.publish(keys.control(), JSON.stringify(msg));
  return { kind: 'signalled', holder };
}
