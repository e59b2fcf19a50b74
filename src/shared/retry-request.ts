/**
 * Asking the scheduler service to retry a failed run's nodes, shared by
 * `flowgate retry` (for service runs) and the board's
 * `POST /api/runs/:id/retry`. The request is stored with the run
 * (`retry_requested` in its meta) and the run goes back on the submitted
 * list: the service resets the nodes and resumes the run within its shared
 * budget, like any run it drives. Nothing here runs anything.
 */
import type { Redis } from 'ioredis';
import type { ControlMessage } from './control.js';
import { Keys } from './keys.js';

/** A scheduler service whose heartbeat is older than this is taken for gone. */
const SERVICE_ALIVE_MS = 30_000;

/** What a retry request found and did. */
export type RetryRequest =
  | { kind: 'not_found' }
  /** Started by `flowgate run`: retried with `flowgate retry` where it can run. */
  | { kind: 'not_service' }
  /** Not failed or cancelled (`status`): nothing to retry. */
  | { kind: 'not_retryable'; status: string }
  /** No live scheduler service to take it. */
  | { kind: 'no_service' }
  | { kind: 'requested' };

/*
 * Stores the request and resubmits the run, only while it is a failed or
 * cancelled service run without a pending request.
 * KEYS[1] run meta hash, KEYS[2] submitted list. ARGV[1] run id, ARGV[2] nodes JSON.
 * Returns `ok`, or the reason it did nothing: `missing`, `mode`, `status:<status>`.
 */
const STORE_RETRY = `
local status = redis.call('hget', KEYS[1], 'status')
if not status then return 'missing' end
if redis.call('hget', KEYS[1], 'mode') ~= 'service' then return 'mode' end
if status ~= 'failed' and status ~= 'cancelled' then return 'status:' .. status end
if redis.call('hexists', KEYS[1], 'retry_requested') == 1 then return 'status:being retried' end
redis.call('hset', KEYS[1], 'retry_requested', ARGV[2])
redis.call('rpush', KEYS[2], ARGV[1])
return 'ok'`;

/** Requests a retry of `nodes` (none: every failed, cancelled or skipped node) of service run `runId`. */
export async function requestRetry(redis: Redis, prefix: string, runId: string, nodes: readonly string[], now = Date.now()): Promise<RetryRequest> {
  const keys = new Keys(prefix);
  const beat = Number((await redis.hget(keys.service(), 'heartbeat_ms')) ?? 0);
  const alive = now - beat <= SERVICE_ALIVE_MS;
  if (!alive) {
    const exists = await redis.hget(keys.runMeta(runId), 'status');
    if (exists === null) return { kind: 'not_found' };
    return (await redis.hget(keys.runMeta(runId), 'mode')) === 'service' ? { kind: 'no_service' } : { kind: 'not_service' };
  }
  const result = String(await redis.eval(STORE_RETRY, 2, keys.runMeta(runId), keys.submitted(), runId, JSON.stringify(nodes)));
  if (result === 'missing') return { kind: 'not_found' };
  if (result === 'mode') return { kind: 'not_service' };
  if (result.startsWith('status:')) return { kind: 'not_retryable', status: result.slice('status:'.length) };
  const msg: ControlMessage = { type: 'submitted', run_id: runId };
  await redis.publish(keys.control(), JSON.stringify(msg));
  return { kind: 'requested' };
}

/** The nodes of a stored retry request (a JSON list of node ids); undefined when malformed. */
export function parseRetryNodes(raw: string): string[] | undefined {
  try {
    const v = JSON.parse(raw) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
  } catch {
    return undefined;
  }
}
