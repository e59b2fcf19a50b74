/**
 * Node counts by state and the set of nodes holding resources, kept up to
 * date on every state change, so that progress, the lost-worker check, the
 * reconcile sweep and directory-lock renewal cost O(in flight), never a scan
 * of every node of a large run. Pure.
 */
import { HOLDING_STATES, NODE_STATES, type NodeState } from './node-state.js';

/** Counts by state and the in-flight (queued or running) node indices. */
export class StateTally {
  private readonly byState = new Map<NodeState, number>(NODE_STATES.map((s) => [s, 0]));
  /** Indices of nodes in a holding state, in the order they entered it. */
  private readonly holding = new Set<number>();

  /** A node enters the tally (a new node, or one restored in `state`). */
  add(index: number, state: NodeState): void {
    this.byState.set(state, (this.byState.get(state) ?? 0) + 1);
    if (HOLDING_STATES.has(state)) this.holding.add(index);
  }

  /** A node moved from `from` to `to`. */
  move(index: number, from: NodeState, to: NodeState): void {
    if (from === to) return;
    this.byState.set(from, (this.byState.get(from) ?? 0) - 1);
    this.byState.set(to, (this.byState.get(to) ?? 0) + 1);
    if (HOLDING_STATES.has(to)) this.holding.add(index);
    else this.holding.delete(index);
  }

  /** Nodes in `state`. */
  count(state: NodeState): number {
    return this.byState.get(state) ?? 0;
  }

  /** Counts of every state. */
  counts(): Record<NodeState, number> {
    const out = {} as Record<NodeState, number>;
    for (const s of NODE_STATES) out[s] = this.byState.get(s) ?? 0;
    return out;
  }

  /** Indices of nodes holding resources (no copy: do not change states while iterating). */
  inFlight(): ReadonlySet<number> {
    return this.holding;
  }
}
