/**
 * The dependency graph of a workflow file as written (before defaults and
 * expansion): predecessors by `needs` and connections, a topological order,
 * reachability. Every walk is iterative and linear in nodes + edges, and
 * tolerates cycles and unknown ids (validation reports those separately).
 */
import { impliedNeeds } from './dataflow-check.js';
import type { WorkflowFile } from './schema.js';

/** Index-addressed dependency graph of the file's nodes (the first node of an id wins). */
export class FileGraph {
  /** Node ids by index. */
  readonly ids: readonly string[];
  /** Predecessor indices by node index, in `needs`-then-connections order; unknown ids left out. */
  readonly preds: readonly (readonly number[])[];
  private readonly index = new Map<string, number>();
  private succsCache: number[][] | undefined;

  constructor(data: WorkflowFile) {
    this.ids = data.nodes.map((n) => n.id);
    data.nodes.forEach((n, i) => {
      if (!this.index.has(n.id)) this.index.set(n.id, i);
    });
    this.preds = data.nodes.map((n) => {
      const out: number[] = [];
      for (const p of impliedNeeds(n)) {
        const j = this.index.get(p);
        if (j !== undefined) out.push(j);
      }
      return out;
    });
  }

  /** Index of an id, or undefined. */
  indexOf(id: string): number | undefined {
    return this.index.get(id);
  }

  /** Successor indices by node index (built on first use). */
  get succs(): readonly (readonly number[])[] {
    if (this.succsCache === undefined) {
      const succs: number[][] = this.ids.map(() => []);
      this.preds.forEach((ps, i) => {
        for (const p of ps) succs[p]?.push(i);
      });
      this.succsCache = succs;
    }
    return this.succsCache;
  }

  /**
   * Node indices in depth-first post-order over predecessors, starting from
   * each node in file order: every node after all its predecessors (in an
   * acyclic graph). The order the recursive walk of earlier versions gave,
   * which names iterable copies, so it must not change.
   */
  postOrder(): number[] {
    const n = this.ids.length;
    const done = new Uint8Array(n);
    const order: number[] = [];
    const nodeStack: number[] = [];
    const nextStack: number[] = [];
    for (let start = 0; start < n; start++) {
      if (done[start] === 1) continue;
      done[start] = 1;
      nodeStack.push(start);
      nextStack.push(0);
      while (nodeStack.length > 0) {
        const top = nodeStack.length - 1;
        const node = nodeStack[top] as number;
        const ps = this.preds[node] ?? [];
        const k = nextStack[top] as number;
        if (k < ps.length) {
          nextStack[top] = k + 1;
          const p = ps[k] as number;
          if (done[p] === 0) {
            done[p] = 1;
            nodeStack.push(p);
            nextStack.push(0);
          }
          continue;
        }
        nodeStack.pop();
        nextStack.pop();
        order.push(node);
      }
    }
    return order;
  }

  /** Every node reachable from `from` along successors (not `from` itself, unless on a cycle). */
  reachableFrom(from: number): Uint8Array {
    const seen = new Uint8Array(this.ids.length);
    const stack = [...(this.succs[from] ?? [])];
    while (stack.length > 0) {
      const s = stack.pop() as number;
      if (seen[s] === 1) continue;
      seen[s] = 1;
      for (const t of this.succs[s] ?? []) if (seen[t] === 0) stack.push(t);
    }
    return seen;
  }
}
