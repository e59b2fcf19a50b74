/**
 * From ready node to job: the cache check when a node becomes ready, and the
 * job of each admitted node, with its inputs resolved from the producers'
 * outputs and the cache ticket its worker turns into the node's record.
 */
import { writeCacheRecord, type CacheTicket, type HashMethod } from '../shared/cache-record.js';
import type { Outputs } from '../shared/workflow/template.js';
import { decide, Fingerprints, hashOf } from './cache.js';
import { buildNodeJob, type NodeJob } from './node-job.js';
import { collectOutputs, planMap } from './map-node.js';
import type { NodeRuntime, RunGraph } from './run-graph.js';

/** What the dispatcher needs to know about its run. */
export interface DispatchOptions {
  runId: string;
  workflow: string;
  memoryMargin: number | null;
  /** Largest outputs a node may produce, in bytes of JSON. */
  maxOutputBytes: number;
  hashMethod: HashMethod;
  updateHash: boolean;
  /**
   * Takes the node directory locks of nodes that became ready; returns why
   * each node that cannot have its directory now must wait (by index).
   * Absent: no locking (unit tests of the pure parts).
   */
  lockDirs?: (nodes: readonly NodeRuntime[]) => Promise<Map<number, string>>;
}

/** Jobs for admitted nodes, and the nodes that cannot run because of their inputs. */
export interface Dispatch {
  jobs: NodeJob[];
  refused: Array<{ node: NodeRuntime; reason: string }>;
}

/** Cache checks and job building for one run. */
export class Dispatcher {
  /** Cache tickets of nodes that will run: their workers leave the record. */
  private readonly tickets = new Map<number, CacheTicket>();
  private readonly fingerprints: Fingerprints;

  constructor(
    private readonly graph: RunGraph,
    private readonly o: DispatchOptions,
  ) {
    this.fingerprints = new Fingerprints(o.hashMethod);
  }

  /** A finished node's outputs, for its successors' inputs. */
  private readonly outputsOf = (id: string): Outputs | undefined => {
    const index = this.graph.dag.indexOf(id);
    const outputs = index === undefined ? undefined : this.graph.node(index).record.outputs;
    return typeof outputs === 'object' && outputs !== null && !Array.isArray(outputs) ? (outputs as Outputs) : undefined;
  };

  private build(n: NodeRuntime): ReturnType<typeof buildNodeJob> {
    return buildNodeJob(this.o.runId, this.o.workflow, n, this.o.memoryMargin, this.outputsOf, this.o.maxOutputBytes);
  }

  /**
   * Checks every node that became ready against its cache record: a match
   * ends it `cached` (its successors may become ready and are checked in
   * turn); otherwise the reasons it runs are recorded. A node whose
   * directory another run holds is checked only once that run let it go: it
   * may then find that run's result in the cache. Returns the cached nodes.
   */
  async checkReady(): Promise<Array<{ node: NodeRuntime; note: string | null; status: 'cached' | 'succeeded' }>> {
    const cached: Array<{ node: NodeRuntime; note: string | null; status: 'cached' | 'succeeded' }> = [];
    for (let fresh = this.graph.takeNewlyReady(); fresh.length > 0; fresh = this.graph.takeNewlyReady()) {
      const held = this.o.lockDirs === undefined ? undefined : await this.o.lockDirs(fresh.filter((n) => n.node.map === null));
      for (const n of fresh) {
        if (n.node.map !== null) {
          if (this.mapStep(n)) cached.push({ node: n, note: null, status: 'succeeded' });
          continue;
        }
        const why = held?.get(n.index);
        if (why !== undefined) {
          this.graph.block(n.index, why);
          continue;
        }
        this.graph.unblock(n.index);
        // Cancelled (or otherwise moved on) while the locks were taken.
        if (n.state !== 'ready') continue;
        const built = this.build(n);
        // Inputs that cannot be resolved fail the node when it is dispatched.
        if (!built.ok) continue;
        const d = decide(built.job.data, this.fingerprints, {
          overwrite: n.node.overwrite,
          updateHash: this.o.updateHash,
          write: (ticket, outputs) => writeCacheRecord(n.record.node_dir, ticket, outputs),
        });
        if (d.hit) {
          this.graph.markCached(n.index, d.outputs, d.note);
          cached.push({ node: n, note: d.note, status: 'cached' });
        } else {
          n.record.cache = { hit: false, reasons: d.reasons };
          this.tickets.set(n.index, d.ticket);
        }
      }
    }
    return cached;
  }

  /**
   * A ready map node: expanded into its elements the first time (they become
   * ready and are checked in turn), or, once they all succeeded, completed
   * with their outputs collected. Returns true when it completed. A map node
   * that cannot be expanded stays ready and is refused when dispatched.
   */
  private mapStep(n: NodeRuntime): boolean {
    if (n.record.map === undefined) {
      const plan = planMap(n, this.graph.nodes.length, this.outputsOf);
      if (!plan.ok) return false;
      const elements = this.graph.expandMap(n.index, plan.map);
      if (elements.length > 0) {
        this.graph.startElements(n.index, elements);
        return false;
      }
    }
    const first = n.record.map?.first ?? 0;
    const elements = (n.record.map?.elements ?? []).map((_, i) => this.graph.node(first + i));
    this.graph.collectMap(n.index, collectOutputs(elements));
    return true;
  }

  /**
   * The jobs of admitted nodes. A node whose inputs cannot be resolved (a
   * producer did not produce the output, a value does not fit its command)
   * is refused: it never runs and fails like any failure.
   */
  jobsFor(nodes: readonly NodeRuntime[]): Dispatch {
    const out: Dispatch = { jobs: [], refused: [] };
    for (const n of nodes) {
      if (n.node.map !== null) {
        // Only a map node that could not be expanded is ever admitted.
        const plan = planMap(n, this.graph.nodes.length, this.outputsOf);
        out.refused.push({ node: n, reason: plan.ok ? 'map node admitted before it was expanded' : plan.reason });
        continue;
      }
      const built = this.build(n);
      if (!built.ok) {
        out.refused.push({ node: n, reason: built.reason });
        continue;
      }
      // A node in flight when its run was resumed was not checked by this scheduler: its ticket is made now.
      let ticket = this.tickets.get(n.index);
      if (ticket === undefined) {
        const parts = this.fingerprints.parts(built.job.data);
        ticket = { hash: hashOf(parts), parts };
        this.tickets.set(n.index, ticket);
      }
      built.job.data.cache = ticket;
      out.jobs.push(built.job);
    }
    return out;
  }
}
