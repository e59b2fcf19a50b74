/**
 * From ready node to job: the cache check when a node becomes ready, and the
 * job of each admitted node, with its inputs resolved from the producers'
 * outputs and the cache ticket its worker turns into the node's record.
 */
import { canonical, writeCacheRecord, type CacheTicket, type HashMethod } from '../shared/cache-record.js';
import { sha256 } from '../shared/fingerprint.js';
import type { Outputs } from '../shared/workflow/template.js';
import { decide, Fingerprints, hashOf, missRecord, type KeyContext } from './cache.js';
import { identifyElements } from './map-elements.js';
import { buildNodeJob, type NodeJob } from './node-job.js';
import { collectOutputs, mapShape, planMap } from './map-node.js';
import { isTerminal } from './node-state.js';
import type { NodeRuntime, RunGraph } from './run-graph.js';

/** What the dispatcher needs to know about its run. */
export interface DispatchOptions {
  runId: string;
  workflow: string;
  memoryMargin: number | null;
  /** Largest outputs a node may produce, in bytes of JSON. */
  maxOutputBytes: number;
  /** The most elements a map node may expand to (default 1,000,000). */
  maxNodes?: number;
  hashMethod: HashMethod;
  updateHash: boolean;
  /** Dry run: decisions write nothing (an update-hash hit keeps its record as it is). */
  readOnly?: boolean;
  /** Where each attempt's stdout and stderr are kept (`<work dir>/_runs/<run>.logs`); absent: not kept. */
  logsDir?: string;
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

/** What the cache check did to a ready node without a job of its own. */
export interface ReadyEvent {
  node: NodeRuntime;
  note: string | null;
  status: 'started' | 'cached' | 'succeeded';
}

/** Cache checks and job building for one run. */
export class Dispatcher {
  /** Cache tickets of nodes that will run: their workers leave the record. */
  private readonly tickets = new Map<number, CacheTicket>();
  /** One per hash method: the run's, and a node's own (`config.hash_method`). */
  private readonly fingerprints = new Map<HashMethod, Fingerprints>();

  constructor(
    private readonly graph: RunGraph,
    private readonly o: DispatchOptions,
  ) {
    this.fingerprints.set(o.hashMethod, new Fingerprints(o.hashMethod));
  }

  /** How many cache tickets are kept (nodes that fingerprint files, admitted or waiting to be). */
  get keptTickets(): number {
    return this.tickets.size;
  }

  /**
   * A node's attempt has ended: once the node has ended for good its ticket
   * is let go (a retry of the node needs it, a finished node never does; a
   * node with path inputs keeps the fingerprints of its files in it).
   */
  settled(index: number): void {
    if (isTerminal(this.graph.node(index).state)) this.tickets.delete(index);
  }

  /** The fingerprints of a node's hash method (its `config.hash_method`, else the run's). */
  private fingerprintsOf(n: NodeRuntime): Fingerprints {
    const method = n.node.config?.hash_method ?? this.o.hashMethod;
    let fp = this.fingerprints.get(method);
    if (fp === undefined) {
      fp = new Fingerprints(method);
      this.fingerprints.set(method, fp);
    }
    return fp;
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
   * The cache key's context of a node: the result digests of every node it
   * depends on (`needs` and connections alike; an element, those of its map
   * node), its declared path inputs and its code version. Digests are kept in
   * the nodes' records, so this reads no files.
   */
  private keyContext(n: NodeRuntime): KeyContext {
    const base = n.record.element_of === undefined ? n.index : (this.graph.dag.indexOf(n.record.element_of) ?? n.index);
    const upstream: Record<string, string> = {};
    for (const p of this.graph.dag.preds[base] ?? []) {
      const pn = this.graph.node(p);
      if (pn.record.element_of !== undefined) continue;
      upstream[pn.node.id] = pn.record.result ?? `unrecorded ${pn.record.end_ms ?? ''}`;
    }
    const paths = Object.values(n.node.inputs).flatMap((i) => (i.kind === 'path' ? [i.path] : []));
    // `?? null`: a workflow stored by an older version has no code_version field.
    return { upstream, paths, codeVersion: n.node.code_version ?? null };
  }

  /**
   * Checks every node that became ready against its cache record: a match
   * ends it `cached` (its successors may become ready and are checked in
   * turn); otherwise the reasons it runs are recorded. A node whose
   * directory another run holds is checked only once that run let it go: it
   * may then find that run's result in the cache. Returns what happened to
   * nodes without a job: cached nodes, map nodes started (expanded) and map
   * nodes completed.
   */
  async checkReady(): Promise<ReadyEvent[]> {
    const events: ReadyEvent[] = [];
    for (let fresh = this.graph.takeNewlyReady(); fresh.length > 0; fresh = this.graph.takeNewlyReady()) {
      const held = this.o.lockDirs === undefined ? undefined : await this.o.lockDirs(fresh.filter((n) => n.node.map === null));
      for (const n of fresh) {
        if (n.node.map !== null) {
          const step = this.mapStep(n);
          if (step !== undefined) events.push({ node: n, note: null, status: step });
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
        const d = decide(built.job.data, this.fingerprintsOf(n), this.keyContext(n), {
          overwrite: n.node.overwrite,
          updateHash: this.o.updateHash,
          write: (ticket, outputs, result) => {
            if (this.o.readOnly !== true) writeCacheRecord(n.record.node_dir, ticket, outputs, result);
          },
        });
        if (d.hit) {
          this.graph.markCached(n.index, d.outputs, d.note, d.result);
          events.push({ node: n, note: d.note, status: 'cached' });
        } else {
          n.record.cache = missRecord(d.reasons);
          // Kept only when it fingerprints files (they may change before the
          // node is admitted): otherwise it is made again, the same, at
          // admission — 100,000 ready nodes' tickets are ~90 MB.
          if (Object.keys(d.ticket.parts.files).length > 0) this.tickets.set(n.index, d.ticket);
        }
      }
    }
    return events;
  }

  /**
   * A ready map node: expanded into its elements the first time (they become
   * ready and are checked in turn; returns `started`), or, once they all
   * finished, completed with their outputs collected (returns its final
   * state: `cached` when every element was). A map node that cannot be
   * expanded stays ready and is refused when dispatched (returns undefined).
   */
  private mapStep(n: NodeRuntime): ReadyEvent['status'] | undefined {
    if (n.record.map === undefined) {
      const plan = planMap(n, this.graph.nodes.length, this.outputsOf, this.o.maxNodes);
      if (!plan.ok) return undefined;
      const map = identifyElements(n.node.id, n.record.node_dir, n.node.map?.over ?? [], plan.map);
      const elements = this.graph.expandMap(n.index, map);
      if (elements.length > 0) {
        this.graph.startElements(n.index, elements);
        return 'started';
      }
    }
    const first = n.record.map?.first ?? 0;
    const elements = (n.record.map?.elements ?? []).map((_, i) => this.graph.node(first + i));
    const result = sha256(canonical(elements.map((e) => e.record.result ?? `unrecorded ${e.record.end_ms ?? ''}`)));
    this.graph.collectMap(n.index, collectOutputs(elements, mapShape(n, this.outputsOf)), result, elements.filter((e) => e.state !== 'cached').map((e) => e.node.id));
    return n.state === 'cached' ? 'cached' : 'succeeded';
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
        const plan = planMap(n, this.graph.nodes.length, this.outputsOf, this.o.maxNodes);
        out.refused.push({ node: n, reason: plan.ok ? 'map node admitted before it was expanded' : plan.reason });
        continue;
      }
      const built = this.build(n);
      if (!built.ok) {
        out.refused.push({ node: n, reason: built.reason });
        continue;
      }
      // A node in flight when its run was resumed was not checked by this scheduler,
      // and a node whose ticket fingerprints no file was not given one: it is made now,
      // and not kept (a retry makes it again, the same; kept, 100,000 finished nodes'
      // tickets held ~6 KB each for the rest of the run).
      let ticket = this.tickets.get(n.index);
      if (ticket === undefined) {
        const parts = this.fingerprintsOf(n).parts(built.job.data, this.keyContext(n));
        ticket = { hash: hashOf(parts), parts };
      }
      built.job.data.cache = ticket;
      if (this.o.logsDir !== undefined) built.job.data.logs_dir = this.o.logsDir;
      out.jobs.push(built.job);
    }
    return out;
  }
}
