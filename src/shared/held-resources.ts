/**
 * What running runs hold now, node by node and where: read from each run's
 * holds (the nodes in flight) and those nodes' records (their grant and the
 * host they were placed on), for `/metrics` and `flowgate hosts`. Bounded:
 * two pipelined round trips, reading only nodes that hold something (at
 * most what the budgets admit at once), never a whole run.
 */
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';
import { parseJsonOrUndefined } from './json.js';
import { addNamed, parseNamed, type NamedAmounts } from './named-view.js';
import type { ListedHost } from './worker-registry.js';

/** A node holding resources now. */
export interface HeldNode {
  run_id: string;
  /** The node's id (its index when its record is unreadable). */
  node_id: string;
  /** The host it was placed on; null when placed in one pooled budget (no per-host placement). */
  host: string | null;
  n_procs: number;
  mem_gb: number;
  resources: NamedAmounts;
}

/** Threads, memory and named resources summed. */
export interface HeldSum {
  n_procs: number;
  mem_gb: number;
  resources: NamedAmounts;
}

type Reply = [Error | null, unknown];

async function exec(pipe: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  return (((await pipe.exec()) ?? []) as Reply[]).map(([err, v]) => {
    if (err) throw err;
    return v;
  });
}

const finite = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The nodes of runs `runIds` that hold resources now, with their grants and hosts. */
export async function readHeld(redis: Redis, prefix: string, runIds: readonly string[]): Promise<HeldNode[]> {
  if (runIds.length === 0) return [];
  const keys = new Keys(prefix);
  const first = redis.pipeline();
  for (const id of runIds) first.hgetall(keys.runHolds(id));
  const holds = (await exec(first)) as Array<Record<string, string>>;
  const asked = runIds.map((id, i) => ({ id, holds: holds[i] ?? {} })).filter((r) => Object.keys(r.holds).length > 0);
  if (asked.length === 0) return [];
  const second = redis.pipeline();
  for (const r of asked) second.hmget(keys.runNodes(r.id), ...Object.keys(r.holds));
  const records = (await exec(second)) as Array<Array<string | null>>;
  const out: HeldNode[] = [];
  asked.forEach((r, i) => {
    Object.entries(r.holds).forEach(([index, hold], j) => {
      // The hold is "procs mem"; the record adds the named resources and the host (written in the same transaction).
      const [p, m] = hold.split(' ').map(Number);
      const rec = parseJsonOrUndefined(records[i]?.[j] ?? undefined) as Record<string, unknown> | undefined;
      const granted = (typeof rec?.['granted'] === 'object' && rec['granted'] !== null ? rec['granted'] : {}) as Record<string, unknown>;
      out.push({
        run_id: r.id,
        node_id: typeof rec?.['id'] === 'string' ? rec['id'] : `#${index}`,
        host: typeof rec?.['host'] === 'string' ? rec['host'] : null,
        n_procs: Number.isFinite(p) ? (p ?? 0) : (finite(granted['n_procs']) ?? 0),
        mem_gb: Number.isFinite(m) ? (m ?? 0) : (finite(granted['mem_gb']) ?? 0),
        resources: parseNamed(granted['resources']),
      });
    });
  });
  return out;
}

/** Runs looked at for what they hold, newest first. */
export const HELD_RUNS_SCANNED = 1000;

/** Ids of the runs stored as running among the newest {@link HELD_RUNS_SCANNED}. */
export async function runningRunIds(redis: Redis, prefix: string): Promise<string[]> {
  const keys = new Keys(prefix);
  const ids = await redis.zrevrange(keys.runs(), 0, HELD_RUNS_SCANNED - 1);
  if (ids.length === 0) return [];
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hget(keys.runMeta(id), 'status');
  const statuses = await exec(pipe);
  return ids.filter((_, i) => statuses[i] === 'running');
}

/** The sum of what `nodes` hold. */
export function sumHeld(nodes: readonly HeldNode[]): HeldSum {
  const sum: HeldSum = { n_procs: 0, mem_gb: 0, resources: {} };
  for (const n of nodes) {
    sum.n_procs += n.n_procs;
    sum.mem_gb += n.mem_gb;
    addNamed(sum.resources, n.resources);
  }
  return { n_procs: round(sum.n_procs), mem_gb: round(sum.mem_gb), resources: sum.resources };
}

/** A host with what is held on it and what is left of its capacity. */
export type HostWithUsage = ListedHost & {
  /** What nodes placed on this host hold now. */
  held: HeldSum;
  /** Its declared capacity less what is held; null when it declared none. */
  free: HeldSum | null;
};

/**
 * Each host with what the nodes placed on it hold and what is free of its
 * capacity. Nodes placed without a host (one pooled budget) count on no host.
 */
export function withUsage(hosts: readonly ListedHost[], held: readonly HeldNode[]): HostWithUsage[] {
  return hosts.map((h) => {
    const mine = sumHeld(held.filter((n) => n.host === h.host_id));
    const c = h.capacity;
    // Free of what the host declared; a name it does not offer has nothing free.
    const named = Object.fromEntries(Object.entries(c?.resources ?? {}).map(([name, n]) => [name, n - (mine.resources[name] ?? 0)]));
    const free = c === null ? null : { n_procs: round(c.n_procs - mine.n_procs), mem_gb: round(c.mem_gb - mine.mem_gb), resources: named };
    return { ...h, held: mine, free };
  });
}

function round(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}
