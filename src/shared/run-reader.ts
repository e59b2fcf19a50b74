/**
 * Reads runs from Redis for every view (board API and metrics, `flowgate
 * status`, `submit --wait`): stored states, the workers' claims and who
 * drives the run, combined by the pure functions of effective-state.ts and
 * run-view.ts. Cheap: one run costs one extra HGETALL (its claims) and one
 * GET (its lease); a list of runs is read in three pipelined round trips, and
 * claims, leases and records only for runs stored as running.
 */
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';
import { maskEnvDeep } from './secrets.js';
import { isObject, num, parseJsonOrUndefined, str } from './json.js';
import { parseStoredSummary } from './stored-summary.js';
import { buildTimeline, downsampleTimeline } from './ledger-timeline.js';
import { listFailureViews, readCrashRecord } from './run-failures.js';
import { readLiveness, type Liveness } from './run-liveness.js';
import { RUN_DEFAULTS } from './options/defaults.js';
import { effectiveNodeState, effectiveRunStatus, recordTimes, type RunStatusName } from './effective-state.js';
import { definitionNodes, listItem, nodeView, parseWaiting, type RunDetail, type RunListItem, type RunOverview, type WaitingSnapshot } from './run-view.js';

const LIST_FIELDS = ['run_id', 'workflow', 'status', 'started_ms', 'finished_ms', 'budget', 'mode'] as const;
/** Crash records read for one run at most. */
const MAX_CRASH_READS = 50;

type Reply = [Error | null, unknown];

async function execPipe(pipe: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  const replies = ((await pipe.exec()) ?? []) as Reply[];
  return replies.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

/** The status a run is shown with, from its stored status and the liveness read with it. */
function statusOf(runId: string, meta: Readonly<Record<string, string | null | undefined>>, live: Liveness): RunStatusName {
  return effectiveRunStatus(meta['status'], { mode: meta['mode'] === 'service' ? 'service' : 'run', lease: live.leases.get(runId) ?? null, leader: live.leader });
}

/** One run of a list as read: its shown status and its nodes' shown states, by node index. */
interface RunRead {
  id: string;
  meta: Record<string, string | null>;
  status: RunStatusName;
  /** Shown state of every node, by index. */
  states: Map<string, string>;
  /** Ids of in-flight nodes (from their records), by index. */
  inFlightIds: Map<string, string>;
}

/** Reads the runs `ids` (same order; runs whose meta is gone are left out). */
async function readRunStates(redis: Redis, prefix: string, ids: readonly string[]): Promise<RunRead[]> {
  if (ids.length === 0) return [];
  const keys = new Keys(prefix);
  const first = redis.pipeline();
  for (const id of ids) first.hmget(keys.runMeta(id), ...LIST_FIELDS).hgetall(keys.runStates(id));
  const r1 = await execPipe(first);
  const found: Array<RunRead & { stored: Record<string, string> }> = [];
  ids.forEach((id, i) => {
    const values = r1[2 * i] as Array<string | null>;
    if (values[0] === null) return; // meta gone: the run was deleted
    const meta = Object.fromEntries(LIST_FIELDS.map((f, j) => [f, values[j] ?? null]));
    found.push({ id, meta, status: 'running', stored: r1[2 * i + 1] as Record<string, string>, states: new Map(), inFlightIds: new Map() });
  });
  // Live runs: their claims and leases. Submitted runs: their nodes from the definition (all waiting).
  const live = found.filter((r) => r.meta['status'] === 'running');
  const bare = found.filter((r) => Object.keys(r.stored).length === 0);
  const second = redis.pipeline();
  for (const r of live) second.hgetall(keys.runClaims(r.id));
  for (const r of bare) second.hget(keys.runMeta(r.id), 'definition');
  const [r2, liveness] = await Promise.all([execPipe(second), readLiveness(redis, prefix, live.map((r) => r.id))]);
  const claims = new Map(live.map((r, i) => [r.id, r2[i] as Record<string, string>]));
  bare.forEach((r, i) => definitionNodes(r2[live.length + i] as string | null).forEach((_, j) => (r.stored[String(j)] = 'waiting')));
  // The records of in-flight nodes (bounded by the budget): the attempt a claim must match, and the node's id.
  const third = redis.pipeline();
  const asked: Array<{ run: RunRead; fields: string[] }> = [];
  for (const r of live) {
    const fields = Object.entries(r.stored).filter(([, s]) => s === 'queued' || s === 'running').map(([index]) => index);
    if (fields.length === 0) continue;
    third.hmget(keys.runNodes(r.id), ...fields);
    asked.push({ run: r, fields });
  }
  const r3 = asked.length > 0 ? await execPipe(third) : [];
  const records = new Map<RunRead, Map<string, string | null>>();
  asked.forEach(({ run, fields }, i) => records.set(run, new Map(fields.map((f, j) => [f, (r3[i] as Array<string | null>)[j] ?? null]))));
  for (const r of found) {
    r.status = statusOf(r.id, r.meta, liveness);
    const runClaims = claims.get(r.id) ?? {};
    const runRecords = records.get(r) ?? new Map<string, string | null>();
    for (const [index, stored] of Object.entries(r.stored)) {
      const record = runRecords.get(index);
      r.states.set(index, effectiveNodeState(stored, recordTimes(record), runClaims[index]).state);
      const id = str((parseJsonOrUndefined(record ?? undefined) as Record<string, unknown> | undefined)?.['id']);
      if (id !== null) r.inFlightIds.set(index, id);
    }
  }
  return found;
}

/** Runs, newest first (at most `limit`, default 50, capped at 1000). */
export async function listRuns(redis: Redis, prefix: string, opts: { limit?: number } = {}): Promise<RunListItem[]> {
  const limit = Math.max(1, Math.min(1000, Math.floor(opts.limit ?? 50)));
  return readRunItems(redis, prefix, await redis.zrevrange(new Keys(prefix).runs(), 0, limit - 1));
}

/** List items of the given runs, in the same order; runs whose meta is gone are left out. */
export async function readRunItems(redis: Redis, prefix: string, ids: readonly string[]): Promise<RunListItem[]> {
  const runs = await readRunStates(redis, prefix, ids);
  return runs.map((r) => listItem(r.meta, [...r.states.values()], r.id, r.status));
}

/** A run's list item with the ids of its running nodes (for progress lines); undefined when there is no such run. */
export async function readRunProgress(redis: Redis, prefix: string, runId: string): Promise<{ item: RunListItem; running: string[] } | undefined> {
  const [r] = await readRunStates(redis, prefix, [runId]);
  if (r === undefined) return undefined;
  const running = [...r.states].filter(([, s]) => s === 'running').map(([index]) => r.inFlightIds.get(index) ?? `#${index}`);
  return { item: listItem(r.meta, [...r.states.values()], r.id, r.status), running };
}

/** One run in full; undefined when there is no such run. */
export async function readRun(redis: Redis, prefix: string, runId: string, now = Date.now()): Promise<RunDetail | undefined> {
  const keys = new Keys(prefix);
  const [meta, states, records, waitingRaw, claims, liveness] = await Promise.all([
    redis.hgetall(keys.runMeta(runId)),
    redis.hgetall(keys.runStates(runId)),
    redis.hgetall(keys.runNodes(runId)),
    redis.get(keys.runWaiting(runId)),
    redis.hgetall(keys.runClaims(runId)),
    readLiveness(redis, prefix, [runId]),
  ]);
  if (meta['run_id'] === undefined) return undefined;
  const defs = definitionNodes(meta['definition']);
  const nodes = defs.map((d, i) => nodeView(d, states[String(i)], records[String(i)], claims[String(i)]));
  // By id, the first of each (looking each element's map node up in the list took 21 s for 50,000 elements).
  const byId = new Map<string, (typeof nodes)[number]>();
  const index = (n: (typeof nodes)[number]): void => {
    if (!byId.has(n.id)) byId.set(n.id, n);
  };
  nodes.forEach(index);
  // Elements of map nodes follow the definition's nodes; each feeds its map node.
  for (let i = defs.length; records[String(i)] !== undefined; i++) {
    const rec = parseJsonOrUndefined(records[String(i)]);
    const r = isObject(rec) ? rec : {};
    const id = str(r['id']) ?? `#${i}`;
    const of = str(r['element_of']);
    const parent = of === null ? undefined : byId.get(of);
    // An element runs with its map node's environment (already masked).
    const view = nodeView({ id, n_procs: num(r['n_procs']) ?? 1, mem_gb: num(r['mem_gb']) ?? 0, env: parent?.env ?? {} }, states[String(i)], records[String(i)], claims[String(i)]);
    nodes.push(view);
    index(view);
    parent?.needs.push(id);
  }
  const item = listItem(meta, nodes.map((n) => n.state), runId, statusOf(runId, meta, liveness));
  const failures = listFailureViews(nodes);
  // Crash records and the summary are shown as stored: any env in them is masked too.
  await Promise.all(failures.slice(0, MAX_CRASH_READS).map(async (f) => (f.crash = maskEnvDeep(await readCrashRecord(f.crash_file)) as Record<string, unknown> | null)));
  const options = parseJsonOrUndefined(meta['options']);
  // The run-level part only: the nodes' final records are `nodes` here.
  const summary = item.finished_ms !== null ? parseStoredSummary(meta['summary'])?.head : undefined;
  return {
    ...item,
    scheduler: meta['scheduler'] ?? RUN_DEFAULTS.scheduler,
    options: isObject(options) ? options : {},
    nodes,
    waiting: stillWaiting(parseWaiting(waitingRaw), byId),
    ledger: { budget: item.budget, rss_label: 'measured peak RSS', timeline: buildTimeline(nodes, item.finished_ms ?? now) },
    failures,
    summary: isObject(summary) ? (maskEnvDeep(summary) as Record<string, unknown>) : null,
    queue_paused: liveness.queuePaused,
  };
}

/**
 * The scheduler's snapshot of why ready nodes wait, without the nodes that
 * have moved on since it was written (it is written at most a few times a
 * second; claims and states are read now): a node shown running or ended
 * is never also shown waiting.
 */
function stillWaiting(w: WaitingSnapshot | null, byId: ReadonlyMap<string, { state: string }>): WaitingSnapshot | null {
  if (w === null) return null;
  // Not yet running: waiting or ready, or queued (admitted, its job not yet taken: a paused queue lists those).
  const waiting = w.waiting.filter((e) => {
    const state = byId.get(e.id)?.state;
    return state === undefined || state === 'waiting' || state === 'ready' || state === 'queued';
  });
  return waiting.length === w.waiting.length ? w : { ...w, waiting };
}

/** Failures listed in a run's overview at most (`failures_total` counts them all). */
export const OVERVIEW_FAILURES = 100;
/** Skipped nodes named per failure in a run's overview at most (`skipped_total` counts them all). */
export const OVERVIEW_SKIPPED = 100;
/** Ledger points in a run's overview at most. */
export const OVERVIEW_TIMELINE_POINTS = 2000;

/**
 * One run without its nodes (`GET /api/runs/:id`): its size does not grow
 * with the run — counts instead of nodes (page them with readRunNodes in
 * run-nodes.ts), the first {@link OVERVIEW_FAILURES} failures, each naming at
 * most {@link OVERVIEW_SKIPPED} skipped nodes, and the ledger in at most
 * {@link OVERVIEW_TIMELINE_POINTS} points. `as_of_ms` is `now`, taken
 * before the read: the data is at least that recent.
 */
export async function readRunOverview(redis: Redis, prefix: string, runId: string, now = Date.now()): Promise<RunOverview | undefined> {
  const run = await readRun(redis, prefix, runId, now);
  if (run === undefined) return undefined;
  const overview: RunOverview & { nodes?: unknown } = {
    ...run,
    ledger: { ...run.ledger, timeline: downsampleTimeline(run.ledger.timeline, OVERVIEW_TIMELINE_POINTS) },
    failures: run.failures.slice(0, OVERVIEW_FAILURES).map((f) => ({ ...f, skipped: f.skipped.slice(0, OVERVIEW_SKIPPED), skipped_total: f.skipped.length })),
    failures_total: run.failures.length,
    as_of_ms: now,
  };
  delete overview.nodes;
  return overview;
}
