/**
 * What a function node's code receives besides its inputs: shared by the
 * worker's executor, which builds it, and the TypeScript API, which types
 * steps with it.
 */

/** The second argument of a function node: `(inputs, ctx: FunctionContext) => outputs`. */
export interface FunctionContext {
  run_id: string;
  node_id: string;
  /** Threads granted to the node. */
  n_procs: number;
  /** Memory in GB granted to the node. */
  mem_gb: number;
  /** The node's working directory (also the process's cwd while it runs). */
  node_dir: string;
  /** Aborted when the node is cancelled or times out. */
  signal: AbortSignal;
  /** Writes a line to the node's stdout.log. */
  log: (...args: unknown[]) => void;
}
