/**
 * What the scheduler learns about node jobs, from queue events or from
 * reconciling against job state.
 */
import type { NodeOutcome } from '../shared/payloads.js';

/** One fact about a node's job. */
export type Incoming =
  | { kind: 'active'; index: number; attempt: number }
  | { kind: 'stalled'; index: number; attempt: number }
  | { kind: 'completed'; index: number; attempt: number; outcome: NodeOutcome }
  | { kind: 'failed'; index: number; attempt: number; reason: string; outcome?: NodeOutcome };
