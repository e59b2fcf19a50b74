/**
 * Resource ledger arithmetic. Pure: it knows budgets and holds, not Redis.
 * Memory is kept in integer micro-GB so repeated reserve/release never drifts.
 */

/** A resource amount: threads and GB. */
export interface Resources {
  readonly n_procs: number;
  readonly mem_gb: number;
}

const MICRO = 1_000_000;
const toMicro = (gb: number): number => Math.round(gb * MICRO);
const fromMicro = (micro: number): number => micro / MICRO;

/** Tracks what is reserved against a fixed budget. */
export class ResourceLedger {
  readonly budget: Resources;
  private readonly budgetMem: number;
  private usedProcs = 0;
  private usedMem = 0;
  private readonly holds = new Map<string, { procs: number; mem: number }>();

  constructor(budget: Resources) {
    if (!(budget.n_procs >= 1) || !Number.isInteger(budget.n_procs)) {
      throw new RangeError(`n_procs budget must be a whole number >= 1, got ${budget.n_procs}`);
    }
    if (!(budget.mem_gb > 0)) throw new RangeError(`memory budget must be > 0 GB, got ${budget.mem_gb}`);
    this.budget = budget;
    this.budgetMem = toMicro(budget.mem_gb);
  }

  /** Whether `req` fits in what is free now. */
  fits(req: Resources): boolean {
    return this.usedProcs + req.n_procs <= this.budget.n_procs && this.usedMem + toMicro(req.mem_gb) <= this.budgetMem;
  }

  /** Reserves `req` under `key`. Throws if the key is held or it does not fit. */
  reserve(key: string, req: Resources): void {
    if (this.holds.has(key)) throw new Error(`ledger: "${key}" already holds resources`);
    if (!this.fits(req)) throw new Error(`ledger: "${key}" does not fit (${this.describeFree()})`);
    this.restore(key, req);
  }

  /**
   * Records a hold without checking that it fits: used when rebuilding the
   * ledger from durable state, where the holds were valid when they were taken.
   * A hold already under `key` is replaced, never counted twice.
   */
  restore(key: string, req: Resources): void {
    this.release(key);
    const hold = { procs: req.n_procs, mem: toMicro(req.mem_gb) };
    this.holds.set(key, hold);
    this.usedProcs += hold.procs;
    this.usedMem += hold.mem;
  }

  /** Releases the hold under `key`; returns false if there was none. */
  release(key: string): boolean {
    const hold = this.holds.get(key);
    if (hold === undefined) return false;
    this.holds.delete(key);
    this.usedProcs -= hold.procs;
    this.usedMem -= hold.mem;
    return true;
  }

  /** Whether `key` holds resources. */
  has(key: string): boolean {
    return this.holds.has(key);
  }

  get used(): Resources {
    return { n_procs: this.usedProcs, mem_gb: fromMicro(this.usedMem) };
  }

  get free(): Resources {
    return { n_procs: this.budget.n_procs - this.usedProcs, mem_gb: fromMicro(this.budgetMem - this.usedMem) };
  }

  get holdCount(): number {
    return this.holds.size;
  }

  /** "free procs 3/8, memory 4.5/16 GB", for logs and waiting reasons. */
  describeFree(): string {
    const f = this.free;
    return `free procs ${f.n_procs}/${this.budget.n_procs}, memory ${round(f.mem_gb)}/${round(this.budget.mem_gb)} GB`;
  }
}

/** Rounds GB figures for display. */
export function round(gb: number): number {
  return Math.round(gb * 1000) / 1000;
}
