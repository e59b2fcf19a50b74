/**
 * DAG algorithms over workflow nodes: topological order, cycle detection,
 * successors and descendants. Pure; nodes are addressed by their file index.
 */

/** The minimal node shape the DAG needs. */
export interface DagNodeInput {
  readonly id: string;
  readonly needs: readonly string[];
}

/** Immutable dependency graph with O(1) successor lookup. */
export class Dag {
  /** Node ids by index. */
  readonly ids: readonly string[];
  /** Predecessor indices by node index. */
  readonly preds: readonly (readonly number[])[];
  /** Successor indices by node index. */
  readonly succs: readonly (readonly number[])[];
  /**
   * Node indices in topological order as nipype has it (networkx's
   * `topological_sort`): layer by layer — first every node without
   * predecessors in file order, then the nodes those release, in the order
   * they are released (each releasing node's successors in file order), and
   * so on.
   */
  readonly topoOrder: readonly number[];
  /** Position of each node in {@link topoOrder} ("job id" in nipype terms). */
  readonly topoRank: readonly number[];
  private readonly indexById: ReadonlyMap<string, number>;

  constructor(nodes: readonly DagNodeInput[]) {
    this.ids = nodes.map((n) => n.id);
    this.indexById = new Map(nodes.map((n, i) => [n.id, i]));
    // Every list is allocated at its final length: an array grown by `push`
    // from empty reserves 17 slots, ~150 bytes for a chain's single edge,
    // twice per node for the whole run.
    const preds: number[][] = nodes.map((n) =>
      n.needs.map((dep) => {
        const j = this.indexById.get(dep);
        if (j === undefined) throw new Error(`unknown dependency "${dep}" of "${n.id}"`);
        return j;
      }),
    );
    const outDegree = new Uint32Array(nodes.length);
    for (const p of preds) for (const j of p) outDegree[j] = (outDegree[j] ?? 0) + 1;
    const succs: number[][] = Array.from(outDegree, (k) => (k === 0 ? [] : new Array<number>(k)));
    const filled = new Uint32Array(nodes.length);
    preds.forEach((p, i) => {
      for (const j of p) {
        const at = filled[j] ?? 0;
        (succs[j] as number[])[at] = i;
        filled[j] = at + 1;
      }
    });
    this.preds = preds;
    this.succs = succs;
    const order = generations(preds, succs);
    if (order.length !== nodes.length) throw new Error('the graph has a cycle');
    this.topoOrder = order;
    const rank = new Array<number>(nodes.length).fill(0);
    order.forEach((node, pos) => {
      rank[node] = pos;
    });
    this.topoRank = rank;
  }

  get size(): number {
    return this.ids.length;
  }

  /**
   * Adds a node that `parent` depends on and that depends on nothing (the
   * elements of a map node, created when it becomes ready). Returns its index.
   * Its rank is its index: elements come after every node there already is,
   * in the order they were added, as nipype appends a MapNode's sub-jobs to
   * the end of its job list.
   */
  addElement(id: string, parent: number): number {
    const index = this.ids.length;
    (this.ids as string[]).push(id);
    (this.indexById as Map<string, number>).set(id, index);
    (this.preds as number[][]).push([]);
    (this.succs as number[][]).push([parent]);
    (this.preds[parent] as number[]).push(index);
    (this.topoOrder as number[]).push(index);
    (this.topoRank as number[]).push(index);
    return index;
  }

  /** Index of a node id, or undefined. */
  indexOf(id: string): number | undefined {
    return this.indexById.get(id);
  }

  /** Id of a node index. */
  idOf(index: number): string {
    const id = this.ids[index];
    if (id === undefined) throw new RangeError(`no node at index ${index}`);
    return id;
  }

  /**
   * Every node reachable from `index` (not including it), in depth-first
   * pre-order. A node for which `prune` is true is neither returned nor
   * walked through (what lies only beyond it is left out).
   */
  descendants(index: number, prune?: (n: number) => boolean): number[] {
    const out: number[] = [];
    const seen = new Set<number>([index]);
    const stack = [...(this.succs[index] ?? [])].reverse();
    while (stack.length > 0) {
      const n = stack.pop() as number;
      if (seen.has(n)) continue;
      seen.add(n);
      if (prune?.(n) === true) continue;
      out.push(n);
      const next = this.succs[n] ?? [];
      for (let k = next.length - 1; k >= 0; k--) stack.push(next[k] as number);
    }
    return out;
  }

  /** Nodes with no predecessors. */
  roots(): number[] {
    const out: number[] = [];
    this.preds.forEach((p, i) => {
      if (p.length === 0) out.push(i);
    });
    return out;
  }
}

/** networkx's topological generations, flattened (see {@link Dag.topoOrder}). */
function generations(preds: readonly (readonly number[])[], succs: readonly (readonly number[])[]): number[] {
  const indegree = preds.map((p) => p.length);
  let layer: number[] = [];
  indegree.forEach((d, i) => {
    if (d === 0) layer.push(i);
  });
  const order: number[] = [];
  while (layer.length > 0) {
    const next: number[] = [];
    for (const n of layer) {
      order.push(n);
      for (const s of succs[n] ?? []) {
        const d = (indegree[s] ?? 0) - 1;
        indegree[s] = d;
        if (d === 0) next.push(s);
      }
    }
    layer = next;
  }
  return order;
}

/**
 * Returns one dependency cycle as a path of ids that starts and ends at the
 * same node (`a -> b -> a`), or undefined when the graph is acyclic. Unknown
 * dependencies are ignored here; validation reports them separately.
 */
export function findCycle(nodes: readonly DagNodeInput[]): string[] | undefined {
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  // Edges point from a node to what it needs, so a cycle reads in "needs" order.
  const edges = nodes.map((n) => n.needs.map((d) => index.get(d)).filter((d): d is number => d !== undefined));
  const color = new Uint8Array(nodes.length); // 0 new, 1 on stack, 2 done
  const parent = new Int32Array(nodes.length).fill(-1);
  for (let start = 0; start < nodes.length; start++) {
    if (color[start] !== 0) continue;
    const stack: Array<{ node: number; next: number }> = [{ node: start, next: 0 }];
    color[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { node: number; next: number };
      const out = edges[top.node] ?? [];
      if (top.next >= out.length) {
        color[top.node] = 2;
        stack.pop();
        continue;
      }
      const to = out[top.next++] as number;
      if (color[to] === 1) {
        const path = [to];
        for (let n = top.node; n !== to && n !== -1; n = parent[n] ?? -1) path.push(n);
        path.push(to);
        path.reverse();
        return path.map((i) => nodes[i]?.id ?? '?');
      }
      if (color[to] === 0) {
        color[to] = 1;
        parent[to] = top.node;
        stack.push({ node: to, next: 0 });
      }
    }
  }
  return undefined;
}

/** The nodes reachable from `from` (included) by following `next`, iteratively. */
export function reach(from: readonly number[], next: (index: number) => readonly number[]): Set<number> {
  const seen = new Set<number>();
  const stack = [...from];
  while (stack.length > 0) {
    const i = stack.pop() as number;
    if (seen.has(i)) continue;
    seen.add(i);
    for (const n of next(i)) stack.push(n);
  }
  return seen;
}
