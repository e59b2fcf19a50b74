/**
 * The board's memory of run overviews (`GET /api/runs/:id`). An overview's
 * answer is bounded, but its read is not: it reads every node record of the
 * run and the meta hash with the whole workflow definition, and the page
 * polls it every second while it is open.
 *
 * - A finished run (stored `succeeded`, `failed` or `cancelled`, with a
 *   finish time) does not change until it is reopened — a retry or resume
 *   sets its status back to running and drops `finished_ms`, finishing
 *   again sets a new one — or deleted by a prune. Its overview is kept and
 *   checked at every request by one round trip: its meta's status, start and
 *   finish times (a pruned run has none: it is read again, and not found),
 *   and whether the node queue is paused, which the overview shows but the
 *   run does not own.
 * - Any other run's overview is read by one request at a time: concurrent
 *   requests share the read under way. Its result is answered while younger
 *   than max({@link MIN_REUSE_MS}, {@link REUSE_FACTOR} × the time the read
 *   took), counted from the read's end: a read of T is followed by at least
 *   4 × T answered from memory, so however often it is asked the board spends
 *   at most a fifth of its time reading one run, and an answer's data is at
 *   most max(1 s, 4 × T) + T old.
 *
 * Overviews of the {@link OVERVIEW_RUNS} runs asked most recently are kept.
 */
import type { Redis } from 'ioredis';
import { Keys } from '../shared/keys.js';
import { num } from '../shared/json.js';
import { readRunOverview } from '../shared/run-reader.js';
import type { RunOverview } from '../shared/run-view.js';
import { LruMap } from './lru-map.js';

/** Runs whose overview is kept at most. */
export const OVERVIEW_RUNS = 32;
/** A running run's overview is answered from memory for at least this long after its read. */
export const MIN_REUSE_MS = 1000;
/** ... or for this many times as long as its read took, when that is longer. */
export const REUSE_FACTOR = 4;

/** Stored statuses a run does not leave unless it is reopened. */
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

/** A kept overview: a finished run's with what identifies its version, any other's with when it goes stale. */
interface Kept {
  overview: RunOverview;
  /** For a finished run, its status, start and finish times; else null. */
  version: string | null;
  /** Until when (clock ms) a run that is not finished is answered from memory. */
  freshUntilMs: number;
}

/** What identifies a finished run's version, or null when the run is not finished. */
function finishedVersion(status: string | null | undefined, startedMs: unknown, finishedMs: unknown): string | null {
  const finished = num(finishedMs);
  if (!FINISHED.has(status ?? '') || finished === null) return null;
  return `${status ?? ''} ${num(startedMs) ?? 0} ${finished}`;
}

/** Run overviews, read from Redis or answered from memory as the module describes. */
export class OverviewCache {
  private readonly kept = new LruMap<string, Kept>(OVERVIEW_RUNS);
  private readonly reading = new Map<string, Promise<RunOverview | undefined>>();
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly clock: () => number = Date.now,
  ) {
    this.keys = new Keys(prefix);
  }

  /** The overview of run `runId`; undefined when there is no such run. */
  async get(runId: string): Promise<RunOverview | undefined> {
    const kept = this.kept.get(runId);
    if (kept?.version === null && this.clock() < kept.freshUntilMs) return kept.overview;
    if (kept !== undefined && kept.version !== null) {
      const [[status, startedMs, finishedMs], paused] = await Promise.all([
        this.redis.hmget(this.keys.runMeta(runId), 'status', 'started_ms', 'finished_ms'),
        this.redis.hexists(this.keys.nodeQueueMeta(), 'paused'),
      ]);
      if (finishedVersion(status, startedMs, finishedMs) === kept.version) return { ...kept.overview, queue_paused: paused === 1 };
    }
    return this.read(runId);
  }

  /** Reads the run, or joins the read of it under way. */
  private read(runId: string): Promise<RunOverview | undefined> {
    let reading = this.reading.get(runId);
    if (reading === undefined) {
      reading = this.readNow(runId).finally(() => this.reading.delete(runId));
      this.reading.set(runId, reading);
    }
    return reading;
  }

  private async readNow(runId: string): Promise<RunOverview | undefined> {
    const startMs = this.clock();
    const overview = await readRunOverview(this.redis, this.prefix, runId, startMs);
    if (overview === undefined) {
      this.kept.delete(runId);
      return undefined;
    }
    const endMs = this.clock();
    // Read from the same meta as the overview: a change after it makes the check differ.
    const version = finishedVersion(overview.status, overview.started_ms, overview.finished_ms);
    this.kept.set(runId, { overview, version, freshUntilMs: endMs + Math.max(MIN_REUSE_MS, REUSE_FACTOR * (endMs - startMs)) });
    return overview;
  }
}
