/**
 * The board's bounded memory: the least recently used entry goes first.
 */
import { describe, expect, it } from 'vitest';
import { LruMap } from '../../src/board/lru-map.js';

describe('LruMap', () => {
  it('keeps the most recently used entries up to its capacity', () => {
    const m = new LruMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    expect(m.get('a')).toBe(1); // a is now the most recent: b goes next
    m.set('c', 3);
    expect([m.get('a'), m.get('b'), m.get('c'), m.size]).toEqual([1, undefined, 3, 2]);
    m.set('a', 10); // replacing refreshes too
    m.set('d', 4);
    expect([m.get('a'), m.get('c'), m.get('d')]).toEqual([10, undefined, 4]);
    m.delete('a');
    expect([m.get('a'), m.size]).toEqual([undefined, 1]);
  });
});
