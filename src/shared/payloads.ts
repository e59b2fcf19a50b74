/**
 * What travels through the queue: the job a scheduler enqueues for a node and
 * the outcome a worker reports back. Kept small: bulk output stays on disk.
 */
import type { CacheTicket } from './cache-record.js';
import { RUN_DEFAULTS } from './options/defaults.js';

/** The BullMQ queue every node job goes through (under the configured prefix). */
export const NODE_QUEUE = 'nodes';

/**
 * The queue of one host under per-host placement (`nodes@<host id>`): only
 * that host's workers take its jobs. Host ids are plain names (no `:`).
 */
export function hostQueue(hostId: string): string {
  return `${NODE_QUEUE}@${hostId}`;
}

/** The queue a node's job goes to: its host's, or the shared one when it has no host. */
export function queueOf(host: string | undefined): string {
  return host === undefined || host === '' ? NODE_QUEUE : hostQueue(host);
}

/** Default limit on a node's outputs, in bytes of JSON (see `RUN_DEFAULTS.max_output_bytes`). */
export const DEFAULT_MAX_OUTPUT_BYTES = RUN_DEFAULTS.max_output_bytes;

/**
 * The data of a node's BullMQ job: a pointer to an admitted attempt. What the
 * worker runs comes from the run store (see node-claim.ts), never from here,
 * so nothing added to the queue by anyone else can run a command.
 */
export interface NodeJobRef {
  run_id: string;
  /** For people reading the queue (Bull Board); not used to run anything. */
  workflow: string;
  node_id: string;
  node_index: number;
  /** 1-based attempt number. */
  attempt: number;
  /** The admission token the scheduler stored for this attempt. */
  token: string;
  /** Filled in by the worker when the node fails, so the scheduler can read it. */
  outcome?: NodeOutcome;
}

/** Checks the job data a worker took from the queue; throws a TypeError naming the field. */
export function parseNodeJobRef(value: unknown): NodeJobRef {
  const fail = (field: string, expected: string): never => {
    throw new TypeError(`invalid node job: "${field}" must be ${expected}`);
  };
  if (typeof value !== 'object' || value === null) return fail('(data)', 'an object');
  const v = value as Record<string, unknown>;
  for (const f of ['run_id', 'node_id', 'token'] as const) if (typeof v[f] !== 'string' || v[f] === '') fail(f, 'a non-empty string');
  for (const f of ['node_index', 'attempt'] as const) if (typeof v[f] !== 'number' || !Number.isInteger(v[f]) || (v[f] as number) < 0) fail(f, 'a whole number');
  return value as NodeJobRef;
}

/** What a worker runs for one node attempt: stored by the scheduler when it admits the attempt. */
export interface NodeJobData {
  run_id: string;
  workflow: string;
  node_id: string;
  /** 1-based attempt number. */
  attempt: number;
  /** argv (no shell) or a shell string; null for a function node. */
  command: string | string[] | null;
  /** A function node's module (absolute path) and export; null for a command node. */
  function: { module: string; export: string } | null;
  env: Record<string, string>;
  /** A string command's shell (`path ...flags -c command`); null or absent: \`/bin/sh -c\`. */
  shell?: { path: string; flags: readonly string[] } | null;
  /** Declared resources. */
  n_procs: number;
  mem_gb: number;
  /** Resources actually reserved (the request clamped to the budget). */
  granted_procs: number;
  granted_mem_gb: number;
  /** Absolute path of the node's working directory. */
  node_dir: string;
  /** Wall-clock limit of this attempt in seconds, or null. */
  timeout_s: number | null;
  /** Kill the node when its tree's RSS exceeds granted memory × (1 + margin); null: measure only. */
  memory_margin: number | null;
  /** The node's inputs, resolved (literals and producers' outputs). */
  inputs?: Record<string, unknown>;
  /** Command nodes: declared output files (absolute paths), checked after success; null or absent: none. */
  outputs?: Record<string, string> | null;
  /** Command nodes: stdout is a JSON object of outputs. */
  stdout_json?: boolean;
  /** Largest outputs accepted, in bytes of JSON (absent: {@link DEFAULT_MAX_OUTPUT_BYTES}). */
  max_output_bytes?: number;
  /** What the node's cache record is computed from; the worker writes the record after a success. */
  cache?: CacheTicket;
  /** Where the worker keeps this attempt's stdout and stderr once it ended (see attempt-logs.ts). */
  logs_dir?: string;
}

/**
 * Checks a stored node spec (defence in depth: it comes from the run store). Hand-written rather than zod: it runs
 * in every worker process, whose start-up time matters (zod costs ~120 ms to
 * load), and the shape is small and produced by flowgate itself.
 */
export function parseNodeJobData(value: unknown): NodeJobData {
  const fail = (field: string, expected: string): never => {
    throw new TypeError(`invalid node job data: "${field}" must be ${expected}`);
  };
  if (typeof value !== 'object' || value === null) return fail('(data)', 'an object');
  const v = value as Record<string, unknown>;
  for (const f of ['run_id', 'workflow', 'node_id', 'node_dir'] as const) if (typeof v[f] !== 'string') fail(f, 'a string');
  for (const f of ['attempt', 'n_procs', 'mem_gb', 'granted_procs', 'granted_mem_gb'] as const) {
    if (typeof v[f] !== 'number' || !Number.isFinite(v[f])) fail(f, 'a number');
  }
  if (v['timeout_s'] !== null && !(typeof v['timeout_s'] === 'number' && v['timeout_s'] > 0)) fail('timeout_s', 'null or a number > 0');
  if (v['memory_margin'] !== null && !(typeof v['memory_margin'] === 'number' && v['memory_margin'] >= 0)) fail('memory_margin', 'null or a number >= 0');
  const cmd = v['command'];
  const fn = v['function'] as { module?: unknown; export?: unknown } | null | undefined;
  if (cmd === null) {
    if (typeof fn !== 'object' || fn === null || typeof fn.module !== 'string' || typeof fn.export !== 'string') fail('function', '{module, export} when command is null');
  } else if (!(typeof cmd === 'string' || (Array.isArray(cmd) && cmd.length > 0 && cmd.every((a) => typeof a === 'string')))) {
    fail('command', 'a string or a non-empty array of strings');
  }
  const shell = v['shell'] as { path?: unknown; flags?: unknown } | null | undefined;
  if (shell !== undefined && shell !== null && (typeof shell !== 'object' || typeof shell.path !== 'string' || !Array.isArray(shell.flags) || !shell.flags.every((f) => typeof f === 'string'))) {
    fail('shell', 'null or {path: string, flags: string[]}');
  }
  const max = v['max_output_bytes'];
  if (max !== undefined && !(typeof max === 'number' && Number.isInteger(max) && max >= 1)) fail('max_output_bytes', 'a whole number >= 1');
  const env = v['env'];
  if (typeof env !== 'object' || env === null || Object.values(env).some((x) => typeof x !== 'string')) fail('env', 'a map of strings');
  return value as NodeJobData;
}

/** Why an attempt failed. */
export type FailureKind = 'exit' | 'signal' | 'spawn' | 'timeout' | 'memory' | 'stopped' | 'worker_lost' | 'prepare' | 'inputs' | 'outputs';

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
  /** Machine-readable failure kind, null on success. */
  failure: FailureKind | null;
  /** Last few KB of stderr (only on failure). */
  stderr_tail: string;
  /** Last few KB of stdout (only on failure). */
  stdout_tail?: string;
  stdout_path: string;
  stderr_path: string;
  /** User + system CPU seconds of the node's process tree (null: ended before the first sample). */
  cpu_s: number | null;
  /** Peak resident memory of the tree in MB (null: ended before the first sample). */
  peak_rss_mb: number | null;
  /** The node's outputs (small JSON): what a function returned, a command's declared files and stdout JSON. */
  outputs?: unknown;
  /** pid of the child process that ran a function node. */
  executor_pid?: number;
  /**
   * Earlier executions of the same attempt that did not finish: killed with a
   * lost worker, or by a forced shutdown and requeued (from the claim's history).
   */
  earlier?: Array<{ worker: string; start_ms: number; end_ms?: number; ended: string }>;
  /** Digest of the node's result (written to its cache record), chained into its successors' cache keys. */
  result_digest?: string;
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
