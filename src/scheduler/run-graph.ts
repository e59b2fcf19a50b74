/**
 * The in-memory model of one run: node states, remaining-predecessor counters,
 * the ready set in admission order and the resource ledger. Pure: it changes
 * state and records which nodes changed; the scheduler persists and acts.
 *
 * This module holds the transitions: admission, map nodes' expansion and
 * collection, and what each job event does to a node; the node table they
 * change, with its one state setter and its counts, is RunGraphState
 * (run-graph-state.ts).
 */
import type { NodeOutcome } from '../shared/payloads.js';
import type { NodeInput } from '../shared/workflow/model.js';
import { HOLDING_STATES } from './node-state.js';
import { RunGraphState, type NodeRuntime } from './run-graph-state.js';
import { addAttempts, countAttempts, recordAttempt } from './node-record.js';
import type { AttemptSummary, MapRecord, NodeSummary } from './summary.js';

export type { NodeRuntime, RunGraphOptions } from './run-graph-state.js';

/** Elements a map node's cache reason names at most. */
const RAN_NAMED = 20;

/** What {@link RunGraph.fail} decided. */
export type FailResult = { retry: true; node: NodeRuntime } | { retry: false; node: NodeRuntime; skipped: NodeRuntime[] };

/** The run's state machine over the DAG. */
export class RunGraph extends RunGraphState {
  /**
   * Rebuilds the run from durable state (resume after a scheduler restart):
   * node states, attempts and records as stored; holds of in-flight nodes go
   * back into the ledger as they were; remaining-predecessor counts and the
   * ready set are recomputed from the states, so a crash between two writes
   * cannot leave a node waiting forever.
   */
  restore(states: ReadonlyMap<number, string>, records: ReadonlyMap<number, string>): void {
    // Map nodes expanded before the restart get their elements back, at their old indices.
    const maps = this.nodes
      .map((n) => ({ n, map: (JSON.parse(records.get(n.index) ?? '{}') as Partial<NodeSummary>).map }))
      .filter((x): x is { n: NodeRuntime; map: MapRecord } => x.map !== undefined)
      .sort((a, b) => a.map.first - b.map.first);
    for (const { n, map } of maps) {
      if (this.nodes.length !== map.first) throw new Error(`cannot restore the elements of map node "${n.node.id}": expected them at index ${map.first}, next free is ${this.nodes.length}`);
      this.expandMap(n.index, map);
    }
    this.restoreStates(states, records);
  }

  /** Moves every node without predecessors to ready. */
  start(): void {
    for (const n of this.nodes) {
      if (n.state === 'waiting' && n.remaining === 0) this.setState(n, 'ready');
    }
  }

  /**
   * Expands a ready map node into its elements: one new node per item, with
   * the parent's resources, ready at once; the parent waits for them. Elements
   * are appended, so expanding again in `first` order on resume gives every
   * element its old index.
   */
  expandMap(index: number, map: MapRecord): NodeRuntime[] {
    const parent = this.node(index);
    const created = map.elements.map((e) => {
      const at = this.dag.addElement(e.id, index);
      // Unmapped path inputs stay path inputs: the element's key fingerprints them.
      const pathInput = (k: string): boolean => parent.node.inputs[k]?.kind === 'path' && !(parent.node.map?.over ?? []).includes(k);
      const inputs = Object.fromEntries(Object.entries(e.inputs).map(([k, v]): [string, NodeInput] => [k, pathInput(k) && typeof v === 'string' ? { kind: 'path', path: v } : { kind: 'value', value: v }]));
      const rt = this.makeRuntime({ ...parent.node, id: e.id, index: at, needs: [], map: null, inputs }, at, 0, e.dir);
      rt.record.element_of = parent.node.id;
      this.nodes.push(rt);
      return rt;
    });
    parent.record.map = map;
    parent.remaining = created.length;
    this.changed.add(index);
    return created;
  }

  /** Makes a freshly expanded map node wait for its elements, which become ready. */
  startElements(index: number, elements: readonly NodeRuntime[]): void {
    if (elements.length === 0) return;
    this.setState(this.node(index), 'waiting');
    for (const e of elements) this.setState(e, 'ready');
  }

  /**
   * A map node whose elements all finished ends with their outputs collected
   * (it has no job of its own): `cached` when every element was, else
   * `succeeded`. `result` is its result digest (from the elements').
   */
  collectMap(index: number, outputs: unknown, result: string, ran: readonly string[]): void {
    const n = this.node(index);
    if (n.state !== 'ready') return;
    n.record.outputs = outputs;
    n.record.result = result;
    const cached = ran.length === 0 && (n.record.map?.elements.length ?? 0) > 0;
    // The first names only: a map of a million elements would keep them all in one string.
    const named = ran.length <= RAN_NAMED ? ran.join(', ') : `${ran.slice(0, RAN_NAMED).join(', ')} and ${ran.length - RAN_NAMED} more`;
    n.record.cache = { hit: cached, reasons: cached ? [] : [ran.length === 0 ? 'no elements' : `elements ran: ${named}`] };
    this.setState(n, cached ? 'cached' : 'succeeded');
    this.countOff(index);
  }

  /** An element failed for good: its siblings that have not started never will. */
  stopSiblings(element: NodeRuntime): NodeRuntime[] {
    const parent = element.record.element_of === undefined ? undefined : this.dag.indexOf(element.record.element_of);
    if (parent === undefined) return [];
    const stopped: NodeRuntime[] = [];
    for (const s of this.dag.preds[parent] ?? []) {
      const sib = this.node(s);
      if (sib.record.element_of === undefined || (sib.state !== 'ready' && sib.state !== 'waiting')) continue;
      sib.record.reason = `element ${element.node.id} of ${element.record.element_of} failed`;
      sib.record.skipped_because = element.node.id;
      this.setState(sib, 'skipped');
      stopped.push(sib);
    }
    return stopped;
  }

  /**
   * A ready node's result is taken from its cache record: it ends `cached`
   * without holding resources, and counts as done for its successors.
   */
  markCached(index: number, outputs: unknown, note: string | null, result: string): void {
    const n = this.node(index);
    if (n.state !== 'ready') return;
    n.record.outputs = outputs;
    n.record.result = result;
    n.record.cache = { hit: true, reasons: note === null ? [] : [note] };
    this.setState(n, 'cached');
    this.countOff(index);
  }

  /**
   * One first-fit admission pass, as nipype's: in admission order, every
   * ready node that fits what is free is admitted, and a node that does not
   * fit lets later, smaller ones by. Returns the admitted nodes in order.
   * What is free only shrinks during the pass, so a group of equal grants
   * that did not fit never will in it: the pass looks at each group's first
   * ready node only (see ReadySet.firstFitting), and a memory-bound run with
   * 100,000 ready nodes of varied grants does not visit them all on every
   * completion.
   */
  admit(): NodeRuntime[] {
    if (!this.admitting || this.ready.size === 0) return [];
    const now = this.clock();
    const admitted: NodeRuntime[] = [];
    const fits = (i: number): boolean => this.ledger.fits(this.node(i).candidate.grant);
    for (let after: number | undefined; this.ledger.free.n_procs >= 1; ) {
      const index = this.ready.firstFitting(after, fits);
      if (index === undefined) break;
      after = index;
      const n = this.node(index);
      this.ledger.reserve(this.holdKey(index), n.candidate.grant);
      this.setState(n, 'queued');
      n.attempt++;
      n.record.attempts = countAttempts(n.record, n.attempt);
      n.record.attempt = n.attempt;
      n.record.admitted_ms = now;
      n.record.released_ms = null;
      this.notePlace(n);
      admitted.push(n);
    }
    return admitted;
  }

  /** Records where the node's hold was placed (its host and named slots), when that says anything. */
  private notePlace(n: NodeRuntime): void {
    const place = this.ledger.placeOf(this.holdKey(n.index));
    if (place === undefined) return;
    if (place.host !== undefined) n.record.host = place.host;
    if (Object.keys(place.slots).length > 0) n.record.slots = Object.fromEntries(Object.entries(place.slots).map(([k, v]) => [k, [...v]]));
    else delete n.record.slots;
  }


  /** A worker took the node's job. Returns false if the event was stale. */
  markRunning(index: number, attempt: number): boolean {
    const n = this.current(index, attempt);
    if (n === undefined || n.state !== 'queued') return false;
    // Persisted at once (with the batch of events it came in): readers that
    // show the stored state alone must not see a started node as queued.
    this.setState(n, 'running');
    return true;
  }

  /** The node's worker was lost and BullMQ requeued its job. Returns false if stale. */
  markLost(index: number, attempt: number): boolean {
    const n = this.current(index, attempt);
    if (n === undefined) return false;
    n.record.stalls++;
    if (n.state === 'running') this.setState(n, 'queued');
    else this.changed.add(n.index);
    return true;
  }

  /** Times a node may lose its host before it fails: a host loss is not the node's fault, but a node that takes hosts down must end. */
  static readonly MAX_HOST_LOSSES = 3;

  /**
   * The host the node's attempt was placed on was lost (per-host placement;
   * its hold went with the host). The node goes back to ready, to be placed
   * again as a new attempt; the lost execution, if it had started, is in its
   * history. Returns false for a stale event; 'failed' when the node lost
   * its host too often (the caller fails it).
   */
  unplace(index: number, attempt: number, reason: string, ran?: { worker?: string; start_ms?: number }): boolean {
    const n = this.current(index, attempt);
    if (n === undefined) return false;
    const started = ran?.worker !== undefined;
    // A running execution lost with its host (a queued node's was counted when its worker was found lost, if it ran).
    if (n.state === 'running') n.record.stalls++;
    addAttempts(n.record, { attempt: n.attempt, status: 'lost', reason, exit_code: null, signal: null, start_ms: started ? (ran.start_ms ?? null) : null, end_ms: started ? this.clock() : null, worker: ran?.worker ?? null });
    n.record.attempts = countAttempts(n.record, n.attempt);
    n.record.reason = reason;
    this.setState(n, 'ready');
    return true;
  }

  /**
   * The node succeeded: release its hold and count it off its successors.
   * Returns false if the event was stale or a duplicate.
   */
  complete(index: number, attempt: number, outcome: NodeOutcome | null): boolean {
    const n = this.current(index, attempt);
    if (n === undefined) return false;
    recordAttempt(n.record, n.attempt, 'succeeded', null, outcome);
    n.record.reason = null;
    // Without a digest from the worker (its record could not be written) the
    // result counts as new: successors rerun rather than risk a stale result.
    n.record.result = outcome?.result_digest ?? `unrecorded ${outcome?.end_ms ?? ''} ${n.attempt}`;
    this.setState(n, 'succeeded');
    this.countOff(index);
    return true;
  }

  /**
   * An attempt failed. With retries left, the node keeps its hold and moves
   * to its next attempt (`retry`; the caller enqueues it). Otherwise it
   * fails: its hold is released and every descendant that has not reached a
   * final state is skipped. Returns undefined for a stale event.
   */
  fail(index: number, attempt: number, reason: string, outcome: NodeOutcome | undefined): FailResult | undefined {
    const n = this.current(index, attempt);
    if (n === undefined) return undefined;
    recordAttempt(n.record, n.attempt, 'failed', reason, outcome);
    n.record.reason = reason;
    // Attempts lost with their host are not the node's failures: they use no retry.
    const lost = n.record.attempt_history.reduce((k, a) => (a.status === 'lost' ? k + 1 : k), 0);
    if (this.admitting && n.attempt - lost <= n.node.retries) {
      // The hold stays: a retried node never has to queue for resources again.
      if (n.state === 'running') this.setState(n, 'queued');
      n.attempt++;
      n.record.attempts = countAttempts(n.record, n.attempt);
      n.record.attempt = n.attempt;
      this.changed.add(n.index);
      return { retry: true, node: n };
    }
    this.setState(n, 'failed');
    const skipped: NodeRuntime[] = [];
    // A skipped node's descendants were skipped with it: the walk stops
    // there, so that many failures upstream of one hub do not each walk
    // everything beyond it again (2,000 failures above a hub of 100,000
    // descendants took 204 s).
    for (const d of this.dag.descendants(index, (i) => this.node(i).state === 'skipped')) {
      const desc = this.node(d);
      if (desc.state === 'waiting' || desc.state === 'ready') {
        desc.record.skipped_because = n.node.id;
        desc.record.reason = `upstream node "${n.node.id}" failed`;
        this.setState(desc, 'skipped');
        skipped.push(desc);
      }
    }
    return { retry: false, node: n, skipped };
  }

  /**
   * Stops admitting and cancels every node that has not started: waiting and
   * ready nodes become `cancelled` with `reason`. In-flight nodes are left to
   * the caller. Returns the cancelled nodes.
   */
  stopAdmitting(reason: string): NodeRuntime[] {
    this.admitting = false;
    const out: NodeRuntime[] = [];
    for (const n of this.nodes) {
      if (n.state === 'waiting' || n.state === 'ready') {
        n.record.reason = reason;
        this.setState(n, 'cancelled');
        out.push(n);
      }
    }
    return out;
  }

  /**
   * Cancels one in-flight node: its process has been stopped (or its job was
   * removed before it started). With `attempt`, a stale event is ignored.
   */
  cancelInFlight(index: number, reason: string, attempt?: number, given?: NodeOutcome | null): boolean {
    const outcome = given ?? undefined;
    const n = this.node(index);
    if (!HOLDING_STATES.has(n.state) || (attempt !== undefined && attempt !== n.attempt)) return false;
    // An execution that had started is in the history (a retry of the run counts on from it).
    if (n.state === 'running' || outcome !== undefined) {
      const killed = (outcome?.earlier ?? []).map((e): AttemptSummary => ({ attempt: n.attempt, status: 'killed', reason: e.ended, exit_code: null, signal: null, start_ms: e.start_ms, end_ms: e.end_ms ?? null, worker: e.worker }));
      addAttempts(n.record, ...killed, {
        attempt: n.attempt,
        status: 'cancelled',
        reason,
        exit_code: outcome?.exit_code ?? null,
        signal: outcome?.signal ?? null,
        start_ms: outcome?.start_ms ?? n.record.start_ms,
        end_ms: outcome?.end_ms ?? null,
        worker: outcome?.worker ?? n.record.worker,
      });
      n.record.attempts = countAttempts(n.record, n.attempt);
    }
    n.record.reason = reason;
    this.setState(n, 'cancelled');
    return true;
  }

}
