/**
 * Map nodes whose mapped inputs are literal lists: their number of elements
 * is known before the run, so one above the node limit is refused with the
 * workflow (a map over connected outputs is bounded when it is expanded).
 */
import { exceedsLimit, exceedsText, formatCount, productProblem } from './max-nodes.js';
import type { WorkflowFile } from './schema.js';

type At = (node: string, field: string, message: string, path: PropertyKey[]) => void;

/** Reports, through `at`, every map node whose literal lists make more than `maxNodes` elements. */
export function checkMapSizes(data: WorkflowFile, at: At, maxNodes: number): void {
  data.nodes.forEach((n, i) => {
    if (n.map === undefined) return;
    const lengths: number[] = [];
    for (const name of n.map.over) {
      const v: unknown = n.inputs?.[name];
      if (!Array.isArray(v)) return;
      lengths.push(n.map.nested === true ? leafCount(v) : v.length);
    }
    const problem = mapSizeProblem(n.map.mode ?? 'zip', lengths, maxNodes);
    if (problem !== undefined) at(n.id, `nodes[${i}].map`, problem, ['nodes', i, 'map']);
  });
}

/** Why a map over lists of these lengths would make more than `maxNodes` elements, or undefined. */
export function mapSizeProblem(mode: 'zip' | 'product', lengths: readonly number[], maxNodes: number): string | undefined {
  if (mode === 'product') return productProblem('map product', lengths, maxNodes);
  const most = lengths.reduce((a, b) => Math.max(a, b), 0);
  return exceedsLimit(most, maxNodes) ? `map over lists of ${formatCount(most)} items = ${formatCount(most)} nodes ${exceedsText(maxNodes)}` : undefined;
}

/** How many non-list items a nested list holds at every depth (its flattened length). */
function leafCount(list: readonly unknown[]): number {
  let count = 0;
  const stack: unknown[] = [...list];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) stack.push(...(v as unknown[]));
    else count++;
  }
  return count;
}
