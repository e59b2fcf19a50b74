/**
 * What travels through the queue: the job a scheduler enqueues for a node and
 * the outcome a worker reports back. Kept small: bulk output stays on disk.
 */
import { z } from 'zod';

/** The BullMQ queue every node job goes through (under the configured prefix). */
export const NODE_QUEUE = 'nodes';

/** Job data for one node attempt. */
export const nodeJobSchema = z.object({
  run_id: z.string(),
  workflow: z.string(),
  node_id: z.string(),
  attempt: z.number().int().min(1),
  command: z.union([z.string(), z.array(z.string())]),
  env: z.record(z.string(), z.string()),
  /** Declared resources. */
  n_procs: z.number(),
  mem_gb: z.number(),
  /** Resources actually reserved (the request clamped to the budget). */
  granted_procs: z.number(),
  granted_mem_gb: z.number(),
  /** Absolute path of the node's working directory. */
  node_dir: z.string(),
  /** Filled in by the worker when the node fails, so the scheduler can read it. */
  outcome: z.unknown().optional(),
});
export type NodeJobData = z.infer<typeof nodeJobSchema>;

/** What a worker reports about one execution of a node. */
export interface NodeOutcome {
  /** true when the command exited with status 0. */
  ok: boolean;
  exit_code: number | null;
  signal: string | null;
  /** Epoch ms stamped by the worker just before spawning and just after exit. */
  start_ms: number;
  end_ms: number;
  /** `host:pid` of the worker process. */
  worker: string;
  host: string;
  /** pid of the node's own process (null if it never started). */
  pid: number | null;
  /** Human-readable failure reason, null on success. */
  reason: string | null;
  /** Last few KB of stderr (only on failure). */
  stderr_tail: string;
  stdout_path: string;
  stderr_path: string;
}

/** Job id for a node attempt. Ids never contain ':' and are never all digits. */
export function nodeJobId(runId: string, nodeIndex: number, attempt: number): string {
  return `${runId}.${nodeIndex}.${attempt}`;
}

/** Parses a job id made by {@link nodeJobId}. */
export function parseNodeJobId(jobId: string): { runId: string; nodeIndex: number; attempt: number } | undefined {
  const m = /^(.+)\.(\d+)\.(\d+)$/.exec(jobId);
  if (m === null || m[1] === undefined || m[2] === undefined || m[3] === undefined) return undefined;
  return { runId: m[1], nodeIndex: Number(m[2]), attempt: Number(m[3]) };
}
