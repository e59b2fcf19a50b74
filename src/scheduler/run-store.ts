/**
 * Durable run state in Redis. The scheduler changes its in-memory view first,
 * stages the same changes here and flushes them in one MULTI before any side
 * effect that depends on them (enqueueing a job), so Redis always holds a
 * state the run can be resumed from.
 */
import type { Redis } from 'ioredis';
import { Keys } from '../shared/keys.js';
import type { Resources } from './ledger.js';
import type { NodeState } from './node-state.js';

type Staged = [command: 'hset', key: string, field: string, value: string] | [command: 'hdel', key: string, field: string];

/** Write-behind buffer for one run's keys. */
export class RunStore {
  private staged: Staged[] = [];
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly runId: string,
  ) {
    this.keys = new Keys(prefix);
  }

  /**
   * Creates the run's keys in one transaction. Fails if a run with this id
   * already exists, so a reused `--run-id` cannot mix two runs.
   */
  async create(meta: Record<string, string>, states: readonly NodeState[], remaining: readonly number[], startedMs: number): Promise<void> {
    const k = this.keys;
    const created = await this.redis.hsetnx(k.runMeta(this.runId), 'run_id', this.runId);
    if (created === 0) throw new Error(`a run with id "${this.runId}" already exists`);
    const stateArgs: string[] = [];
    states.forEach((s, i) => stateArgs.push(String(i), s));
    const remainingArgs: string[] = [];
    remaining.forEach((r, i) => remainingArgs.push(String(i), String(r)));
    const multi = this.redis.multi().hset(k.runMeta(this.runId), meta).hset(k.runStates(this.runId), ...stateArgs);
    if (remainingArgs.length > 0) multi.hset(k.runRemaining(this.runId), ...remainingArgs);
    multi.zadd(k.runs(), startedMs, this.runId);
    await exec(multi);
  }

  setState(index: number, state: NodeState): void {
    this.staged.push(['hset', this.keys.runStates(this.runId), String(index), state]);
  }

  setRemaining(index: number, remaining: number): void {
    this.staged.push(['hset', this.keys.runRemaining(this.runId), String(index), String(remaining)]);
  }

  setRecord(index: number, record: object): void {
    this.staged.push(['hset', this.keys.runNodes(this.runId), String(index), JSON.stringify(record)]);
  }

  hold(index: number, grant: Resources): void {
    this.staged.push(['hset', this.keys.runHolds(this.runId), String(index), `${grant.n_procs} ${grant.mem_gb}`]);
  }

  release(index: number): void {
    this.staged.push(['hdel', this.keys.runHolds(this.runId), String(index)]);
  }

  setMeta(field: string, value: string): void {
    this.staged.push(['hset', this.keys.runMeta(this.runId), field, value]);
  }

  /** Whether changes are waiting to be flushed. */
  get dirty(): boolean {
    return this.staged.length > 0;
  }

  /** Writes every staged change in one transaction. */
  async flush(): Promise<void> {
    if (this.staged.length === 0) return;
    const batch = this.staged;
    this.staged = [];
    const multi = this.redis.multi();
    for (const op of batch) {
      if (op[0] === 'hset') multi.hset(op[1], op[2], op[3]);
      else multi.hdel(op[1], op[2]);
    }
    await exec(multi);
  }
}

async function exec(multi: ReturnType<Redis['multi']>): Promise<void> {
  const results = await multi.exec();
  for (const [err] of results ?? []) {
    if (err) throw err;
  }
}
