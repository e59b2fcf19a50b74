/**
 * What the scheduler learns about node jobs, from queue events or from
 * reconciling against job state.
 */
import type { NodeJobData, NodeOutcome } from '../shared/payloads.js';

/** What a node's job ran: its command rendered from templates and its resolved inputs. */
export interface RanAs {
  command: NodeJobData['command'];
  inputs: Record<string, unknown>;
}

/** One fact about a node's job. */
export type Incoming =
  | { kind: 'active'; index: number; attempt: number }
  | { kind: 'stalled'; index: number; attempt: number }
  /** The host the attempt was placed on was lost (per-host placement): its hold is gone; the node is placed again. */
  | { kind: 'unplaced'; index: number; attempt: number; reason: string; worker?: string; start_ms?: number }
  | { kind: 'completed'; index: number; attempt: number; outcome: NodeOutcome }
  | { kind: 'failed'; index: number; attempt: number; reason: string; outcome?: NodeOutcome; ran?: RanAs };
