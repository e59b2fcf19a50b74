/**
 * The DAG: topological order as networkx (and so nipype) has it, descendants in
 * depth-first pre-order, roots, and cycle detection.
 */
import { describe, expect, it } from 'vitest';
import { Dag, findCycle, reach, type DagNodeInput } from '../../src/shared/dag.js';
import { seededRandom } from './support.js';

const n = (id: string, ...needs: string[]): DagNodeInput => ({ id, needs });

/** Reference topological order, computed another way than the Dag does. */
function referenceOrder(nodes: readonly DagNodeInput[]): number[] {
  // networkx's topological_sort (nipype's tsort), stated differently: by
  // generation (longest path from a root), then by the rank of the node's last
  // predecessor in the order, then by its place among that one's successors.
  const index = new Map(nodes.map((node, i) => [node.id, i]));
  const preds = nodes.map((node) => node.needs.map((d) => index.get(d) as number));
  const succs: number[][] = nodes.map(() => []);
  preds.forEach((ps, i) => ps.forEach((p) => succs[p]?.push(i)));
  const gen: number[] = [];
  const genOf = (i: number): number => (gen[i] ??= Math.max(-1, ...(preds[i] ?? []).map(genOf)) + 1);
  nodes.forEach((_, i) => genOf(i));
  const rank: number[] = [];
  const order: number[] = [];
  for (let g = 0; order.length < nodes.length; g++) {
    const layer = nodes.map((_, i) => i).filter((i) => gen[i] === g);
    const key = (i: number): [number, number] => {
      const ps = preds[i] ?? [];
      if (ps.length === 0) return [-1, i];
      const last = ps.reduce((a, b) => ((rank[a] as number) > (rank[b] as number) ? a : b));
      return [rank[last] as number, (succs[last] ?? []).indexOf(i)];
    };
    layer.sort((a, b) => key(a)[0] - key(b)[0] || key(a)[1] - key(b)[1]);
    for (const i of layer) {
      rank[i] = order.length;
      order.push(i);
    }
  }
  return order;
}

/** A random DAG whose edges point from later to earlier nodes, then shuffled so file order is not a topological order. */
function randomDag(size: number, seed: number): DagNodeInput[] {
  const rand = seededRandom(seed);
  const ids = Array.from({ length: size }, (_, i) => `n${i}`);
  const nodes: DagNodeInput[] = ids.map((id, i) => {
    const needs = new Set<string>();
    const k = Math.floor(rand() * 4);
    for (let j = 0; j < k && i > 0; j++) needs.add(ids[Math.floor(rand() * i)] as string);
    return { id, needs: [...needs] };
  });
  for (let i = nodes.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [nodes[i], nodes[j]] = [nodes[j] as DagNodeInput, nodes[i] as DagNodeInput];
  }
  return nodes;
}

describe('Dag', () => {
  it('orders a chain by dependency, whatever the file order', () => {
    const dag = new Dag([n('c', 'b'), n('a'), n('b', 'a')]);
    expect(dag.topoOrder.map((i) => dag.idOf(i))).toEqual(['a', 'b', 'c']);
    expect(dag.topoRank).toEqual([2, 0, 1]);
  });

  it('takes every root first, in file order, then the next layer (networkx, as nipype)', () => {
    // Roots y, z and w come before x, which needs z.
    const dag = new Dag([n('x', 'z'), n('y'), n('z'), n('w')]);
    expect(dag.topoOrder.map((i) => dag.idOf(i))).toEqual(['y', 'z', 'w', 'x']);
    // The brief's case: a, c(a), b, x(b), y runs a b y c x in nipype.
    const nip = new Dag([n('a'), n('c', 'a'), n('b'), n('x', 'b'), n('y')]);
    expect(nip.topoOrder.map((i) => nip.idOf(i))).toEqual(['a', 'b', 'y', 'c', 'x']);
    // Independent nodes keep file order exactly.
    const flat = new Dag([n('f'), n('e'), n('d'), n('c'), n('b'), n('a')]);
    expect(flat.topoOrder).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('orders a layer by release: the releasing nodes in order, each one\'s successors in file order', () => {
    // r releases q and p (layer 1); s, released by q, is in layer 2 although it comes before p in the file.
    const dag = new Dag([n('r'), n('q', 'r'), n('s', 'q'), n('p', 'r')]);
    expect(dag.topoOrder.map((i) => dag.idOf(i))).toEqual(['r', 'q', 'p', 's']);
    // u is released by its last predecessor in the order (k), not its first (j).
    const late = new Dag([n('j'), n('k'), n('u', 'k', 'j'), n('v', 'j')]);
    expect(late.topoOrder.map((i) => late.idOf(i))).toEqual(['j', 'k', 'v', 'u']);
  });

  it.each([1, 2, 3, 4, 5])('matches the reference order on a random 300-node DAG (seed %i)', (seed) => {
    const nodes = randomDag(300, seed);
    const dag = new Dag(nodes);
    expect(dag.topoOrder).toEqual(referenceOrder(nodes));
    // Every edge goes forward in the order, and topoRank is its inverse.
    for (let i = 0; i < nodes.length; i++) {
      for (const p of dag.preds[i] ?? []) expect(dag.topoRank[p]).toBeLessThan(dag.topoRank[i] as number);
      expect(dag.topoOrder[dag.topoRank[i] as number]).toBe(i);
    }
  });

  it('records predecessors and successors by index', () => {
    const dag = new Dag([n('a'), n('b', 'a'), n('c', 'a'), n('d', 'b', 'c')]);
    expect(dag.preds).toEqual([[], [0], [0], [1, 2]]);
    expect(dag.succs).toEqual([[1, 2], [3], [3], []]);
    expect(dag.size).toBe(4);
    expect(dag.indexOf('c')).toBe(2);
    expect(dag.indexOf('nope')).toBeUndefined();
    expect(() => dag.idOf(4)).toThrow(RangeError);
  });

  it('lists descendants depth-first in pre-order, without the node itself', () => {
    //     a
    //    / \
    //   b   c
    //   |\  |
    //   e d-+
    //     |
    //     f
    const dag = new Dag([n('a'), n('b', 'a'), n('c', 'a'), n('d', 'b', 'c'), n('e', 'b'), n('f', 'd')]);
    const ids = (i: number): string[] => dag.descendants(i).map((j) => dag.idOf(j));
    expect(ids(0)).toEqual(['b', 'd', 'f', 'e', 'c']);
    expect(ids(2)).toEqual(['d', 'f']);
    expect(ids(3)).toEqual(['f']);
    expect(ids(5)).toEqual([]);
  });

  it('leaves out a pruned node and what lies only beyond it', () => {
    // Same graph as above: pruning d leaves out d and f (f is reached only through d).
    const dag = new Dag([n('a'), n('b', 'a'), n('c', 'a'), n('d', 'b', 'c'), n('e', 'b'), n('f', 'd')]);
    const d = dag.indexOf('d') as number;
    expect(dag.descendants(0, (i) => i === d).map((j) => dag.idOf(j))).toEqual(['b', 'e', 'c']);
    // Pruning b: d is still reached through c.
    const b = dag.indexOf('b') as number;
    expect(dag.descendants(0, (i) => i === b).map((j) => dag.idOf(j))).toEqual(['c', 'd', 'f']);
  });

  it('lists each descendant once in a wide diamond', () => {
    const mids = Array.from({ length: 50 }, (_, i) => n(`m${i}`, 'top'));
    const dag = new Dag([n('top'), ...mids, n('join', ...mids.map((m) => m.id))]);
    const d = dag.descendants(0);
    expect(d).toHaveLength(51);
    expect(new Set(d).size).toBe(51);
    expect(d.slice(0, 2).map((i) => dag.idOf(i))).toEqual(['m0', 'join']);
  });

  it('finds the roots in file order', () => {
    const dag = new Dag([n('x', 'z'), n('y'), n('z'), n('w', 'y')]);
    expect(dag.roots()).toEqual([1, 2]);
  });

  it('refuses unknown dependencies and cycles', () => {
    expect(() => new Dag([n('a', 'ghost')])).toThrow('unknown dependency "ghost" of "a"');
    expect(() => new Dag([n('a', 'b'), n('b', 'a')])).toThrow('the graph has a cycle');
  });
});

describe('findCycle', () => {
  it('returns undefined for an acyclic graph', () => {
    expect(findCycle([n('a'), n('b', 'a'), n('c', 'a', 'b')])).toBeUndefined();
    expect(findCycle(randomDag(200, 7))).toBeUndefined();
    expect(findCycle([])).toBeUndefined();
  });

  it('returns a cycle as a closed path in "needs" order', () => {
    expect(findCycle([n('a', 'b'), n('b', 'c'), n('c', 'a')])).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle([n('p', 'q'), n('q', 'p')])).toEqual(['p', 'q', 'p']);
  });

  it('reports a self-loop', () => {
    expect(findCycle([n('ok'), n('me', 'me')])).toEqual(['me', 'me']);
  });

  it('reports only the cycle, not the path that led to it', () => {
    // entry -> a -> b -> c -> a: entry is not part of the cycle.
    expect(findCycle([n('entry', 'a'), n('a', 'b'), n('b', 'c'), n('c', 'a')])).toEqual(['a', 'b', 'c', 'a']);
  });

  it('finds a cycle hidden behind acyclic parts of the graph', () => {
    const nodes = [...randomDag(100, 3), n('x', 'n5', 'z'), n('y', 'x'), n('z', 'y')];
    const cycle = findCycle(nodes);
    expect(cycle).toBeDefined();
    const c = cycle as string[];
    expect(c[0]).toBe(c[c.length - 1]);
    expect(new Set(c.slice(0, -1))).toEqual(new Set(['x', 'y', 'z']));
    // Each step follows a real "needs" edge.
    const needs = new Map(nodes.map((node) => [node.id, node.needs]));
    for (let i = 0; i + 1 < c.length; i++) expect(needs.get(c[i] as string)).toContain(c[i + 1]);
  });

  it('ignores unknown dependencies', () => {
    expect(findCycle([n('a', 'ghost'), n('b', 'a')])).toBeUndefined();
  });
});

describe('reach', () => {
  it('follows the given edges from every start, each node once, with no recursion', () => {
    const next = (i: number): number[] => (i === 0 ? [1, 2] : i === 1 ? [2] : i === 2 ? [0] : []);
    expect([...reach([0], next)].sort()).toEqual([0, 1, 2]);
    expect([...reach([3], next)]).toEqual([3]);
    // A chain of 200,000 nodes.
    expect(reach([0], (i) => (i < 199_999 ? [i + 1] : [])).size).toBe(200_000);
  });
});
