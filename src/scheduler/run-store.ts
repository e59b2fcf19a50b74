/**
 * Durable run state in Redis. The scheduler changes its in-memory view first,
 * stages the same changes here and flushes them in one MULTI before any side
 * effect that depends on them (enqueueing a job), so Redis always holds a
 * state the run can be resumed from.
 */
import type { Redis } from 'ioredis';
import { createRun, CREATE_CHUNK } from './run-create.js';
import { summaryHead, type RunSummary } from './summary.js';
import { writeNodeRecords } from '../shared/stored-summary.js';
import { Keys } from '../shared/keys.js';
import { holderIsDeadHere } from '../shared/lease-holder.js';
import type { Resources } from './ledger.js';
import type { NodeState } from './node-state.js';

export { holderIsDeadHere } from '../shared/lease-holder.js';

/** Write-behind buffer for one run's keys. */
export class RunStore {
  // Staged writes, folded per key: one HSET and one HDEL per hash per flush,
  // however many nodes changed. A later write to a field replaces an earlier one.
  // A record is kept as the object and turned into JSON when it is flushed,
  // chunk by chunk: a step that changes every node of a large run (all roots
  // becoming ready) never holds every record's JSON at once.
  private sets = new Map<string, Map<string, string | object>>();
  private dels = new Map<string, Set<string>>();
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly runId: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /**
   * Creates the run's keys, whole or not at all (see {@link createRun}).
   * Fails if a run with this id already exists, so a reused `--run-id`
   * cannot mix two runs; a failed create leaves nothing and the id free.
   */
  async create(meta: Record<string, string>, states: readonly NodeState[], remaining: readonly number[], startedMs: number, workDirKey?: string): Promise<void> {
    await createRun(this.redis, this.keys.prefix, { runId: this.runId, meta, states, remaining, startedMs, ...(workDirKey !== undefined ? { workDirKey } : {}) });
  }

  /**
   * Stores how the run ended, per node: every staged change first, then each
   * node's final record into the node hash in bounded chunks
   * ({@link writeNodeRecords}), and last, in one transaction, the status,
   * finish time and the run-level summary ({@link summaryHead}). Until that
   * last step the run reads as running, so an interrupted end leaves a run
   * that can be resumed, never a summary without its nodes.
   */
  async recordEnd(summary: RunSummary): Promise<void> {
    await this.flush();
    await writeNodeRecords(this.redis, this.keys.prefix, this.runId, summary.nodes);
    this.setMeta('status', summary.status);
    this.setMeta('finished_ms', String(summary.finished_ms));
    this.setMeta('summary', JSON.stringify(summaryHead(summary)));
    await this.flush();
  }

  private hset(key: string, field: string, value: string | object): void {
    let fields = this.sets.get(key);
    if (fields === undefined) {
      fields = new Map();
      this.sets.set(key, fields);
    }
    fields.set(field, value);
    this.dels.get(key)?.delete(field);
  }

  private hdel(key: string, field: string): void {
    let fields = this.dels.get(key);
    if (fields === undefined) {
      fields = new Set();
      this.dels.set(key, fields);
    }
    fields.add(field);
    this.sets.get(key)?.delete(field);
  }

  setState(index: number, state: NodeState): void {
    this.hset(this.keys.runStates(this.runId), String(index), state);
  }

  setRemaining(index: number, remaining: number): void {
    this.hset(this.keys.runRemaining(this.runId), String(index), String(remaining));
  }

  setRecord(index: number, record: object): void {
    this.hset(this.keys.runNodes(this.runId), String(index), record);
  }

  hold(index: number, grant: Resources): void {
    this.hset(this.keys.runHolds(this.runId), String(index), `${grant.n_procs} ${grant.mem_gb}`);
  }

  release(index: number): void {
    this.hdel(this.keys.runHolds(this.runId), String(index));
  }

  /** Withdraws the node's admission: no attempt of it may start any more. */
  withdraw(index: number): void {
    this.hdel(this.keys.runAdmits(this.runId), String(index));
  }

  setMeta(field: string, value: string): void {
    this.hset(this.keys.runMeta(this.runId), field, value);
  }

  /** Whether changes are waiting to be flushed. */
  get dirty(): boolean {
    for (const f of this.sets.values()) if (f.size > 0) return true;
    for (const f of this.dels.values()) if (f.size > 0) return true;
    return false;
  }

  /**
   * Writes every staged change: in one transaction, or, when more than
   * {@link FLUSH_NODES} fields changed, in one transaction per chunk of
   * field names. A node's fields (state, remaining count, record, hold,
   * admission) share its index as their name, so each node's change is
   * written whole; what a resume rebuilds from (states, then remaining
   * counts and the ready set recomputed from them) holds after any chunk.
   */
  async flush(): Promise<void> {
    if (!this.dirty) return;
    const sets = this.sets;
    const dels = this.dels;
    this.sets = new Map();
    this.dels = new Map();
    const names = new Set<string>();
    for (const fields of sets.values()) for (const f of fields.keys()) names.add(f);
    for (const fields of dels.values()) for (const f of fields) names.add(f);
    if (names.size <= FLUSH_NODES) {
      await exec(this.transaction(sets, dels, undefined));
      return;
    }
    let chunk = new Set<string>();
    for (const name of names) {
      chunk.add(name);
      if (chunk.size >= FLUSH_NODES) {
        await exec(this.transaction(sets, dels, chunk));
        chunk = new Set();
      }
    }
    if (chunk.size > 0) await exec(this.transaction(sets, dels, chunk));
  }

  /** One MULTI of the staged changes to the fields in `only` (all when undefined), in commands of bounded size. */
  private transaction(sets: Map<string, Map<string, string | object>>, dels: Map<string, Set<string>>, only: ReadonlySet<string> | undefined): ReturnType<Redis['multi']> {
    const multi = this.redis.multi();
    for (const [key, fields] of sets) {
      let chunk = new Map<string, string>();
      const names = only ?? fields.keys();
      for (const f of names) {
        const v = fields.get(f);
        if (v === undefined) continue;
        chunk.set(f, typeof v === 'string' ? v : JSON.stringify(v));
        if (chunk.size >= CREATE_CHUNK) {
          multi.hset(key, chunk);
          chunk = new Map();
        }
      }
      if (chunk.size > 0) multi.hset(key, chunk);
    }
    for (const [key, fields] of dels) {
      const all = only === undefined ? [...fields] : [...only].filter((f) => fields.has(f));
      for (let i = 0; i < all.length; i += CREATE_CHUNK) multi.hdel(key, ...all.slice(i, i + CREATE_CHUNK));
    }
    return multi;
  }
}

/** Changed fields above which a flush is written in several transactions, this many field names each. */
const FLUSH_NODES = 5000;

/** Everything Redis holds about a run. */
export interface StoredRun {
  meta: Record<string, string>;
  states: Map<number, string>;
  records: Map<number, string>;
}

/** The latest run of a workflow in a work dir, when it has not finished: still driven (`running`) or left behind (`orphaned`). */
export async function unfinishedPreviousRun(redis: Redis, prefix: string, workDirKey: string): Promise<{ runId: string; state: 'running' | 'orphaned'; holder: string | null } | undefined> {
  const runId = await redis.get(workDirKey);
  if (runId === null) return undefined;
  const k = new Keys(prefix);
  const [status, holder] = await Promise.all([redis.hget(k.runMeta(runId), 'status'), redis.get(k.runLease(runId))]);
  if (status !== 'running') return undefined;
  if (holder !== null && !holderIsDeadHere(holder)) return { runId, state: 'running', holder };
  return { runId, state: 'orphaned', holder: null };
}

/** Reads a run's keys; undefined if there is no such run. */
export async function loadStoredRun(redis: Redis, prefix: string, runId: string): Promise<StoredRun | undefined> {
  const k = new Keys(prefix);
  const [meta, states, records] = await Promise.all([
    redis.hgetall(k.runMeta(runId)),
    redis.hgetall(k.runStates(runId)),
    redis.hgetall(k.runNodes(runId)),
  ]);
  if (meta['run_id'] === undefined) return undefined;
  const toMap = (h: Record<string, string>): Map<number, string> => new Map(Object.entries(h).map(([f, v]) => [Number(f), v]));
  return { meta, states: toMap(states), records: toMap(records) };
}

async function exec(multi: ReturnType<Redis['multi']>): Promise<void> {
  const results = await multi.exec();
  for (const [err] of results ?? []) {
    if (err) throw err;
  }
}
