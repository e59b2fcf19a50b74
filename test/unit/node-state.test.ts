/**
 * The node state machine: the full transition table, terminal states and the
 * error an illegal transition throws.
 */
import { describe, expect, it } from 'vitest';
import {
  HOLDING_STATES,
  IllegalTransitionError,
  NODE_STATES,
  TERMINAL_STATES,
  canTransition,
  isTerminal,
  transition,
  type NodeState,
} from '../../src/scheduler/node-state.js';

/** The allowed transitions, restated independently of the source. */
const EXPECTED: Record<NodeState, NodeState[]> = {
  waiting: ['ready', 'skipped', 'cancelled'],
  // waiting: a map node waits for its elements; succeeded: it collects their outputs.
  ready: ['queued', 'cached', 'skipped', 'cancelled', 'waiting', 'succeeded'],
  // -> ready: the host the attempt was placed on was lost; it is placed again.
  queued: ['running', 'succeeded', 'failed', 'cancelled', 'ready'],
  running: ['succeeded', 'failed', 'cancelled', 'queued', 'ready'],
  succeeded: [],
  failed: [],
  skipped: [],
  cached: [],
  cancelled: [],
};

describe('node states', () => {
  it('lists the nine states of the house style', () => {
    expect([...NODE_STATES]).toEqual(['waiting', 'ready', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'cached', 'cancelled']);
  });

  it('allows exactly the expected transitions', () => {
    for (const from of NODE_STATES) {
      for (const to of NODE_STATES) {
        expect(canTransition(from, to), `${from} -> ${to}`).toBe(EXPECTED[from].includes(to));
      }
    }
  });

  it('returns the new state on a legal transition', () => {
    expect(transition('a', 'waiting', 'ready')).toBe('ready');
    expect(transition('a', 'running', 'queued')).toBe('queued');
    expect(transition('a', 'queued', 'succeeded')).toBe('succeeded');
  });

  it.each([
    ['waiting', 'running'],
    ['waiting', 'queued'],
    ['ready', 'running'],
    ['ready', 'failed'],
    ['queued', 'waiting'],
    ['running', 'skipped'],
    ['succeeded', 'running'],
    ['failed', 'queued'],
    ['skipped', 'ready'],
    ['cancelled', 'ready'],
    ['cached', 'succeeded'],
    ['waiting', 'waiting'],
  ] as Array<[NodeState, NodeState]>)('throws on %s -> %s', (from, to) => {
    let caught: unknown;
    try {
      transition('align', from, to);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(IllegalTransitionError);
    expect((caught as Error).name).toBe('IllegalTransitionError');
    expect((caught as Error).message).toBe(`node "align": illegal transition ${from} -> ${to}`);
  });

  it('knows which states are terminal and which hold resources', () => {
    expect([...TERMINAL_STATES].sort()).toEqual(['cached', 'cancelled', 'failed', 'skipped', 'succeeded']);
    expect([...HOLDING_STATES].sort()).toEqual(['queued', 'running']);
    for (const s of NODE_STATES) {
      expect(isTerminal(s), s).toBe(EXPECTED[s].length === 0);
    }
  });
});
