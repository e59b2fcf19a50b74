/**
 * Removing finished runs from Redis (and, on request, their node
 * directories): `flowgate prune` and the retention applied after runs.
 *
 * One run is removed in this order, so that a crash at any point leaves the
 * run either whole in the runs index or gone, never listed half-deleted:
 *   1. its BullMQ jobs (every attempt), through the Queue API;
 *   2. with `workDirs`, its node directories no remaining run uses, and its
 *      summary and crash files;
 *   3. its keys (`Keys.runKeys`) and its runs index entry, in one Lua script
 *      that first checks again that the run is finished and not leased.
 * Until step 3 the run is listed and readable as before (only the jobs or
 * files already gone are missing); a later prune finishes the job. Step 3 is
 * atomic, and `status` and the board skip index entries whose meta is gone.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { attemptLogsDir } from '../shared/attempt-logs.js';
import { Keys } from '../shared/keys.js';
import { parseJsonOrUndefined } from '../shared/json.js';
import { nodeJobId } from '../shared/payloads.js';
import { FINISHED_STATUSES, removableNodeDirs, type RunEntry } from './prune-plan.js';

/** Removes BullMQ jobs by id: 1 if removed, 0 if absent or locked. */
export interface JobRemover {
  /** Removes a job from its host's queue (per-host placement), else from the shared one. */
  remove(jobId: string, host?: string): Promise<number>;
}

/**
 * Deletes one finished run's keys and its index entry, atomically.
 *   KEYS[1] runs index (sorted set)   KEYS[2] the run's meta hash
 *   KEYS[3] the run's lease           KEYS[4..] every key of the run (Keys.runKeys)
 *   ARGV[1] the run id
 * Returns 1 when deleted, 0 when left alone: the run is leased, or its meta
 * exists with a status that is not final (it was never finished, or is being
 * created). A run whose meta is gone (an orphaned index entry) is deleted.
 */
const DELETE_RUN_LUA = `
if redis.call('exists', KEYS[3]) == 1 then return 0 end
if redis.call('exists', KEYS[2]) == 1 then
  local status = redis.call('hget', KEYS[2], 'status')
  if status ~= 'succeeded' and status ~= 'failed' and status ~= 'cancelled' then return 0 end
end
-- UNLINK: a large run's hashes (hundreds of MB for 100,000 nodes) are freed in the background.
redis.call('unlink', unpack(KEYS, 2))
redis.call('zrem', KEYS[1], ARGV[1])
return 1
`;

/** Index entries read per pipeline. */
const READ_CHUNK = 500;
/** Runs whose node records are read at once. */
const FACTS_AT_ONCE = 8;
/** Node records asked for per HSCAN. */
const RECORDS_PER_SCAN = 1000;
/** Jobs removed concurrently. */
const JOB_CHUNK = 100;

/** A run of the runs index with where its things are. */
interface RunFacts {
  entry: RunEntry;
  workflow: string;
  /** The run's work dir ('' when unknown). */
  workDir: string;
  /** Job ids, with the host queue of the node's last placement. */
  jobIds: Array<{ id: string; host?: string }>;
  nodeDirs: string[];
  /** Crash records, `_runs/<id>*.json` files and the run's attempt logs: the run's own, never shared. */
  files: string[];
}

/** What a prune removed; a dry run lists in `runs` what it would remove and removes nothing (counts stay 0). */
export interface PruneReport {
  dry_run: boolean;
  /** The selected runs with their job count and the node directories removed (or to remove) with them. */
  runs: Array<{ run_id: string; status: string | null; finished_ms: number; jobs: number; node_dirs: string[] }>;
  removed_runs: number;
  removed_jobs: number;
  removed_dirs: string[];
  /** Selected runs left alone because they changed meanwhile (leased, resumed). */
  skipped: string[];
}

/** Every entry of the runs index with its status, finish time and lease. */
export async function readRunEntries(redis: Redis, prefix: string): Promise<RunEntry[]> {
  const keys = new Keys(prefix);
  const ids = await redis.zrange(keys.runs(), 0, -1);
  const out: RunEntry[] = [];
  for (let at = 0; at < ids.length; at += READ_CHUNK) {
    const chunk = ids.slice(at, at + READ_CHUNK);
    const pipe = redis.pipeline();
    for (const id of chunk) pipe.hmget(keys.runMeta(id), 'run_id', 'status', 'finished_ms', 'started_ms').exists(keys.runLease(id));
    const replies = (await pipe.exec()) ?? [];
    chunk.forEach((runId, i) => {
      const [errMeta, meta] = replies[2 * i] ?? [];
      const [errLease, leased] = replies[2 * i + 1] ?? [];
      if (errMeta || errLease) throw errMeta ?? errLease;
      const [id, status, finished, started] = meta as Array<string | null>;
      const finishedMs = Number(finished ?? started ?? 0);
      out.push({ runId, status: id === null ? null : (status ?? 'running'), finishedMs: Number.isFinite(finishedMs) ? finishedMs : 0, leased: leased === 1 });
    });
  }
  return out;
}

/** The service's work dir (runs submitted without one use it), or ''. */
async function serviceWorkDir(redis: Redis, keys: Keys): Promise<string> {
  return (await redis.hget(keys.service(), 'work_dir')) ?? '';
}

/**
 * A run's node records, a batch at a time (HSCAN): a 100,000-node run's
 * records are ~100 MB, which one HGETALL held in the pruner's memory at once
 * and took Redis seconds to answer. A field is given once.
 */
async function* nodeRecords(redis: Redis, key: string): AsyncGenerator<[string, string]> {
  const seen = new Set<string>();
  for await (const batch of redis.hscanStream(key, { count: RECORDS_PER_SCAN }) as AsyncIterable<string[]>) {
    for (let i = 0; i + 1 < batch.length; i += 2) {
      const field = batch[i] as string;
      if (seen.has(field)) continue;
      seen.add(field);
      yield [field, batch[i + 1] as string];
    }
  }
}

async function readFacts(redis: Redis, keys: Keys, entry: RunEntry, defaultWorkDir: string): Promise<RunFacts> {
  const meta = await redis.hmget(keys.runMeta(entry.runId), 'workflow', 'options');
  const options = parseJsonOrUndefined(meta[1]) as { work_dir?: unknown } | undefined;
  const workDir = typeof options?.work_dir === 'string' && options.work_dir !== '' ? options.work_dir : defaultWorkDir;
  const facts: RunFacts = { entry, workflow: meta[0] ?? '', workDir, jobIds: [], nodeDirs: [], files: [] };
  for await (const [field, json] of nodeRecords(redis, keys.runNodes(entry.runId))) {
    const rec = parseJsonOrUndefined(json) as { attempt?: unknown; attempts?: unknown; node_dir?: unknown; crash_file?: unknown; host?: unknown } | undefined;
    const attempts = typeof rec?.attempt === 'number' ? rec.attempt : typeof rec?.attempts === 'number' ? rec.attempts : 0;
    const host = typeof rec?.host === 'string' && rec.host !== '' ? rec.host : undefined;
    for (let a = 1; a <= attempts; a++) facts.jobIds.push({ id: nodeJobId(entry.runId, Number(field), a), ...(host !== undefined ? { host } : {}) });
    if (typeof rec?.node_dir === 'string' && rec.node_dir !== '') facts.nodeDirs.push(rec.node_dir);
    if (typeof rec?.crash_file === 'string' && rec.crash_file !== '') facts.files.push(rec.crash_file);
  }
  if (workDir !== '') facts.files.push(join(workDir, '_runs', `${entry.runId}.json`), join(workDir, '_runs', `${entry.runId}.resource_monitor.json`), attemptLogsDir(workDir, entry.runId));
  return facts;
}

/** Node directories of the remaining runs, and the trees their unfinished runs may still use. */
async function remainingUse(redis: Redis, keys: Keys, remaining: readonly RunEntry[], defaultWorkDir: string): Promise<{ used: Set<string>; trees: string[] }> {
  const used = new Set<string>();
  const trees: string[] = [];
  for (let at = 0; at < remaining.length; at += FACTS_AT_ONCE) {
    const facts = await Promise.all(remaining.slice(at, at + FACTS_AT_ONCE).map((e) => readFacts(redis, keys, e, defaultWorkDir)));
    for (const f of facts) {
      for (const d of f.nodeDirs) used.add(d);
      const unfinished = f.entry.status !== null && !FINISHED_STATUSES.has(f.entry.status);
      if ((unfinished || f.entry.leased) && f.workDir !== '' && f.workflow !== '') trees.push(join(f.workDir, f.workflow));
    }
  }
  return { used, trees };
}

/** What {@link pruneRuns} needs. */
export interface PruneOptions {
  redis: Redis;
  prefix: string;
  jobs: JobRemover;
  /** Every entry of the runs index, as {@link readRunEntries} read it. */
  entries: readonly RunEntry[];
  /** The entries to remove (a subset of `entries`). */
  selected: readonly RunEntry[];
  /** Also remove node directories no remaining run uses, and the runs' own files. */
  workDirs?: boolean;
  /** Report only; change nothing. */
  dryRun?: boolean;
}

/** Removes the selected runs (see the module comment for the order); returns what was (or would be) removed. */
export async function pruneRuns(o: PruneOptions): Promise<PruneReport> {
  const keys = new Keys(o.prefix);
  const defaultWorkDir = await serviceWorkDir(o.redis, keys);
  const report: PruneReport = { dry_run: o.dryRun === true, runs: [], removed_runs: 0, removed_jobs: 0, removed_dirs: [], skipped: [] };
  const facts: RunFacts[] = [];
  for (let at = 0; at < o.selected.length; at += FACTS_AT_ONCE) {
    facts.push(...(await Promise.all(o.selected.slice(at, at + FACTS_AT_ONCE).map((e) => readFacts(o.redis, keys, e, defaultWorkDir)))));
  }
  const dirsOf = new Map<string, string[]>();
  if (o.workDirs === true) {
    const chosen = new Set(o.selected.map((e) => e.runId));
    const { used, trees } = await remainingUse(o.redis, keys, o.entries.filter((e) => !chosen.has(e.runId)), defaultWorkDir);
    const removable = new Set(removableNodeDirs(facts.flatMap((f) => f.nodeDirs), used, trees));
    // Each directory is removed with the first run that used it.
    const taken = new Set<string>();
    for (const f of facts) {
      const mine: string[] = [];
      for (const d of f.nodeDirs) {
        if (!removable.has(d) || taken.has(d)) continue;
        taken.add(d);
        mine.push(d);
      }
      dirsOf.set(f.entry.runId, mine);
    }
  }
  for (const f of facts) {
    const dirs = dirsOf.get(f.entry.runId) ?? [];
    report.runs.push({ run_id: f.entry.runId, status: f.entry.status, finished_ms: f.entry.finishedMs, jobs: f.jobIds.length, node_dirs: dirs });
    if (o.dryRun === true) continue;
    for (let at = 0; at < f.jobIds.length; at += JOB_CHUNK) {
      const removed = await Promise.all(f.jobIds.slice(at, at + JOB_CHUNK).map((j) => o.jobs.remove(j.id, j.host)));
      report.removed_jobs += removed.reduce((a, b) => a + b, 0);
    }
    if (o.workDirs === true) {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
      for (const file of f.files) await rm(file, { recursive: true, force: true });
      for (const d of dirs) report.removed_dirs.push(d);
    }
    const id = f.entry.runId;
    const deleted = await o.redis.eval(DELETE_RUN_LUA, 3 + keys.runKeys(id).length, keys.runs(), keys.runMeta(id), keys.runLease(id), ...keys.runKeys(id), id);
    if (deleted === 1) report.removed_runs++;
    else report.skipped.push(id);
  }
  return report;
}
