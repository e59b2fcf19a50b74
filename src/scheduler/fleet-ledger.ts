/**
 * The ledger of a fleet: one ledger per registered host (see placement.ts),
 * each node placed whole on one host, under an optional cap on the fleet's
 * threads and memory (`--n-procs`/`--memory-gb` of a run or the service).
 * Pure, like the single-budget ledger it stands in for: the scheduler feeds
 * it the hosts that beat and takes back the nodes of hosts that stopped.
 */
import { round, type Grant, type Ledger, type Place, type Resources } from './ledger.js';
import { Placement, type HostSpec, type NamedResources } from './placement.js';
import { describeAmounts } from '../shared/amounts.js';

const MICRO = 1_000_000;

/** One ledger per host, under an optional cap. */
export class FleetLedger implements Ledger {
  /** Hosts join and leave: a node that fits no live host waits for one. */
  readonly elastic = true;
  private readonly placement = new Placement();
  private readonly specs = new Map<string, HostSpec>();
  private readonly grants = new Map<string, Grant>();
  /** Held threads and micro-GB across the fleet, kept on every change (read on every admission step). */
  private usedProcs = 0;
  private usedMem = 0;
  /**
   * The live hosts' capacities summed (threads and memory under the cap):
   * summed again only when a host joins, leaves or changes, since admission
   * reads the budget on every step.
   */
  private capped: Resources = { n_procs: 0, mem_gb: 0 };
  private named: NamedResources = {};

  private take(key: string, g: Grant): void {
    this.grants.set(key, g);
    this.usedProcs += g.n_procs;
    this.usedMem += Math.round(g.mem_gb * MICRO);
  }

  private drop(key: string): boolean {
    const g = this.grants.get(key);
    if (g === undefined) return false;
    this.grants.delete(key);
    this.usedProcs -= g.n_procs;
    this.usedMem -= Math.round(g.mem_gb * MICRO);
    return true;
  }

  /** `cap`: most threads and memory held across the fleet at once (absent: the hosts' sum). */
  constructor(private readonly cap?: Partial<Resources>) {}

  /** Adds or updates a host; true when something changed. */
  setHost(spec: HostSpec): boolean {
    const old = this.specs.get(spec.id);
    if (old !== undefined && JSON.stringify(old) === JSON.stringify(spec)) return false;
    this.specs.set(spec.id, spec);
    this.placement.setHost(spec);
    this.sumHosts();
    return true;
  }

  /** Removes a host that stopped beating; returns the keys it held (released). */
  removeHost(id: string): string[] {
    if (!this.specs.delete(id)) return [];
    const lost = this.placement.removeHost(id);
    for (const key of lost) this.drop(key);
    this.sumHosts();
    return lost;
  }

  /**
   * Releases holds on hosts that are not live (restored from the run store
   * for a host that has not beaten since): returns them by host.
   */
  releaseOffline(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [key, host] of this.placement.holdsOffline()) {
      this.release(key);
      out.set(host, [...(out.get(host) ?? []), key]);
    }
    return out;
  }

  /** The live hosts. */
  get hosts(): HostSpec[] {
    return [...this.specs.values()];
  }

  private sumHosts(): void {
    const t = this.placement.total();
    this.capped = { n_procs: Math.min(t.n_procs, this.cap?.n_procs ?? Infinity), mem_gb: Math.min(t.mem_gb, this.cap?.mem_gb ?? Infinity) };
    this.named = t.resources ?? {};
  }

  /** The sum of the live hosts' capacities, capped. */
  get budget(): Resources {
    return this.capped;
  }

  /** Held across the fleet, including holds on hosts not (yet) live. */
  get used(): Resources {
    return { n_procs: this.usedProcs, mem_gb: this.usedMem / MICRO };
  }

  get free(): Resources {
    const b = this.budget;
    const u = this.used;
    return { n_procs: Math.max(0, b.n_procs - u.n_procs), mem_gb: Math.max(0, (Math.round(b.mem_gb * MICRO) - Math.round(u.mem_gb * MICRO)) / MICRO) };
  }

  get holdCount(): number {
    return this.grants.size;
  }

  namedBudget(): Record<string, number> {
    return { ...this.named };
  }

  namedFree(): Record<string, number> {
    return this.placement.namedFree();
  }

  private underCap(g: Grant): boolean {
    return this.usedProcs + g.n_procs <= (this.cap?.n_procs ?? Infinity) && this.usedMem + Math.round(g.mem_gb * MICRO) <= (this.cap?.mem_gb ?? Infinity) * MICRO;
  }

  fits(g: Grant): boolean {
    return this.underCap(g) && this.placement.canPlace(g, g.constraint);
  }

  reserve(key: string, g: Grant): Place {
    if (this.grants.has(key)) throw new Error(`ledger: "${key}" already holds resources`);
    if (!this.underCap(g)) throw new Error(`ledger: "${key}" does not fit under the cap (${this.describeFree()})`);
    const placed = this.placement.place(key, g, g.constraint);
    if (!('host' in placed)) throw new Error(`ledger: "${key}" cannot be placed: ${placed.reason}`);
    this.take(key, g);
    return placed;
  }

  restore(key: string, g: Grant, place?: Place): void {
    this.release(key);
    // A hold stored without a host (written by a single-budget scheduler) counts under the cap only.
    this.placement.restore(key, place?.host ?? '', g, place?.slots ?? {});
    this.take(key, g);
  }

  release(key: string): boolean {
    this.placement.release(key);
    return this.drop(key);
  }

  has(key: string): boolean {
    return this.grants.has(key);
  }

  placeOf(key: string): Place | undefined {
    return this.placement.placeOf(key);
  }

  waitingReason(g: Grant): string {
    if (!this.underCap(g)) {
      const f = this.free;
      return `needs ${describeAmounts(g)}; the fleet's cap leaves ${f.n_procs} procs, ${round(f.mem_gb)} GB`;
    }
    return this.placement.why(g, g.constraint)?.reason ?? 'waiting for its turn';
  }

  describeFree(): string {
    return this.placement.describeFree() || 'no live host';
  }
}
