/**
 * Runs one function node in an executor child process (never in the worker's
 * event loop), with the same timeout, cancellation, measurement and memory
 * enforcement as command nodes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { NodeJobData, NodeOutcome } from '../shared/payloads.js';
import type { ExecutorPool } from './executor-pool.js';
import { TreeSampler, type ResourceUsage } from './resource-sampler.js';

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
      },
      controller.signal,
      (ex) => {
        pid = ex.pid;
        startMs = Date.now();
        options.onSpawn?.(ex.pid);
        sampler = new TreeSampler(ex.pid, options.sampleIntervalMs ?? 1000, options.sampleIntervalMs ?? 1000, (peakGb) => {
          if (limitGb !== null && peakGb > limitGb) {
            abort('memory', `exceeded memory grant (declared ${data.granted_mem_gb} GB, measured ${peakGb.toFixed(2)} GB)`);
          }
        }, ex.tasks > 1);
      },
    );
    const usage: ResourceUsage | undefined = sampler?.stop();
    const measured = { cpu_s: usage?.cpu_s ?? null, peak_rss_mb: usage?.peak_rss_mb ?? null };
    if (result.ok && why === undefined) {
      writeFileSync(join(dir, 'outputs.json'), `${JSON.stringify(result.outputs)}\n`);
      return { ...base, ...measured, ok: true, start_ms: startMs, end_ms: Date.now(), pid: result.pid, reason: null, failure: null, outputs: result.outputs, executor_pid: result.pid };
    }
    const error = result.ok ? '' : result.error;
    const firstLine = error.split('\n')[0] ?? 'failed';
    return {
      ...base,
      ...measured,
      ok: false,
      start_ms: startMs,
      end_ms: Date.now(),
      pid: result.pid,
      failure: why?.failure ?? 'exit',
      reason: why?.reason ?? `function threw: ${firstLine}`,
      stderr_tail: error.slice(-4096),
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
