/**
 * The BullMQ job for one node attempt: name, data and options. Pure.
 */
import { DEFAULT_MAX_OUTPUT_BYTES, nodeJobId, type NodeJobData, type NodeJobRef, type NodeOutcome } from '../shared/payloads.js';
import { renderCommand, renderOutputs, resolveInputs, TemplateError, type Outputs } from '../shared/workflow/template.js';
import type { NodeRuntime } from './run-graph.js';

/**
 * How long finished jobs stay visible (Bull Board, reconciliation). A job is a
 * pointer into its run's state, so it never outlives the default retention
 * of runs (7 days); the jobs of a run removed earlier by retention or
 * `flowgate prune` go with it. The count caps the queue of a busy service
 * whatever the retention (BullMQ trims the oldest first).
 */
export const KEEP_COMPLETED = { age: 7 * 24 * 3600, count: 20_000 } as const;
/** Like {@link KEEP_COMPLETED}, for failed jobs. */
export const KEEP_FAILED = { age: 7 * 24 * 3600, count: 20_000 } as const;
/**
 * Approximate length the queue's events stream is trimmed to. Events are fast
 * but lossy (reconciliation covers a trimmed one); this bounds the stream.
 */
export const EVENTS_MAX_LEN = 10_000;

/**
 * An admitted attempt: what its worker will run (`data`, stored in the run
 * store as the admission) and the options of its job, whose data is only a
 * {@link NodeJobRef} (see {@link queueEntry}).
 */
export interface NodeJob {
  name: string;
  index: number;
  data: NodeJobData;
  opts: {
    jobId: string;
    attempts: number;
    delay?: number;
    removeOnComplete: typeof KEEP_COMPLETED;
    removeOnFail: typeof KEEP_FAILED;
  };
}

/** A job, or why the node cannot run (its inputs cannot be had or do not fit its command). */
export type BuiltJob = { ok: true; job: NodeJob } | { ok: false; reason: string };

/**
 * Builds the job for the node's current attempt: inputs resolved from the
 * producers' outputs (`outputsOf`), templates filled in. The name reads like
 * `align [4 cpu / 6 GB] run 7f3a` in queue dashboards.
 */
export function buildNodeJob(
  runId: string,
  workflow: string,
  n: NodeRuntime,
  memoryMargin: number | null,
  outputsOf: (node: string) => Outputs | undefined = () => undefined,
  maxOutputBytes = DEFAULT_MAX_OUTPUT_BYTES,
): BuiltJob {
  const grant = n.candidate.grant;
  const resolved = resolveInputs(n.node.inputs, outputsOf);
  if (!resolved.ok) return resolved;
  const ctx = { node: n.node, dir: n.record.node_dir, inputs: resolved.values };
  let command: string | string[] | null = null;
  let outputs: Record<string, string> | null = null;
  try {
    if (n.node.command !== null) {
      command = renderCommand(n.node.command, ctx);
      outputs = renderOutputs(n.node.outputs, ctx);
    }
  } catch (err) {
    if (err instanceof TemplateError) return { ok: false, reason: err.message };
    throw err;
  }
  const job: NodeJob = {
    name: `${n.node.id} [${grant.n_procs} cpu / ${grant.mem_gb} GB] run ${runId.slice(-4)}`,
    index: n.index,
    data: {
      run_id: runId,
      workflow,
      node_id: n.node.id,
      attempt: n.attempt,
      command,
      function: n.node.function === null ? null : { module: n.node.function.module, export: n.node.function.export },
      env: { ...n.node.env },
      shell: typeof command === 'string' ? n.node.shell : null,
      n_procs: n.node.n_procs,
      mem_gb: n.node.mem_gb,
      granted_procs: grant.n_procs,
      granted_mem_gb: grant.mem_gb,
      node_dir: n.record.node_dir,
      timeout_s: n.node.timeout_s,
      memory_margin: memoryMargin,
      inputs: resolved.values,
      outputs,
      stdout_json: n.node.stdout_json,
      max_output_bytes: n.node.max_output_bytes ?? maxOutputBytes,
    },
    opts: {
      jobId: nodeJobId(runId, n.index, n.attempt),
      // Retries are scheduler decisions, each a new job: BullMQ runs a job once.
      attempts: 1,
      // Later attempts wait in BullMQ's delayed set, so a retry delay survives
      // a scheduler restart.
      ...(n.attempt > 1 && n.node.retry_delay_s > 0 ? { delay: Math.round(n.node.retry_delay_s * 1000) } : {}),
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
    },
  };
  return { ok: true, job };
}

/** What goes on the queue for an admitted attempt: a pointer with the admission token. */
export function queueEntry(job: NodeJob, token: string): { name: string; data: NodeJobRef; opts: NodeJob['opts'] } {
  const d = job.data;
  return { name: job.name, data: { run_id: d.run_id, workflow: d.workflow, node_id: d.node_id, node_index: job.index, attempt: d.attempt, token }, opts: job.opts };
}

/** The outcome of a node that could not be started because of its inputs. */
export function inputsFailure(n: NodeRuntime, reason: string, now: number): NodeOutcome {
  return {
    ok: false,
    exit_code: null,
    signal: null,
    start_ms: now,
    end_ms: now,
    worker: 'scheduler',
    host: '',
    pid: null,
    reason,
    failure: 'inputs',
    stderr_tail: '',
    stdout_path: '',
    stderr_path: '',
    cpu_s: null,
    peak_rss_mb: null,
  };
}
