/**
 * Messages between a worker and its executor child processes, and what a
 * function node receives.
 */

/** The second argument of a function node. */
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

/** Worker → executor. */
export type ExecutorRequest =
  | {
      type: 'run';
      id: number;
      module: string;
      export: string;
      inputs: Record<string, unknown>;
      ctx: Omit<FunctionContext, 'signal' | 'log'>;
      /** Largest outputs accepted, in bytes of JSON. */
      max_output_bytes: number;
    }
  | { type: 'abort' };

/** Executor → worker. */
export type ExecutorReply =
  | { type: 'ready'; pid: number }
  /** The outputs as JSON text (checked to survive JSON unchanged). */
  | { type: 'done'; id: number; ok: true; json: string }
  | {
      type: 'done';
      id: number;
      ok: false;
      /** `threw`: the function threw (or a stray rejection of its code); `outputs`: what it returned cannot be stored. */
      failure: 'threw' | 'outputs';
      /** One line. */
      reason: string;
      /** Everything known (stack, fields, causes), also appended to the node's stderr.log. */
      error: string;
      /** The executor's state is suspect (an uncaught error escaped the node's code): replace it. */
      recycle: boolean;
    };
