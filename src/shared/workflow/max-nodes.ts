/**
 * The bound on what a workflow may expand to: an iterables product, the
 * copies of a node downstream of iterables, the whole expanded workflow and a
 * map node's elements each count at most `maxNodes` nodes. Sizes are computed
 * from list lengths before anything is allocated, so a three-line product of
 * a billion nodes is refused in microseconds instead of exhausting memory.
 */

import { getHeapStatistics } from 'node:v8';

/** Default of `--max-nodes` (and the `max_nodes` option): the most nodes one expansion may create. */
export const DEFAULT_MAX_NODES = 1_000_000;

/** Heap a node takes in a scheduler, with its record (100,000-node runs: 3.3–3.7 KB). */
const HEAP_BYTES_PER_NODE = 4096;

/**
 * The most nodes this process's heap could hold (its V8 heap limit at about
 * 4 KB a node): an expansion above it would only run out of memory, so it is
 * refused like one above `--max-nodes`, whatever that says.
 */
export function heapNodeCapacity(): number {
  // The heap limit is fixed for the process's life; read once (checked for every node under iterables).
  capacity ??= Math.floor(getHeapStatistics().heap_size_limit / HEAP_BYTES_PER_NODE);
  return capacity;
}
let capacity: number | undefined;

/** Bytes as GB with one decimal, for messages about the heap. */
export function gbText(bytes: number): string {
  return `${Math.round((bytes / 2 ** 30) * 10) / 10} GB`;
}

/** What an expansion above the bound exceeds, for its message: `--max-nodes 1,000,000`, or the heap when that is smaller. */
export function exceedsText(max: number): string {
  const held = heapNodeCapacity();
  if (max <= held) return `exceeds --max-nodes ${formatCount(max)}`;
  return `exceeds the ${formatCount(held)} nodes this process can hold (${gbText(getHeapStatistics().heap_size_limit)} of heap at about 4 KB a node; NODE_OPTIONS=--max-old-space-size=<MB> gives it more)`;
}

/** Whether `n` nodes are more than an expansion may create: the bound `max` (`--max-nodes`) or this process's heap (see {@link exceedsText}). */
export function exceedsLimit(n: number, max: number): boolean {
  return n > Math.min(max, heapNodeCapacity());
}

/**
 * The phases of validating a workflow file, in order (`expand` only with
 * iterables): reading and parsing the text, the schema, the graph checks
 * (ids, needs, connections, iterables), cycle detection, iterables
 * expansion, the scan of commands for untracked files.
 */
export type ValidationPhase = 'parse' | 'schema' | 'graph' | 'cycles' | 'expand' | 'files';

/** Options of workflow validation. */
export interface ValidateOptions {
  /**
   * The most nodes an expansion may create: one node's iterables product,
   * the copies of a node under iterables, the whole workflow once iterables
   * are expanded, a map node's elements (default {@link DEFAULT_MAX_NODES}).
   */
  maxNodes?: number;
  /**
   * The directory relative function modules, path inputs and crash dirs are
   * resolved against, and `{{workflow.dir}}`. Default: the workflow file's
   * directory, or the working directory without a file.
   */
  baseDir?: string;
  /**
   * Told as each phase starts, with the number of nodes: as written (0
   * before parsing), or once iterables are counted (`expand`, `files`), as
   * expanded. Default: nothing.
   */
  onPhase?: (phase: ValidationPhase, nodes: number) => void;
}

/** A count as people read it: `1,000,000`. */
export function formatCount(n: number): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US') : String(n);
}

/**
 * The product of `factors`, or `undefined` when it stays within `max`;
 * otherwise the message `<what> 1000 × 1000 = 1,000,000 nodes exceeds --max-nodes 10`.
 */
export function productProblem(what: string, factors: readonly number[], max: number, unit = 'nodes'): string | undefined {
  let product = 1;
  for (const f of factors) product *= f;
  if (!exceedsLimit(product, max)) return undefined;
  const shown = factors.length <= 8 ? factors.join(' × ') : `${factors.slice(0, 8).join(' × ')} × …`;
  return `${what} ${shown} = ${formatCount(product)} ${unit} ${exceedsText(max)}`;
}

/** The `maxNodes` of validation options, defaulted. */
export function maxNodesOf(options: ValidateOptions | undefined): number {
  return options?.maxNodes ?? DEFAULT_MAX_NODES;
}
