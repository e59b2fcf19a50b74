/**
 * Messages between a worker and its executor child processes, and what a
 * function node receives.
 */

import type { FunctionContext } from '../shared/function-context.js';

export type { FunctionContext };

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
  /** The outputs as JSON text (checked to survive JSON unchanged); `recycle`: replace the executor (its realm would not end). */
  | { type: 'done'; id: number; ok: true; json: string; recycle?: boolean }
  | {
      type: 'done';
      id: number;
      ok: false;
      /**
       * `threw`: the function threw (or a stray rejection of its code);
       * `outputs`: what it returned cannot be stored; `died`: the realm
       * running it ended first (the function called `process.exit`).
       */
      failure: 'threw' | 'outputs' | 'died';
      /** One line. */
      reason: string;
      /** Everything known (stack, fields, causes), also appended to the node's stderr.log. */
      error: string;
      /** The executor's state is suspect (an uncaught error escaped the node's code): replace it. */
      recycle: boolean;
    };
