/**
 * Resource ledger arithmetic. Pure: it knows budgets and holds, not Redis.
 * Memory is kept in integer micro-GB so repeated reserve/release never drifts.
 *
 * Two ledgers share one interface ({@link Ledger}): {@link ResourceLedger},
 * one budget (one host: `flowgate run`, a pooled service), and the fleet
 * ledger (`fleet-ledger.ts`), one ledger per registered host.
 */
import type { HostConstraint, NamedResources } from './placement.js';
import { round } from '../shared/amounts.js';

export { round } from '../shared/amounts.js';

/** A resource amount: threads and GB. */
export interface Resources {
  readonly n_procs: number;
  readonly mem_gb: number;
}

/**
 * What a node holds while it is in flight: threads, memory, named resources
 * in whole slots (`{gpu: 1}`), and where it may be placed.
 */
export interface Grant extends Resources {
  /** Named resources in whole slots; absent or empty: none. */
  readonly resources?: NamedResources;
  /** Hosts and labels the node may be placed on (fleet ledger only). */
  readonly constraint?: HostConstraint;
}

/** Where a hold was placed: its host (fleet ledger) and the named slots it holds. */
export interface Place {
  /** The host id; absent on a single-budget ledger. */
  readonly host?: string;
  /** Per named resource, the slot numbers held (`gpu: [0, 1]`: CUDA devices 0 and 1). */
  readonly slots: Readonly<Record<string, readonly number[]>>;
}

/** What admission needs of a ledger. */
export interface Ledger {
  /** The budget: threads and memory (named resources in {@link namedBudget}). */
  readonly budget: Resources;
  readonly used: Resources;
  readonly free: Resources;
  readonly holdCount: number;
  /** Named resources: the budget of each. */
  namedBudget(): Record<string, number>;
  /** Named resources: what is free of each. */
  namedFree(): Record<string, number>;
  /** Whether `grant` fits what is free now. */
  fits(grant: Grant): boolean;
  /** Reserves `grant` under `key`; throws if the key is held or it does not fit. */
  reserve(key: string, grant: Grant): Place;
  /**
   * Records a hold without checking that it fits (rebuilding from durable
   * state: the holds were valid when taken), where it was placed. A hold
   * already under `key` is replaced, never counted twice.
   */
  restore(key: string, grant: Grant, place?: Place): void;
  /** Releases the hold under `key`; false if there was none. */
  release(key: string): boolean;
  has(key: string): boolean;
  /** Where `key`'s hold is. */
  placeOf(key: string): Place | undefined;
  /** Why `grant` cannot be reserved now, e.g. "needs 12 GB, 4 GB free". */
  waitingReason(grant: Grant): string;
  /** "free procs 3/8, memory 4.5/16 GB", for logs. */
  describeFree(): string;
  /** Capacity can grow (hosts join a fleet): a node that fits nothing now waits instead of ending the run. */
  readonly elastic?: boolean;
}

const MICRO = 1_000_000;
const toMicro = (gb: number): number => Math.round(gb * MICRO);
const fromMicro = (micro: number): number => micro / MICRO;

interface Hold {
  procs: number;
  mem: number;
  slots: Record<string, number[]>;
}

/** Tracks what is reserved against one fixed budget (one host). */
export class ResourceLedger implements Ledger {
  readonly budget: Resources;
  private readonly budgetMem: number;
  private usedProcs = 0;
  private usedMem = 0;
  private readonly holds = new Map<string, Hold>();
  /** Per named resource: which slots are taken. */
  private readonly slots = new Map<string, boolean[]>();

  constructor(budget: Resources, named: NamedResources = {}) {
    if (!(budget.n_procs >= 1) || !Number.isInteger(budget.n_procs)) {
      throw new RangeError(`n_procs budget must be a whole number >= 1, got ${budget.n_procs}`);
    }
    if (!(budget.mem_gb > 0)) throw new RangeError(`memory budget must be > 0 GB, got ${budget.mem_gb}`);
    this.budget = budget;
    this.budgetMem = toMicro(budget.mem_gb);
    for (const [name, n] of Object.entries(named)) if (n > 0) this.slots.set(name, new Array<boolean>(n).fill(false));
  }

  private freeSlots(name: string): number {
    const s = this.slots.get(name);
    if (s === undefined) return 0;
    let n = 0;
    for (const t of s) if (!t) n++;
    return n;
  }

  fits(req: Grant): boolean {
    if (this.usedProcs + req.n_procs > this.budget.n_procs || this.usedMem + toMicro(req.mem_gb) > this.budgetMem) return false;
    if (req.resources !== undefined) for (const name in req.resources) if ((req.resources[name] ?? 0) > this.freeSlots(name)) return false;
    return true;
  }

  reserve(key: string, req: Grant): Place {
    if (this.holds.has(key)) throw new Error(`ledger: "${key}" already holds resources`);
    if (!this.fits(req)) throw new Error(`ledger: "${key}" does not fit (${this.describeFree()})`);
    const slots: Record<string, number[]> = {};
    if (req.resources !== undefined) {
      for (const name in req.resources) {
        const want = req.resources[name] ?? 0;
        if (want <= 0) continue;
        const taken = this.slots.get(name) ?? [];
        const got: number[] = [];
        for (let i = 0; i < taken.length && got.length < want; i++) if (!taken[i]) got.push(i);
        slots[name] = got;
      }
    }
    this.hold(key, req, slots);
    return { slots };
  }

  restore(key: string, req: Grant, place?: Place): void {
    this.release(key);
    const slots: Record<string, number[]> = {};
    for (const [name, got] of Object.entries(place?.slots ?? {})) slots[name] = [...got];
    this.hold(key, req, slots);
  }

  private hold(key: string, req: Grant, slots: Record<string, number[]>): void {
    const hold = { procs: req.n_procs, mem: toMicro(req.mem_gb), slots };
    this.holds.set(key, hold);
    this.usedProcs += hold.procs;
    this.usedMem += hold.mem;
    for (const name in slots) {
      const taken = this.slots.get(name);
      if (taken !== undefined) for (const i of slots[name] ?? []) if (i < taken.length) taken[i] = true;
    }
  }

  release(key: string): boolean {
    const hold = this.holds.get(key);
    if (hold === undefined) return false;
    this.holds.delete(key);
    this.usedProcs -= hold.procs;
    this.usedMem -= hold.mem;
    for (const name in hold.slots) {
      const taken = this.slots.get(name);
      if (taken !== undefined) for (const i of hold.slots[name] ?? []) if (i < taken.length) taken[i] = false;
    }
    return true;
  }

  has(key: string): boolean {
    return this.holds.has(key);
  }

  placeOf(key: string): Place | undefined {
    const h = this.holds.get(key);
    return h === undefined ? undefined : { slots: h.slots };
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

  namedBudget(): Record<string, number> {
    return Object.fromEntries([...this.slots].map(([name, s]) => [name, s.length]));
  }

  namedFree(): Record<string, number> {
    return Object.fromEntries([...this.slots.keys()].map((name) => [name, this.freeSlots(name)]));
  }

  waitingReason(req: Grant): string {
    const free = this.free;
    const parts: string[] = [];
    if (req.n_procs > free.n_procs) parts.push(`needs ${req.n_procs} procs, ${free.n_procs} free`);
    if (req.mem_gb > free.mem_gb + 1e-9) parts.push(`needs ${round(req.mem_gb)} GB, ${round(free.mem_gb)} GB free`);
    for (const [name, n] of Object.entries(req.resources ?? {})) {
      const has = this.freeSlots(name);
      if (n > has) parts.push(`needs ${name} ${n}, ${has} free${this.slots.has(name) ? '' : ' (the budget has none: --resource ' + name + '=N)'}`);
    }
    return parts.length > 0 ? parts.join('; ') : 'waiting for its turn';
  }

  describeFree(): string {
    const f = this.free;
    const named = [...this.slots.keys()].map((name) => `, ${name} ${this.freeSlots(name)}/${this.slots.get(name)?.length ?? 0}`).join('');
    return `free procs ${f.n_procs}/${this.budget.n_procs}, memory ${round(f.mem_gb)}/${round(this.budget.mem_gb)} GB${named}`;
  }
}

/**
 * A ledger's budget and what is free of it, each with its named resources
 * (`resources: {gpu: 2}`) when it has any: what the waiting snapshot and the
 * progress lines publish.
 */
export function ledgerAmounts(l: Ledger): { budget: Resources & { resources?: Record<string, number> }; free: Resources & { resources?: Record<string, number> } } {
  const budget = l.namedBudget();
  if (Object.keys(budget).length === 0) return { budget: { ...l.budget }, free: { ...l.free } };
  return { budget: { ...l.budget, resources: budget }, free: { ...l.free, resources: l.namedFree() } };
}
