/**
 * The worker registry as everyone reads it: what a worker publishes about
 * itself, and the list with each worker's liveness.
 */
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';
import type { HostCapacity } from './host-capacity.js';

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
  /** This process's host name (what orphan reaping compares). */
  host: string;
  /** The host it belongs to as declared (`--host-id`, default the host name); absent from workers before host ids. */
  host_id?: string;
  /** What that host offers, as this worker declared it (`--capacity`). */
  capacity?: HostCapacity;
  /** The host's labels (`--label`). */
  labels?: Record<string, string>;
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

/** A host as `flowgate hosts` lists it: its declared capacity and the workers it has. */
export interface ListedHost {
  host_id: string;
  status: 'alive' | 'lost';
  /** The capacity its most recently beating worker declared. */
  capacity: HostCapacity | null;
  labels: Record<string, string>;
  /** Workers declaring another capacity or other labels than the most recent one: a misconfiguration. */
  disagreeing: string[];
  workers: Array<{ name: string; status: 'alive' | 'lost'; concurrency: number; running: number }>;
  /** Nodes its live workers are running now. */
  running: number;
  heartbeat_ms: number;
}

/** The registered workers grouped by the host they declared; a host is alive while one of its workers is. */
export function groupHosts(workers: readonly ListedWorker[]): ListedHost[] {
  const hosts = new Map<string, ListedWorker[]>();
  for (const w of workers) {
    const id = w.host_id ?? w.host;
    hosts.set(id, [...(hosts.get(id) ?? []), w]);
  }
  return [...hosts].map(([host_id, ws]) => {
    const latest = ws.reduce((a, b) => (b.heartbeat_ms > a.heartbeat_ms ? b : a));
    const same = (w: ListedWorker): boolean =>
      JSON.stringify(w.capacity ?? null) === JSON.stringify(latest.capacity ?? null) && JSON.stringify(w.labels ?? {}) === JSON.stringify(latest.labels ?? {});
    const alive = ws.filter((w) => w.status === 'alive');
    return {
      host_id,
      status: alive.length > 0 ? 'alive' : 'lost',
      capacity: latest.capacity ?? null,
      labels: latest.labels ?? {},
      disagreeing: ws.filter((w) => !same(w)).map((w) => w.name),
      workers: ws.map((w) => ({ name: w.name, status: w.status, concurrency: w.concurrency, running: w.current.length })),
      running: alive.reduce((n, w) => n + w.current.length, 0),
      heartbeat_ms: latest.heartbeat_ms,
    };
  });
}
