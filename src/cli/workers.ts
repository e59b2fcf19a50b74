/**
 * `flowgate workers`: the registered workers, their heartbeats and what they
 * run; `flowgate hosts`: the same workers grouped by the host they declared,
 * with its capacity and labels, and what the nodes placed on it hold.
 */
import type { Redis } from 'ioredis';
import { ExitCode, ValidationError } from '../shared/errors.js';
import { checkRedis, createRedis } from '../shared/redis.js';
import { groupHosts, listWorkers, type ListedWorker } from '../shared/worker-registry.js';
import { describeCapacity } from '../shared/host-capacity.js';
import { describeAmounts } from '../shared/amounts.js';
import { readHeld, runningRunIds, sumHeld, withUsage, type HeldSum, type HostWithUsage } from '../shared/held-resources.js';
import { Flags, parseArgs, type FlagSpec } from './args.js';
import { connectionFrom, CONNECTION_FLAGS } from './connection.js';

export const WORKERS_FLAGS: readonly FlagSpec[] = [
  { name: 'json', type: 'boolean', help: 'print the list as JSON' },
  ...CONNECTION_FLAGS,
];

function age(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Connects as the flags say and hands the registered workers (and the time read) to `show`. */
async function withWorkers(argv: readonly string[], show: (workers: ListedWorker[], json: boolean, prefix: string, now: number, redis: Redis) => void | Promise<void>): Promise<number> {
  const flags = new Flags(parseArgs(argv, WORKERS_FLAGS));
  if (flags.positionals.length > 0) throw new ValidationError('OPTIONS_INVALID', [{ message: `unexpected argument "${flags.positionals[0] ?? ''}"` }]);
  const { redisUrl, prefix } = connectionFrom(flags);
  await checkRedis(redisUrl);
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
    const now = Date.now();
    await show(await listWorkers(redis, prefix, now), flags.bool('json', false), prefix, now, redis);
    return ExitCode.ok;
  } finally {
    redis.disconnect();
  }
}

/**
 * Prints `items` as JSON, or each as `describe` words it, or that no worker is
 * registered; true when it printed entries as text.
 */
function printListing<T>(items: readonly T[], json: boolean, prefix: string, describe: (item: T) => string): boolean {
  if (json) process.stdout.write(`${JSON.stringify(items)}\n`);
  else if (items.length === 0) process.stdout.write(`no workers registered under prefix ${prefix}\n`);
  else for (const item of items) process.stdout.write(describe(item));
  return !json && items.length > 0;
}

function describeWorker(w: ListedWorker, now: number): string {
  const current = w.current.map((c) => `${c.node_id}@${c.run_id}${c.pid !== null ? ` (pid ${c.pid})` : ''}`).join(', ');
  return (
    `${w.name}  ${w.status}  host ${w.host} pid ${w.pid}  concurrency ${w.concurrency}  up ${age(now - w.started_ms)}  ` +
    `last beat ${age(now - w.heartbeat_ms)} ago  nodes done ${w.nodes_done}  running ${w.current.length}${current !== '' ? `: ${current}` : ''}\n`
  );
}

/** Lists workers; returns the exit code. */
export function workersCommand(argv: readonly string[]): Promise<number> {
  return withWorkers(argv, (workers, json, prefix, now) => {
    printListing(workers, json, prefix, (w) => describeWorker(w, now));
  });
}

export const HOSTS_FLAGS = WORKERS_FLAGS;

/** `2 procs, 1.5 GB, gpu 1` (a named resource at 0 included: none free). */
function amounts(a: HeldSum): string {
  return describeAmounts(a, true);
}

function describeHost(h: HostWithUsage, now: number): string {
  const labels = Object.entries(h.labels).map(([k, v]) => `${k}=${v}`).join(',');
  const alive = h.workers.filter((w) => w.status === 'alive').length;
  return (
    `${h.host_id}  ${h.status}  capacity ${h.capacity !== null ? describeCapacity(h.capacity) : 'not declared'}${labels !== '' ? `  labels ${labels}` : ''}  ` +
    `workers ${alive} alive of ${h.workers.length}  running ${h.running}  last beat ${age(now - h.heartbeat_ms)} ago\n` +
    `  held ${amounts(h.held)}${h.free !== null ? `  free ${amounts(h.free)}` : ''}\n` +
    (h.disagreeing.length > 0 ? `  warning: worker(s) ${h.disagreeing.join(', ')} declared another capacity or other labels for this host\n` : '')
  );
}

/**
 * Lists hosts (workers grouped by `--host-id`) with what the in-flight nodes
 * of running runs placed on each hold and what is free; returns the exit code.
 */
export function hostsCommand(argv: readonly string[]): Promise<number> {
  return withWorkers(argv, async (workers, json, prefix, now, redis) => {
    const held = await readHeld(redis, prefix, await runningRunIds(redis, prefix));
    const hosts = withUsage(groupHosts(workers), held);
    if (!printListing(hosts, json, prefix, (h) => describeHost(h, now))) return;
    // Placed in one pooled budget (no --placement hosts): held, but on no host in particular.
    const pooled = held.filter((n) => n.host === null);
    if (pooled.length > 0) process.stdout.write(`not placed on a host (one pooled budget): ${pooled.length} node(s) holding ${amounts(sumHeld(pooled))}\n`);
  });
}
