/**
 * The node table of one run's graph: every node's state, changed through one
 * setter that keeps the counts by state, the in-flight holds, the ready set
 * (in admission order), the blocked nodes and the sets of changed nodes up
 * to date; remaining-predecessor counts; the state restored from durable
 * records. Pure. The transitions the run's events drive are RunGraph's
 * (run-graph.ts), which extends this class.
 */
import { join } from 'node:path';
import { Dag } from '../shared/dag.js';
import type { Workflow, WorkflowNode } from '../shared/workflow/model.js';
import { clampToBudget, compareCandidates, grantGroup, waitingReason, type AdmissionCandidate, type Budget, type SchedulerOrder } from './admission.js';
import { ResourceLedger, type Ledger } from './ledger.js';
import { HOLDING_STATES, isTerminal, SATISFIED, transition, type NodeState } from './node-state.js';
import { requestOf } from './node-request.js';
import { emptyRecord } from './node-record.js';
import type { NodeSummary } from './summary.js';
import { ReadySet } from './ready-set.js';
import { StateTally } from './state-tally.js';

/** One node's live state. */
export interface NodeRuntime {
  readonly index: number;
  readonly node: WorkflowNode;
  readonly candidate: AdmissionCandidate;
  state: NodeState;
  /** Predecessors not yet succeeded. */
  remaining: number;
  /** Current attempt number (1-based; 0 before the first admission). */
  attempt: number;
  /** Durable record; becomes the node's entry in the run summary. */
  readonly record: NodeSummary;
}

/** Options of a {@link RunGraph}. */
export interface RunGraphOptions {
  workflow: Workflow;
  /** The budget: threads, memory and named resources. */
  budget: Budget;
  order: SchedulerOrder;
  /** false: requests above the budget are clamped to it (the node runs alone). */
  raiseInsufficient: boolean;
  /** Absolute work dir; node dirs are `<workDir>/<workflow>/<node>`. */
  workDir: string;
  clock: () => number;
  /**
   * A ledger shared with other runs (the scheduler service: one host budget
   * for every run). Holds are keyed `<holdPrefix><index>`. Default: a ledger
   * of this run's own over `budget`.
   */
  ledger?: Ledger;
  holdPrefix?: string;
}

/** The state of a run's nodes and what is counted from it; see {@link RunGraph} for the transitions. */
export abstract class RunGraphState {
  readonly dag: Dag;
  readonly ledger: Ledger;
  readonly nodes: NodeRuntime[];
  protected readonly clock: () => number;
  /** Ready node indices, kept in admission order. */
  protected readonly ready: ReadySet;
  /** Nodes changed since the last {@link takeChanged}. */
  protected readonly changed = new Set<number>();
  /** Nodes whose remaining-predecessor count alone changed (their record did not). */
  private readonly recounted = new Set<number>();
  /** Counts by state and the in-flight nodes, kept on every change. */
  private readonly tally = new StateTally();
  private terminal = 0;
  private inFlightCount = 0;
  /** Cleared for good when the run stops admitting. */
  protected admitting = true;
  private readonly holdPrefix: string;
  /** Nodes that became ready since the last {@link takeNewlyReady} (for the cache check). */
  private newlyReady: number[] = [];

  /**
   * Ready nodes that may not be admitted yet, with why: their node directory
   * is held by another run. They hold nothing; they are checked again (lock,
   * then cache) when {@link unblockAll} puts them back.
   */
  private readonly blocked = new Map<number, string>();

  constructor(private readonly options: RunGraphOptions) {
    const { workflow, budget } = options;
    this.clock = options.clock;
    this.dag = new Dag(workflow.nodes);
    this.ledger = options.ledger ?? new ResourceLedger(budget, budget.resources);
    this.holdPrefix = options.holdPrefix ?? '';
    // Node directories need no normalising: ids and iterable labels are plain names, never `.` or `..`.
    const base = join(options.workDir, workflow.name);
    this.nodes = workflow.nodes.map((node, index) => this.makeRuntime(node, index, this.dag.preds[index]?.length ?? 0, `${base}/${node.dir ?? node.id}`));
    const compare = compareCandidates(options.order);
    this.ready = new ReadySet(
      (a, b) => compare(this.node(a).candidate, this.node(b).candidate),
      (i) => grantGroup(this.node(i).candidate.grant),
    );
  }

  /** A fresh node (waiting, no attempt yet) at `index`, counted as waiting. */
  protected makeRuntime(node: WorkflowNode, index: number, remaining: number, dir: string): NodeRuntime {
    const request = requestOf(node);
    const grant = this.options.raiseInsufficient ? request : clampToBudget(request, this.options.budget, this.options.ledger === undefined ? (this.options.budget.resources ?? {}) : undefined);
    this.tally.add(index, 'waiting');
    return {
      index,
      node,
      candidate: { index, id: node.id, topoRank: this.dag.topoRank[index] ?? index, request, grant },
      state: 'waiting',
      remaining,
      attempt: 0,
      record: emptyRecord(node, grant, dir),
    };
  }

  /**
   * Node states, attempts and records as stored; holds of in-flight nodes go
   * back into the ledger as they were; remaining-predecessor counts and the
   * ready set are recomputed from the states (see {@link RunGraph.restore}).
   */
  protected restoreStates(states: ReadonlyMap<number, string>, records: ReadonlyMap<number, string>): void {
    for (const n of this.nodes) {
      const raw = records.get(n.index);
      if (raw !== undefined) Object.assign(n.record, JSON.parse(raw) as NodeSummary);
      const state = (states.get(n.index) ?? 'waiting') as NodeState;
      this.tally.move(n.index, n.state, state);
      n.state = state;
      n.record.status = state;
      // Records written before `attempt` existed counted admissions in `attempts`.
      n.attempt = n.record.attempt ?? n.record.attempts;
      if (HOLDING_STATES.has(state)) {
        this.ledger.restore(this.holdKey(n.index), n.candidate.grant, { ...(n.record.host !== undefined ? { host: n.record.host } : {}), slots: n.record.slots ?? {} });
        this.inFlightCount++;
      }
      if (isTerminal(state)) this.terminal++;
    }
    for (const n of this.nodes) {
      n.remaining = (this.dag.preds[n.index] ?? []).filter((p) => !SATISFIED.has(this.node(p).state)).length;
      if (n.state === 'ready') {
        this.ready.add(n.index);
        this.newlyReady.push(n.index);
      }
      else if (n.state === 'waiting' && n.remaining === 0) this.setState(n, 'ready');
    }
  }

  get size(): number {
    return this.nodes.length;
  }
  get terminalCount(): number {
    return this.terminal;
  }
  /** Nodes holding resources (queued or running). */
  get inFlight(): number {
    return this.inFlightCount;
  }
  get readyCount(): number {
    return this.ready.size;
  }
  /** Every node has reached a final state. */
  get done(): boolean {
    return this.terminal === this.nodes.length;
  }
  get isAdmitting(): boolean {
    return this.admitting;
  }

  node(index: number): NodeRuntime {
    const n = this.nodes[index];
    if (n === undefined) throw new RangeError(`no node at index ${index}`);
    return n;
  }

  /** Indices changed since the last call, for persisting. */
  takeChanged(): number[] {
    if (this.changed.size === 0) return [];
    const out = [...this.changed];
    this.changed.clear();
    // Their whole record is written, the count with it.
    if (this.recounted.size > 0) for (const i of out) this.recounted.delete(i);
    return out;
  }

  /**
   * Indices whose remaining-predecessor count alone changed since the last
   * call (a predecessor finished; the node itself did not change): only that
   * count needs persisting, not the whole record. Take after {@link takeChanged}.
   */
  takeRecounted(): number[] {
    if (this.recounted.size === 0) return [];
    const out: number[] = [];
    for (const i of this.recounted) if (!this.changed.has(i)) out.push(i);
    for (const i of out) this.recounted.delete(i);
    return out;
  }

  /**
   * The one state setter: checks the transition and keeps the counts, the
   * ready and blocked nodes, the in-flight holds and the changed set.
   */
  protected setState(n: NodeRuntime, to: NodeState): void {
    const from = n.state;
    n.state = transition(n.node.id, from, to);
    this.tally.move(n.index, from, to);
    n.record.status = to;
    this.changed.add(n.index);
    if (from === 'ready') {
      this.ready.delete(n.index);
      this.blocked.delete(n.index);
    }
    if (to === 'ready') {
      this.ready.add(n.index);
      this.newlyReady.push(n.index);
    }
    const wasHolding = HOLDING_STATES.has(from);
    const holding = HOLDING_STATES.has(to);
    if (!wasHolding && holding) this.inFlightCount++;
    if (wasHolding && !holding) {
      this.inFlightCount--;
      this.ledger.release(this.holdKey(n.index));
      n.record.released_ms = this.clock();
    }
    if (isTerminal(to)) this.terminal++;
  }

  /** The node's key in the ledger. */
  protected holdKey(index: number): string {
    return `${this.holdPrefix}${index}`;
  }

  /** Releases every hold of this run (a shared ledger outlives the run's scheduler). */
  releaseAll(): void {
    for (const n of this.nodes) this.ledger.release(this.holdKey(n.index));
  }

  /** A node succeeded or was cached: its successors have one predecessor less to wait for. */
  protected countOff(index: number): void {
    for (const s of this.dag.succs[index] ?? []) {
      const succ = this.node(s);
      succ.remaining--;
      this.recounted.add(s);
      if (succ.remaining === 0 && succ.state === 'waiting') this.setState(succ, 'ready');
    }
  }

  /** Keeps a ready node out of admission until {@link unblockAll}. */
  block(index: number, reason: string): void {
    const n = this.node(index);
    if (n.state !== 'ready') return;
    this.ready.delete(index);
    this.blocked.set(index, reason);
  }

  /**
   * Hands every blocked node back for checking (as newly ready); each stays
   * out of admission until {@link unblock} (its directory was had).
   */
  recheckBlocked(): number {
    for (const index of this.blocked.keys()) this.newlyReady.push(index);
    return this.blocked.size;
  }

  /** A ready node's directory is its run's now: it may be admitted. No-op for a node that was not blocked. */
  unblock(index: number): void {
    if (!this.blocked.delete(index)) return;
    if (this.node(index).state === 'ready') this.ready.add(index);
  }

  /** Ready nodes kept out of admission (see {@link block}). */
  get blockedCount(): number {
    return this.blocked.size;
  }

  /** Nodes that became ready since the last call and are still ready. */
  takeNewlyReady(): NodeRuntime[] {
    // A blocked node may be handed back more than once before it is checked.
    const indices = this.blocked.size > 0 ? [...new Set(this.newlyReady)] : this.newlyReady;
    const out = indices.map((i) => this.node(i)).filter((n) => n.state === 'ready');
    this.newlyReady = [];
    return out;
  }

  /**
   * Why each ready node is not running yet, in admission order; with
   * `limit`, the first `limit` only (O(limit), for snapshots of large runs).
   */
  waiting(limit = Infinity): Array<{ id: string; reason: string }> {
    const out: Array<{ id: string; reason: string }> = [];
    if (limit <= 0) return out;
    for (const i of this.ready) {
      const c = this.node(i).candidate;
      out.push({ id: c.id, reason: waitingReason(c, this.ledger) });
      if (out.length >= limit) return out;
    }
    for (const [i, reason] of this.blocked) {
      out.push({ id: this.node(i).node.id, reason });
      if (out.length >= limit) return out;
    }
    return out;
  }

  /** The node in flight at `attempt`, or undefined (the event about it is stale). */
  protected current(index: number, attempt: number): NodeRuntime | undefined {
    const n = this.nodes[index];
    if (n === undefined || n.attempt !== attempt || !HOLDING_STATES.has(n.state)) return undefined;
    return n;
  }

  /** Nodes holding resources, by index: O(in flight log in flight), not a scan of the run. */
  inFlightNodes(): NodeRuntime[] {
    return [...this.tally.inFlight()].sort((a, b) => a - b).map((i) => this.node(i));
  }

  /** Counts by state, for progress output (kept on every change: O(1)). */
  counts(): Record<NodeState, number> {
    return this.tally.counts();
  }
}
