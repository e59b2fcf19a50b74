/**
 * Prometheus metrics of the board, in a registry of its own, refreshed from
 * Redis on every scrape.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Gauge, Histogram, Registry } from 'prom-client';
import { Keys } from '../shared/keys.js';
import { readRunItems } from '../shared/run-reader.js';
import { readLiveness } from '../shared/run-liveness.js';
import { FINAL_NODE_STATES, NODE_STATE_NAMES, RUN_STATUSES, effectiveRunStatus, type RunStatusName } from '../shared/effective-state.js';
import { parseWaiting, type RunListItem } from '../shared/run-view.js';
import { groupHosts, listWorkers, type ListedWorker } from '../shared/worker-registry.js';
import { readHeld, sumHeld, withUsage, type HeldNode } from '../shared/held-resources.js';
import { addNamed, type NamedAmounts } from '../shared/named-view.js';
import { readService } from './service.js';

/** Runs finished this long ago or less count in `flowgate_nodes`. */
export const RECENT_MS = 3600_000;
/** Runs looked at per scrape (newest first). */
const RUNS_SCANNED = 1000;
const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;
const WORKER_STATUSES = ['alive', 'lost'] as const;

/** Runs that may still change: driven, waiting for the service, or orphaned (until resumed). */
function isLive(r: { status: RunStatusName }): boolean {
  return r.status === 'running' || r.status === 'submitted' || r.status === 'orphaned';
}

/** The board's metrics and how to refresh them. */
export class BoardMetrics {
  /** The registry `/metrics` serves. */
  readonly registry = new Registry();
  private readonly nodes: Gauge<'state'>;
  private readonly runs: Gauge<'status'>;
  private readonly reserved: Gauge<'resource'>;
  private readonly budget: Gauge<'resource'>;
  private readonly free: Gauge<'resource'>;
  private readonly hostUp: Gauge<'host'>;
  private readonly hostCapacity: Gauge<'host' | 'resource'>;
  private readonly hostReserved: Gauge<'host' | 'resource'>;
  private readonly hostFree: Gauge<'host' | 'resource'>;
  private readonly queueJobs: Gauge<'state'>;
  private readonly workers: Gauge<'status'>;
  private readonly queuePaused: Gauge;
  private readonly duration: Histogram<'status'>;
  private readonly keys: Keys;
  /** Nodes already observed in the histogram, `run/index`, for runs still being watched. */
  private readonly observed = new Set<string>();
  /** Finished runs whose every node has been observed. */
  private readonly doneRuns = new Set<string>();
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly queue: Queue,
  ) {
    this.keys = new Keys(prefix);
    const registers = [this.registry];
    this.nodes = new Gauge({ name: 'flowgate_nodes', help: 'Nodes by state, over runs that are running or finished within the last hour', labelNames: ['state'], registers });
    this.runs = new Gauge({ name: 'flowgate_runs', help: `Runs by status (the ${RUNS_SCANNED} newest)`, labelNames: ['status'], registers });
    this.reserved = new Gauge({ name: 'flowgate_ledger_reserved', help: 'Resources reserved by running runs: procs, memory_gb and each named resource (slots)', labelNames: ['resource'], registers });
    this.budget = new Gauge({ name: 'flowgate_ledger_budget', help: 'Budget of the scheduler service, else summed over running runs: procs, memory_gb and each named resource (slots)', labelNames: ['resource'], registers });
    this.free = new Gauge({ name: 'flowgate_ledger_free', help: 'Budget less what is reserved, per resource', labelNames: ['resource'], registers });
    this.hostUp = new Gauge({ name: 'flowgate_host_up', help: 'Whether a registered host has a live worker (1) or its last worker was lost (0)', labelNames: ['host'], registers });
    this.hostCapacity = new Gauge({ name: 'flowgate_host_capacity', help: 'Capacity a host declared (flowgate worker --capacity): procs, memory_gb and named resources', labelNames: ['host', 'resource'], registers });
    this.hostReserved = new Gauge({ name: 'flowgate_host_reserved', help: 'Resources reserved by nodes placed on a host (per-host placement)', labelNames: ['host', 'resource'], registers });
    this.hostFree = new Gauge({ name: 'flowgate_host_free', help: 'A host\'s declared capacity less what nodes placed on it reserve', labelNames: ['host', 'resource'], registers });
    this.queueJobs = new Gauge({ name: 'flowgate_queue_jobs', help: 'BullMQ jobs of the node queue by state', labelNames: ['state'], registers });
    this.queuePaused = new Gauge({ name: 'flowgate_queue_paused', help: 'Whether the node queue is paused (1): admitted nodes wait until it is resumed', registers });
    this.workers = new Gauge({ name: 'flowgate_workers', help: 'Registered workers by status', labelNames: ['status'], registers });
    this.duration = new Histogram({
      name: 'flowgate_node_duration_seconds',
      help: 'Run time of finished nodes (worker clock), observed once per node',
      labelNames: ['status'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
      registers,
    });
  }

  /** The Prometheus text, refreshed from Redis first. */
  async text(): Promise<string> {
    // Concurrent scrapes share one refresh.
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
    await this.refreshing;
    return this.registry.metrics();
  }

  /** Reads everything once and sets every series. */
  async refresh(now = Date.now()): Promise<void> {
    const [{ runs, queuePaused }, jobCounts, workers] = await Promise.all([
      this.runStatuses(),
      this.queue.getJobCounts(...JOB_STATES),
      listWorkers(this.redis, this.prefix, now),
    ]);
    // Node counts only for the runs that matter now: one cheap pass over statuses first.
    const recentIds = runs.filter((r) => isLive(r) || (r.finished_ms !== null && now - r.finished_ms <= RECENT_MS)).map((r) => r.run_id);
    const recent = await readRunItems(this.redis, this.prefix, recentIds);

    for (const s of NODE_STATE_NAMES) this.nodes.set({ state: s }, recent.reduce((sum, r) => sum + r.counts[s], 0));
    for (const s of RUN_STATUSES) this.runs.set({ status: s }, runs.filter((r) => r.status === s).length);
    for (const s of JOB_STATES) this.queueJobs.set({ state: s }, jobCounts[s] ?? 0);
    for (const s of WORKER_STATUSES) this.workers.set({ status: s }, workers.filter((w) => w.status === s).length);
    this.queuePaused.set(queuePaused ? 1 : 0);
    const held = await this.refreshLedger(recent.filter((r) => r.status === 'running'));
    this.refreshHosts(workers, held);
    await this.observeDurations(recent);
  }

  /** Shown status (orphaned included) and finish time of the newest runs, and whether the queue is paused. */
  private async runStatuses(): Promise<{ runs: Array<{ run_id: string; status: RunStatusName; finished_ms: number | null }>; queuePaused: boolean }> {
    const ids = await this.redis.zrevrange(this.keys.runs(), 0, RUNS_SCANNED - 1);
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hmget(this.keys.runMeta(id), 'run_id', 'status', 'finished_ms', 'mode');
    const replies = ids.length > 0 ? ((await pipe.exec()) ?? []) : [];
    const rows = ids.flatMap((id, i) => {
      const [err, v] = replies[i] ?? [];
      if (err) throw err;
      const [runId, status, finished, mode] = (v ?? []) as Array<string | null>;
      if (runId === null || runId === undefined) return [];
      const ms = finished === null || finished === undefined || finished === '' ? null : Number(finished);
      return [{ run_id: id, stored: status, mode: mode === 'service' ? ('service' as const) : ('run' as const), finished_ms: ms !== null && Number.isFinite(ms) ? ms : null }];
    });
    const live = await readLiveness(this.redis, this.prefix, rows.filter((r) => r.stored === 'running').map((r) => r.run_id));
    const runs = rows.map((r) => ({
      run_id: r.run_id,
      status: effectiveRunStatus(r.stored, { mode: r.mode, lease: live.leases.get(r.run_id) ?? null, leader: live.leader }),
      finished_ms: r.finished_ms,
    }));
    return { runs, queuePaused: live.queuePaused };
  }

  /** Sets the ledger gauges from what running runs hold; returns the nodes holding something. */
  private async refreshLedger(running: readonly RunListItem[]): Promise<HeldNode[]> {
    let budgetProcs = 0;
    let budgetMem = 0;
    const budgetNamed: NamedAmounts = {};
    const ids = running.map((r) => r.run_id);
    const [held, waitingRaw, service] = await Promise.all([
      readHeld(this.redis, this.prefix, ids),
      ids.length > 0 ? this.redis.mget(...ids.map((id) => this.keys.runWaiting(id))) : Promise.resolve([]),
      readService(this.redis, this.prefix),
    ]);
    running.forEach((r, i) => {
      const waiting = parseWaiting(waitingRaw[i]);
      budgetProcs += waiting?.budget.n_procs ?? r.budget.n_procs;
      budgetMem += waiting?.budget.mem_gb ?? r.budget.memory_gb;
      addNamed(budgetNamed, waiting?.budget.resources ?? r.budget.resources ?? {});
    });
    // Runs under the scheduler service share its one budget.
    if (service?.budget !== undefined) {
      budgetProcs = service.budget.n_procs;
      budgetMem = service.budget.memory_gb;
      for (const name of Object.keys(budgetNamed)) delete budgetNamed[name];
      addNamed(budgetNamed, service.budget.resources ?? {});
    }
    const reserved = sumHeld(held);
    const budget = { n_procs: budgetProcs, mem_gb: budgetMem, resources: budgetNamed };
    // Named resources come and go with runs and services: stale samples go.
    for (const g of [this.reserved, this.budget, this.free]) g.reset();
    setAmounts(this.reserved, {}, reserved);
    setAmounts(this.budget, {}, budget);
    setAmounts(this.free, {}, { n_procs: budget.n_procs - reserved.n_procs, mem_gb: budget.mem_gb - reserved.mem_gb, resources: addNamed({ ...budget.resources }, reserved.resources, -1) }, Object.keys(reserved.resources));
    return held;
  }

  /** Per registered host: liveness, declared capacity, what nodes placed on it reserve and what is free. */
  private refreshHosts(workers: readonly ListedWorker[], held: readonly HeldNode[]): void {
    for (const g of [this.hostUp, this.hostCapacity, this.hostReserved, this.hostFree]) g.reset();
    for (const h of withUsage(groupHosts(workers), held)) {
      const host = { host: h.host_id };
      this.hostUp.set(host, h.status === 'alive' ? 1 : 0);
      setAmounts(this.hostReserved, host, h.held, Object.keys(h.capacity?.resources ?? {}));
      if (h.capacity !== null) setAmounts(this.hostCapacity, host, h.capacity);
      if (h.free !== null) setAmounts(this.hostFree, host, h.free);
    }
  }

  /** Feeds the histogram with nodes that finished since the last scrape. */
  private async observeDurations(recent: readonly RunListItem[]): Promise<void> {
    const watched = recent.filter((r) => !this.doneRuns.has(r.run_id));
    const ids = new Set(recent.map((r) => r.run_id));
    for (const id of this.doneRuns) if (!ids.has(id)) this.doneRuns.delete(id);
    for (const key of this.observed) if (!ids.has(key.slice(0, key.lastIndexOf('/')))) this.observed.delete(key);
    if (watched.length === 0) return;
    const pipe = this.redis.pipeline();
    for (const r of watched) pipe.hgetall(this.keys.runStates(r.run_id));
    const replies = (await pipe.exec()) ?? [];
    for (const [i, r] of watched.entries()) {
      const states = (replies[i]?.[1] ?? {}) as Record<string, string>;
      let pending = false;
      // Only the records of nodes that ended since the last scrape are read
      // (a run's records are ~1 KB a node: every scrape read 100 MB of a 100,000-node run).
      const ended: Array<[string, string]> = [];
      for (const [index, state] of Object.entries(states)) {
        if (!FINAL_NODE_STATES.has(state)) pending = true;
        else if (!this.observed.has(`${r.run_id}/${index}`)) ended.push([index, state]);
      }
      for (let at = 0; at < ended.length; at += RECORDS_PER_READ) {
        const chunk = ended.slice(at, at + RECORDS_PER_READ);
        const records = await this.redis.hmget(this.keys.runNodes(r.run_id), ...chunk.map(([index]) => index));
        chunk.forEach(([index, state], j) => {
          this.observed.add(`${r.run_id}/${index}`);
          const seconds = durationOf(records[j] ?? undefined);
          if (seconds !== null) this.duration.observe({ status: state }, seconds);
        });
      }
      if (!isLive(r) && !pending) {
        this.doneRuns.add(r.run_id);
        for (const index of Object.keys(states)) this.observed.delete(`${r.run_id}/${index}`);
      }
    }
  }
}

/** Node records read in one HMGET by the duration histogram. */
const RECORDS_PER_READ = 1000;

/**
 * Sets one sample per resource: `procs`, `memory_gb` and each named
 * resource, plus `also` names (at 0 unless given), rounded to micro-units.
 */
function setAmounts<L extends string>(g: Gauge<L | 'resource'>, labels: Partial<Record<L, string>>, a: { n_procs: number; mem_gb: number; resources?: Readonly<NamedAmounts> }, also: readonly string[] = []): void {
  const round = (v: number): number => Math.round(v * 1e6) / 1e6;
  g.set({ ...labels, resource: 'procs' } as Partial<Record<L | 'resource', string>>, round(a.n_procs));
  g.set({ ...labels, resource: 'memory_gb' } as Partial<Record<L | 'resource', string>>, round(a.mem_gb));
  const named: NamedAmounts = { ...Object.fromEntries(also.map((n) => [n, 0])), ...a.resources };
  for (const [name, n] of Object.entries(named)) g.set({ ...labels, resource: name } as Partial<Record<L | 'resource', string>>, round(n));
}

/** Seconds between a record's `start_ms` and `end_ms`, or null when it never ran. */
export function durationOf(recordJson: string | undefined): number | null {
  if (recordJson === undefined) return null;
  try {
    const r = JSON.parse(recordJson) as { start_ms?: unknown; end_ms?: unknown };
    if (typeof r.start_ms !== 'number' || typeof r.end_ms !== 'number' || r.end_ms < r.start_ms) return null;
    return (r.end_ms - r.start_ms) / 1000;
  } catch {
    return null;
  }
}
