/**
 * The worker registry as everyone reads it: what a worker publishes about
 * itself, and the list with each worker's liveness.
 */
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';

/** A node a worker is running. */
export interface CurrentNode {
  job_id: string;
  run_id: string;
  node_id: string;
  pid: number | null;
  since_ms: number;
}

/** What a worker publishes about itself. */
export interface WorkerInfo {
  name: string;
  /** Random id of this worker process: a worker restarted under the same name is another instance. */
  instance: string;
  host: string;
  pid: number;
  concurrency: number;
  max_tasks_per_child: number;
  started_ms: number;
  heartbeat_ms: number;
  heartbeat_interval_ms: number;
  nodes_done: number;
  current: CurrentNode[];
}

/** A worker as listed by `flowgate workers`. */
export interface ListedWorker extends WorkerInfo {
  status: 'alive' | 'lost';
}

/**
 * Lists registered workers. A worker is `lost` when it missed three beats;
 * lost workers are listed (from their last beat) until their key expires.
 */
export async function listWorkers(redis: Redis, prefix: string, now = Date.now()): Promise<ListedWorker[]> {
  const keys = new Keys(prefix);
  const names = await redis.zrange(keys.workers(), 0, -1);
  if (names.length === 0) return [];
  const values = await redis.mget(...names.map((n) => keys.worker(n)));
  const out: ListedWorker[] = [];
  const gone: string[] = [];
  names.forEach((name, i) => {
    const raw = values[i];
    if (raw === null || raw === undefined) {
      gone.push(name);
      return;
    }
    const info = JSON.parse(raw) as WorkerInfo;
    const lost = now - info.heartbeat_ms > 3 * info.heartbeat_interval_ms;
    out.push({ ...info, status: lost ? 'lost' : 'alive' });
  });
  if (gone.length > 0) await redis.zrem(keys.workers(), ...gone);
  return out;
}
