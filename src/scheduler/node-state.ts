/**
 * Node states and the one function allowed to change them.
 */

/** Every state a node can be in. */
export type NodeState =
  | 'waiting'
  | 'ready'
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'cached'
  | 'cancelled';

export const NODE_STATES: readonly NodeState[] = ['waiting', 'ready', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'cached', 'cancelled'];

/** Terminal states: the node will not change again in this run. */
export const TERMINAL_STATES: ReadonlySet<NodeState> = new Set(['succeeded', 'failed', 'skipped', 'cached', 'cancelled']);

/** States in which a node holds resources in the ledger. */
export const HOLDING_STATES: ReadonlySet<NodeState> = new Set(['queued', 'running']);

/** Predecessor states that let a successor run. */
export const SATISFIED: ReadonlySet<NodeState> = new Set(['succeeded', 'cached']);

const ALLOWED: Readonly<Record<NodeState, readonly NodeState[]>> = {
  waiting: ['ready', 'skipped', 'cancelled'],
  // ready -> waiting: a map node waits for its elements; ready -> succeeded: it collects their outputs.
  ready: ['queued', 'cached', 'skipped', 'cancelled', 'waiting', 'succeeded'],
  // queued -> succeeded/failed: the "active" event may be missed or arrive late.
  // running -> queued: the job is requeued after its worker was lost.
  // queued/running -> ready: its host was lost (per-host placement); it is placed again.
  queued: ['running', 'succeeded', 'failed', 'cancelled', 'ready'],
  running: ['succeeded', 'failed', 'cancelled', 'queued', 'ready'],
  succeeded: [],
  failed: [],
  skipped: [],
  cached: [],
  cancelled: [],
};

/** Thrown on a transition the state machine does not allow. */
export class IllegalTransitionError extends Error {
  constructor(node: string, from: NodeState, to: NodeState) {
    super(`node "${node}": illegal transition ${from} -> ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

/** Whether `from -> to` is allowed. */
export function canTransition(from: NodeState, to: NodeState): boolean {
  return ALLOWED[from].includes(to);
}

/** Checks a transition and returns the new state; throws on an illegal one. */
export function transition(node: string, from: NodeState, to: NodeState): NodeState {
  if (!canTransition(from, to)) throw new IllegalTransitionError(node, from, to);
  return to;
}

/** Whether a state is terminal. */
export function isTerminal(state: NodeState): boolean {
  return TERMINAL_STATES.has(state);
}
