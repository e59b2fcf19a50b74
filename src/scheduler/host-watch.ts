/**
 * The hosts of a fleet as the scheduler sees them (per-host placement):
 * read from the worker registry every second, a host is live while one of
 * its workers beats. A host that appears (or declares another capacity)
 * joins the fleet ledger; a host whose workers all stopped beating leaves
 * it, and the nodes placed on it are handed back to their runs.
 *
 * As with lost workers, nobody is judged lost until the scheduler has been
 * reading the registry for four heartbeat intervals: after a Redis outage or
 * a takeover every live worker beats again first.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { groupHosts, listWorkers } from '../shared/worker-registry.js';
import type { FleetLedger } from './fleet-ledger.js';
import type { HostSpec } from './placement.js';

/** How often the registry is read. */
export const HOST_WATCH_MS = 1000;
/**
 * How long after the watch starts its view is taken as complete enough to
 * check a new run against (every live worker beats within its heartbeat
 * interval, 2 s by default).
 */
const SETTLE_MS = 2500;
/** Reading the registry this long before judging a host lost (four default heartbeats). */
const GRACE_MS = 8000;

/** What changed in one look at the registry. */
export interface HostChange {
  /** Hosts that joined or declared another capacity or labels. */
  joined: string[];
  /** Hosts lost, with the hold keys they had (released). */
  lost: Array<{ host: string; keys: string[] }>;
}

/** Follows the registered hosts into a fleet ledger. */
export class HostWatch {
  private timer: NodeJS.Timeout | undefined;
  private since: number | undefined;
  private running = false;
  private readonly warned = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ledger: FleetLedger,
    private readonly changed: (c: HostChange) => void,
    private readonly log: Logger,
  ) {}

  /** Reads the registry now, then every {@link HOST_WATCH_MS}. */
  async start(): Promise<void> {
    this.since = Date.now();
    await this.look();
    this.timer = setInterval(() => void this.look(), HOST_WATCH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * A fresh view of the hosts, for checking a new run against them: waits
   * until the watch has run long enough for every live worker to have beaten
   * (its first {@link SETTLE_MS}), then reads the registry once more.
   */
  async fresh(): Promise<void> {
    const wait = (this.since ?? Date.now()) + SETTLE_MS - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    await this.inflight;
    await this.look();
  }

  private inflight: Promise<unknown> | undefined;

  /** One look at the registry; never runs twice at once. */
  look(now = Date.now()): Promise<HostChange | undefined> {
    if (this.running) return Promise.resolve(undefined);
    const p = this.lookNow(now);
    this.inflight = p;
    return p;
  }

  private async lookNow(now: number): Promise<HostChange | undefined> {
    this.running = true;
    try {
      const hosts = groupHosts(await listWorkers(this.redis, this.prefix, now));
      const change: HostChange = { joined: [], lost: [] };
      const live = new Set<string>();
      for (const h of hosts) {
        if (h.status !== 'alive') continue;
        if (h.capacity === null) {
          if (!this.warned.has(h.host_id)) this.log.warn({ host: h.host_id }, 'host declares no capacity (a worker of an older version); nothing is placed on it');
          this.warned.add(h.host_id);
          continue;
        }
        live.add(h.host_id);
        const spec: HostSpec = { id: h.host_id, capacity: { n_procs: h.capacity.n_procs, mem_gb: h.capacity.mem_gb, resources: h.capacity.resources }, labels: h.labels };
        if (this.ledger.setHost(spec)) {
          change.joined.push(h.host_id);
          this.log.info({ host: h.host_id, capacity: h.capacity, labels: h.labels }, 'host:joined');
        }
      }
      const judging = this.since !== undefined && now - this.since >= GRACE_MS;
      for (const spec of this.ledger.hosts) {
        if (live.has(spec.id) || !judging) continue;
        const keys = this.ledger.removeHost(spec.id);
        change.lost.push({ host: spec.id, keys });
        this.log.warn({ host: spec.id, nodes: keys.length }, 'host:lost (its workers stopped heartbeating)');
      }
      // Holds restored for hosts that never came back are lost with them.
      if (judging) for (const [host, keys] of this.ledger.releaseOffline()) change.lost.push({ host, keys });
      if (change.joined.length > 0 || change.lost.length > 0) this.changed(change);
      return change;
    } catch (err) {
      this.log.warn({ err }, 'cannot read the worker registry; retrying');
      return undefined;
    } finally {
      this.running = false;
    }
  }
}
