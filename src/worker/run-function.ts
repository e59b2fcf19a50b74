/**
 * Runs one function node in an executor child process (never in the worker's
 * event loop), with the same timeout, cancellation, measurement and memory
 * enforcement as command nodes.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAX_OUTPUT_BYTES, type NodeJobData, type NodeOutcome } from '../shared/payloads.js';
import type { ExecResult, ExecutorPool } from './executor-pool.js';
import { readTail } from './log-tail.js';
import { FIRST_SAMPLE_MS, TreeSampler, type ResourceUsage } from './resource-sampler.js';
import { WORKER_DEFAULTS } from '../shared/options/defaults.js';

const HOST = hostname();

/** Options for one function execution. */
export interface RunFunctionOptions {
  worker: string;
  pool: ExecutorPool;
  signal?: AbortSignal;
  timeoutMs?: number | null;
  sampleIntervalMs?: number;
  onSpawn?: (pid: number) => void;
}

/** Runs the node's function and describes what happened. */
export async function runFunction(data: NodeJobData, options: RunFunctionOptions): Promise<NodeOutcome> {
  const fn = data.function;
  const dir = data.node_dir;
  const start = Date.now();
  const base = {
    worker: options.worker,
    host: HOST,
    stdout_path: join(dir, 'stdout.log'),
    stderr_path: join(dir, 'stderr.log'),
    exit_code: null,
    signal: null,
    stderr_tail: '',
  };
  if (fn === null) throw new TypeError('runFunction needs a function node');
  mkdirSync(dir, { recursive: true });
  writeFileSync(base.stdout_path, '');
  writeFileSync(base.stderr_path, '');
  const controller = new AbortController();
  let why: { failure: NonNullable<NodeOutcome['failure']>; reason: string } | undefined;
  const abort = (failure: NonNullable<NodeOutcome['failure']>, reason: string): void => {
    why ??= { failure, reason };
    controller.abort();
  };
  const onOuterAbort = (): void => abort('stopped', 'stopped');
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (options.signal?.aborted === true) onOuterAbort();
  const timeoutMs = options.timeoutMs;
  const timer = timeoutMs !== undefined && timeoutMs !== null ? setTimeout(() => abort('timeout', `timed out after ${timeoutMs / 1000} s`), timeoutMs) : undefined;
  const limitGb = data.memory_margin === null ? null : data.granted_mem_gb * (1 + data.memory_margin);
  let sampler: TreeSampler | undefined;
  let pid: number | null = null;
  let startMs = start;
  try {
    const result = await options.pool.run(
      {
        module: fn.module,
        export: fn.export,
        inputs: data.inputs ?? {},
        ctx: { run_id: data.run_id, node_id: data.node_id, n_procs: data.granted_procs, mem_gb: data.granted_mem_gb, node_dir: dir },
        max_output_bytes: data.max_output_bytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      },
      controller.signal,
      (ex) => {
        pid = ex.pid;
        startMs = Date.now();
        options.onSpawn?.(ex.pid);
        sampler = new TreeSampler(ex.pid, options.sampleIntervalMs ?? WORKER_DEFAULTS.sample_interval_ms, FIRST_SAMPLE_MS, (peakGb) => {
          if (limitGb !== null && peakGb > limitGb) {
            abort('memory', `exceeded memory grant (declared ${data.granted_mem_gb} GB, measured ${peakGb.toFixed(2)} GB)`);
          }
        }, ex.tasks > 1 || ex.spare);
      },
    );
    const usage: ResourceUsage | undefined = sampler?.stop();
    const measured = { cpu_s: usage?.cpu_s ?? null, peak_rss_mb: usage?.peak_rss_mb ?? null };
    if (result.ok && why === undefined) {
      writeFileSync(join(dir, 'outputs.json'), `${result.json}\n`);
      return { ...base, ...measured, ok: true, start_ms: startMs, end_ms: Date.now(), pid: result.pid, reason: null, failure: null, outputs: JSON.parse(result.json) as unknown, executor_pid: result.pid };
    }
    const failed = describeFailure(result, why, base.stderr_path);
    return {
      ...base,
      ...measured,
      ok: false,
      start_ms: startMs,
      end_ms: Date.now(),
      pid: result.pid,
      failure: failed.failure,
      reason: failed.reason,
      stderr_tail: readTail(base.stderr_path) || (result.ok ? '' : result.error.slice(-4096)),
      stdout_tail: readTail(base.stdout_path),
      executor_pid: result.pid,
    };
  } catch (err) {
    return {
      ...base,
      cpu_s: null,
      peak_rss_mb: null,
      ok: false,
      start_ms: startMs,
      end_ms: Date.now(),
      pid,
      failure: 'spawn',
      reason: `cannot run function: ${err instanceof Error ? err.message : String(err)}`,
    };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
    sampler?.stop();
  }
}

/**
 * The failure kind and reason of a function call that did not succeed; an
 * executor that died without a word gets its death written into stderr.log
 * (the executor itself writes what the function threw).
 */
function describeFailure(
  result: ExecResult,
  why: { failure: NonNullable<NodeOutcome['failure']>; reason: string } | undefined,
  stderrPath: string,
): { failure: NonNullable<NodeOutcome['failure']>; reason: string } {
  if (why !== undefined) return why;
  if (result.ok) return { failure: 'exit', reason: 'failed' };
  if (result.failure === 'died') {
    try {
      appendFileSync(stderrPath, `flowgate: ${result.error}\n`);
    } catch {
      // The node directory may be gone: the reason still says it.
    }
    return { failure: 'exit', reason: result.reason };
  }
  return result.failure === 'outputs' ? { failure: 'outputs', reason: result.reason } : { failure: 'exit', reason: `function threw: ${result.reason}` };
}
