/**
 * Placement over a fleet of hosts: one ledger per host, each node placed
 * whole on one host whose free capacity holds all of it — threads, memory and
 * every named resource (GPU slots, licences). Pure: it knows capacities and
 * holds, not Redis; the scheduler feeds it what hosts registered and asks it
 * where a ready node goes.
 *
 * Policy: **best fit**. Of the live hosts that match the node's constraints
 * and have room, the one left with the least free threads after placing it
 * (then the least free memory, then the fewest free named slots, then the
 * host id) takes it, which keeps the big holes for big nodes. A node never
 * spans hosts, so a node larger than every single host can never run: the
 * pre-run check compares each node with the largest matching host, not with
 * the sum.
 *
 * Named resources are counted in whole slots, numbered 0..n-1 per host; a
 * hold takes the lowest free slot numbers, so concurrent nodes on one host
 * hold distinct slots (for `gpu`, distinct devices: `CUDA_VISIBLE_DEVICES`).
 */
import { describeAmounts, round } from '../shared/amounts.js';

/** Named resource counts, e.g. `{gpu: 2, licence_x: 1}`. */
export type NamedResources = Readonly<Record<string, number>>;

/** What a host offers, or what a node needs. */
export interface Amounts {
  readonly n_procs: number;
  readonly mem_gb: number;
  /** Named resources in whole slots (absent: none). */
  readonly resources?: NamedResources;
}

/** A host as registered: its capacity and labels. */
export interface HostSpec {
  readonly id: string;
  readonly capacity: Amounts;
  /** Labels for `host_labels` selectors, e.g. `{gpu: 'a100', zone: 'b'}`. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Where a node may go: `hosts` (any of these ids) and every `labels` pair must match. */
export interface HostConstraint {
  readonly hosts?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
}

/** A node placed: its host and, per named resource, the slot numbers it holds. */
export interface Placed {
  readonly host: string;
  readonly slots: Readonly<Record<string, readonly number[]>>;
}

/** Why a node cannot be placed now (`fits_nowhere`: not even on an empty matching host). */
export interface Unplaced {
  readonly reason: string;
  readonly kind: 'no_match' | 'busy' | 'fits_nowhere';
}

const MICRO = 1_000_000;
const toMicro = (gb: number): number => Math.round(gb * MICRO);

interface Hold {
  readonly procs: number;
  readonly mem: number;
  readonly slots: Record<string, number[]>;
}

/** One host's ledger: capacity, what is held, and which named slots are taken. */
class HostLedger {
  usedProcs = 0;
  usedMem = 0;
  readonly capMem: number;
  /** Per named resource: slot taken (true) or free. */
  readonly taken = new Map<string, boolean[]>();

  constructor(readonly spec: HostSpec) {
    this.capMem = toMicro(spec.capacity.mem_gb);
    for (const [name, n] of Object.entries(spec.capacity.resources ?? {})) this.taken.set(name, new Array<boolean>(n).fill(false));
  }

  freeSlots(name: string): number {
    const slots = this.taken.get(name);
    return slots === undefined ? 0 : slots.reduce((n, t) => (t ? n : n + 1), 0);
  }

  capacityOf(name: string): number {
    return this.taken.get(name)?.length ?? 0;
  }

  /** Whether `req` fits what is free now (`empty`: what would be free with nothing held). */
  fits(req: Amounts, empty = false): boolean {
    const procs = empty ? 0 : this.usedProcs;
    const mem = empty ? 0 : this.usedMem;
    if (procs + req.n_procs > this.spec.capacity.n_procs || mem + toMicro(req.mem_gb) > this.capMem) return false;
    for (const [name, n] of Object.entries(req.resources ?? {})) {
      if (n > (empty ? this.capacityOf(name) : this.freeSlots(name))) return false;
    }
    return true;
  }

  take(req: Amounts): Hold {
    const slots: Record<string, number[]> = {};
    for (const [name, n] of Object.entries(req.resources ?? {})) {
      if (n === 0) continue;
      const taken = this.taken.get(name) ?? [];
      const got: number[] = [];
      for (let i = 0; i < taken.length && got.length < n; i++) if (!taken[i]) got.push(i);
      for (const i of got) taken[i] = true;
      slots[name] = got;
    }
    const hold = { procs: req.n_procs, mem: toMicro(req.mem_gb), slots };
    this.usedProcs += hold.procs;
    this.usedMem += hold.mem;
    return hold;
  }

  /** Counts a hold taken elsewhere (restored, or kept across a changed declaration). */
  count(hold: Hold): void {
    this.usedProcs += hold.procs;
    this.usedMem += hold.mem;
    for (const [name, got] of Object.entries(hold.slots)) {
      const taken = this.taken.get(name);
      if (taken !== undefined) for (const i of got) if (i < taken.length) taken[i] = true;
    }
  }

  give(hold: Hold): void {
    this.usedProcs -= hold.procs;
    this.usedMem -= hold.mem;
    for (const [name, got] of Object.entries(hold.slots)) {
      const taken = this.taken.get(name);
      if (taken !== undefined) for (const i of got) taken[i] = false;
    }
  }

  /** "a: 3/8 procs, 4.5/16 GB, gpu 1/2" (free/capacity). */
  describeFree(): string {
    const named = [...this.taken.keys()].map((name) => `, ${name} ${this.freeSlots(name)}/${this.capacityOf(name)}`).join('');
    return `${this.spec.id}: ${this.spec.capacity.n_procs - this.usedProcs}/${this.spec.capacity.n_procs} procs, ${round((this.capMem - this.usedMem) / MICRO)}/${round(this.spec.capacity.mem_gb)} GB${named}`;
  }

  /** Free threads, memory and named slots after placing `req` here: the best-fit key. */
  leftover(req: Amounts): [number, number, number] {
    let slots = 0;
    for (const name of this.taken.keys()) slots += this.freeSlots(name) - (req.resources?.[name] ?? 0);
    return [this.spec.capacity.n_procs - this.usedProcs - req.n_procs, this.capMem - this.usedMem - toMicro(req.mem_gb), slots];
  }
}

/** Whether `host` satisfies `c`. */
export function matches(host: HostSpec, c: HostConstraint | undefined): boolean {
  if (c === undefined) return true;
  if (c.hosts !== undefined && c.hosts.length > 0 && !c.hosts.includes(host.id)) return false;
  for (const [k, v] of Object.entries(c.labels ?? {})) if (host.labels?.[k] !== v) return false;
  return true;
}

/** "hosts [a, b] with labels {gpu: a100}", for messages. */
export function describeConstraint(c: HostConstraint | undefined): string {
  const parts: string[] = [];
  if (c?.hosts !== undefined && c.hosts.length > 0) parts.push(`hosts [${c.hosts.join(', ')}]`);
  const labels = Object.entries(c?.labels ?? {});
  if (labels.length > 0) parts.push(`labels {${labels.map(([k, v]) => `${k}: ${v}`).join(', ')}}`);
  return parts.length > 0 ? parts.join(' with ') : 'any host';
}


/** The placement of nodes over a set of live hosts, one ledger each. */
export class Placement {
  private readonly hosts = new Map<string, HostLedger>();
  private readonly holds = new Map<string, { host: string; hold: Hold }>();

  /**
   * Adds a host, or updates a registered host's capacity and labels keeping
   * what it holds (a capacity below what is held frees nothing: nodes there
   * keep running, and nothing more is placed until it fits again).
   */
  setHost(spec: HostSpec): void {
    const next = new HostLedger(spec);
    // Holds on this host count, whether it was known (a changed declaration)
    // or not (holds restored from the run store before the host beat again).
    for (const h of this.holds.values()) if (h.host === spec.id) next.count(h.hold);
    this.hosts.set(spec.id, next);
  }

  /**
   * Records a hold where it was placed, without checking that it fits
   * (rebuilding from the run store). The host may not be live (yet): the
   * hold counts against it once it registers, and goes with it when
   * {@link removeHost} is called. A hold under `key` is replaced.
   */
  restore(key: string, host: string, req: Amounts, slots: Readonly<Record<string, readonly number[]>>): void {
    this.release(key);
    const hold: Hold = { procs: req.n_procs, mem: toMicro(req.mem_gb), slots: Object.fromEntries(Object.entries(slots).map(([k, v]) => [k, [...v]])) };
    this.holds.set(key, { host, hold });
    this.hosts.get(host)?.count(hold);
  }

  /** Whether `req` could be placed now (nothing is taken). */
  canPlace(req: Amounts, constraint?: HostConstraint): boolean {
    for (const h of this.hosts.values()) if (matches(h.spec, constraint) && h.fits(req)) return true;
    return false;
  }

  /** Why `req` cannot be placed now, as {@link place} would say; undefined when it can. */
  why(req: Amounts, constraint?: HostConstraint): Unplaced | undefined {
    let matching = 0;
    let fitsEmpty = 0;
    for (const h of this.hosts.values()) {
      if (!matches(h.spec, constraint)) continue;
      matching++;
      if (!h.fits(req, true)) continue;
      fitsEmpty++;
      if (h.fits(req)) return undefined;
    }
    if (matching === 0) {
      const where = constraint === undefined || describeConstraint(constraint) === 'any host' ? '' : ` matches ${describeConstraint(constraint)}`;
      return { kind: 'no_match', reason: this.hosts.size === 0 ? 'no live host' : `no live host${where} (live: ${this.hostIds.join(', ')})` };
    }
    if (fitsEmpty === 0) return { kind: 'fits_nowhere', reason: `no live host fits ${describeAmounts(req)} (${this.describeFree(constraint)})` };
    return { kind: 'busy', reason: `needs ${describeAmounts(req)}; free ${this.describeFree(constraint)}` };
  }

  /** Holds on hosts that are not live (restored before their host beat, or never will), as `[key, host]`. */
  holdsOffline(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [key, h] of this.holds) if (!this.hosts.has(h.host)) out.push([key, h.host]);
    return out;
  }

  /** Where `key` is placed and the slots it holds. */
  placeOf(key: string): Placed | undefined {
    const h = this.holds.get(key);
    return h === undefined ? undefined : { host: h.host, slots: h.hold.slots };
  }

  /** Threads and memory held on live hosts. */
  held(): { n_procs: number; mem_gb: number } {
    let n = 0;
    let mem = 0;
    for (const h of this.hosts.values()) {
      n += h.usedProcs;
      mem += h.usedMem;
    }
    return { n_procs: n, mem_gb: mem / MICRO };
  }

  /** Free slots of each named resource summed over live hosts. */
  namedFree(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const h of this.hosts.values()) for (const name of h.taken.keys()) out[name] = (out[name] ?? 0) + h.freeSlots(name);
    return out;
  }

  /** The number of holds. */
  get holdCount(): number {
    return this.holds.size;
  }

  /**
   * Removes a host that stopped heartbeating: its capacity leaves the budget.
   * Returns the keys it held (its nodes are lost: the caller fails or
   * requeues them, as for a lost worker); their holds are released.
   */
  removeHost(id: string): string[] {
    if (!this.hosts.delete(id)) return [];
    const lost: string[] = [];
    for (const [key, h] of this.holds) if (h.host === id) lost.push(key);
    for (const key of lost) this.holds.delete(key);
    return lost;
  }

  /** The live hosts' ids, in registration order. */
  get hostIds(): string[] {
    return [...this.hosts.keys()];
  }

  /** The sum of the live hosts' capacities (what a run's budget is, before any cap). */
  total(): Amounts {
    let n_procs = 0;
    let mem = 0;
    const resources: Record<string, number> = {};
    for (const h of this.hosts.values()) {
      n_procs += h.spec.capacity.n_procs;
      mem += h.capMem;
      for (const [name, n] of Object.entries(h.spec.capacity.resources ?? {})) resources[name] = (resources[name] ?? 0) + n;
    }
    return { n_procs, mem_gb: mem / MICRO, resources };
  }

  /**
   * Places `req` under `key` on the best-fitting matching host, or says why
   * it cannot go anywhere now. Throws if `key` already holds a place.
   */
  place(key: string, req: Amounts, constraint?: HostConstraint): Placed | Unplaced {
    if (this.holds.has(key)) throw new Error(`placement: "${key}" is already placed`);
    let best: HostLedger | undefined;
    let bestKey: [number, number, number] | undefined;
    for (const h of this.hosts.values()) {
      if (!matches(h.spec, constraint) || !h.fits(req)) continue;
      const k = h.leftover(req);
      if (bestKey === undefined || k[0] < bestKey[0] || (k[0] === bestKey[0] && (k[1] < bestKey[1] || (k[1] === bestKey[1] && k[2] < bestKey[2])))) {
        best = h;
        bestKey = k;
      }
    }
    if (best !== undefined) {
      const hold = best.take(req);
      this.holds.set(key, { host: best.spec.id, hold });
      return { host: best.spec.id, slots: hold.slots };
    }
    return this.why(req, constraint) ?? { kind: 'busy', reason: `needs ${describeAmounts(req)}; free ${this.describeFree(constraint)}` };
  }

  /** Releases `key`'s place; false if it held none. */
  release(key: string): boolean {
    const h = this.holds.get(key);
    if (h === undefined) return false;
    this.holds.delete(key);
    this.hosts.get(h.host)?.give(h.hold);
    return true;
  }

  /** Where `key` is placed, if it is. */
  placedOn(key: string): string | undefined {
    return this.holds.get(key)?.host;
  }

  /** Free amounts of every matching host, "a: 3/8 procs, …; b: …". */
  describeFree(constraint?: HostConstraint): string {
    return [...this.hosts.values()]
      .filter((h) => matches(h.spec, constraint))
      .map((h) => h.describeFree())
      .join('; ');
  }
}

/** A node for the pre-run check. */
export interface PlacementCandidate {
  readonly id: string;
  readonly request: Amounts;
  readonly constraint?: HostConstraint;
}

/**
 * The pre-run check over a fleet (`raise_insufficient`): each node against
 * the largest single matching host, in every dimension, never the sum — a
 * 64 GB node cannot run on four 16 GB hosts. Returns one message per node
 * that no host can ever hold.
 */
export function unplaceable(nodes: Iterable<PlacementCandidate>, hosts: readonly HostSpec[]): Array<{ id: string; message: string }> {
  const out: Array<{ id: string; message: string }> = [];
  for (const n of nodes) {
    const candidates = hosts.filter((h) => matches(h, n.constraint));
    if (candidates.length === 0) {
      out.push({ id: n.id, message: `no registered host matches ${describeConstraint(n.constraint)}` });
      continue;
    }
    if (candidates.some((h) => new HostLedger(h).fits(n.request, true))) continue;
    const largest = (pick: (h: HostSpec) => number): HostSpec => candidates.reduce((a, b) => (pick(b) > pick(a) ? b : a));
    const over: string[] = [];
    const procs = largest((h) => h.capacity.n_procs);
    if (n.request.n_procs > procs.capacity.n_procs) over.push(`${n.request.n_procs} procs (largest host ${procs.id}: ${procs.capacity.n_procs})`);
    const mem = largest((h) => h.capacity.mem_gb);
    if (n.request.mem_gb > mem.capacity.mem_gb) over.push(`${round(n.request.mem_gb)} GB (largest host ${mem.id}: ${round(mem.capacity.mem_gb)} GB)`);
    for (const [name, k] of Object.entries(n.request.resources ?? {})) {
      const most = largest((h) => h.capacity.resources?.[name] ?? 0);
      const has = most.capacity.resources?.[name] ?? 0;
      if (k > has) over.push(`${name} ${k} (${has === 0 ? 'no host has any' : `largest host ${most.id}: ${has}`})`);
    }
    if (over.length === 0) over.push(`${describeAmounts(n.request)} all at once (no single host has all of it)`);
    out.push({ id: n.id, message: `needs ${over.join(' and ')}; a node runs on one host, so the fleet's total does not help` });
  }
  return out;
}

/** `CUDA_VISIBLE_DEVICES` for a placed node: its `gpu` slots, or undefined when it holds none. */
export function cudaVisibleDevices(p: Placed): string | undefined {
  const gpu = p.slots['gpu'];
  return gpu === undefined || gpu.length === 0 ? undefined : gpu.join(',');
}
