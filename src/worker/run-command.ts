/**
 * Runs one command node as its own process: own process group (so the whole
 * tree can be killed), cwd = the node's directory, stdout/stderr to files
 * there, environment = worker env + node env + OMP_NUM_THREADS from n_procs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { NodeJobData, NodeOutcome } from '../shared/payloads.js';
import { killGroup } from '../shared/process-group.js';
import { collectOutputs } from './outputs.js';
import { FIRST_SAMPLE_MS, TreeSampler } from './resource-sampler.js';
import { nodeSpawner, type ExitUsage, type SpawnFailure, type Spawner } from './launcher.js';
import { LOG_TAIL_BYTES, notFoundLine, readTail } from './log-tail.js';
import { WORKER_DEFAULTS } from '../shared/options/defaults.js';

/** Bytes of stderr kept in a failure outcome (the full log stays on disk). */
export const STDERR_TAIL_BYTES = LOG_TAIL_BYTES;
/** Time between SIGTERM and SIGKILL when a node is stopped. */
export const KILL_GRACE_MS = 2000;

const HOST = hostname();
// Copying process.env is slow (it is an exotic object); copy it once.
let cachedBaseEnv: Record<string, string | undefined> | undefined;
function defaultBaseEnv(): Record<string, string | undefined> {
  cachedBaseEnv ??= { ...process.env };
  return cachedBaseEnv;
}

/** Options for one execution. */
export interface RunCommandOptions {
  /** `host:pid` of the worker, stamped into the outcome. */
  worker: string;
  /** Aborting kills the node's whole process group. */
  signal?: AbortSignal;
  /** Environment the node inherits (default: this process's). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Called with the child's pid once it started. */
  onSpawn?: (pid: number) => void;
  /** Kill the process group after this many ms (the node's timeout). */
  timeoutMs?: number | null;
  /** Resource sampling period (default 1000). */
  sampleIntervalMs?: number;
  /** How the process is started (default: Node's spawn). */
  spawner?: Spawner;
  /** The caller has just created the node's directory (it is not created again). */
  dirReady?: boolean;
}

let defaultSpawner: Spawner | undefined;

/** The argv actually executed: a string runs through its shell (`/bin/sh -c` when the job names none). */
export function argvOf(command: string | readonly string[], shell?: NodeJobData['shell']): string[] {
  if (typeof command !== 'string') return [...command];
  return shell === undefined || shell === null ? ['/bin/sh', '-c', command] : [shell.path, ...shell.flags, '-c', command];
}

/**
 * A node's CPU time and peak memory: the larger of what the samples of its
 * process tree saw and what the kernel counted for its process and the
 * children it waited for when it ended (the launcher's wait4). The kernel's
 * figures need no sample, so a node that ended before its first one (within
 * 10 ms, or later on a busy worker) is measured too; the samples see
 * processes the node left running or never waited for.
 */
function measured(sampled: { cpu_s: number | null; peak_rss_mb: number | null } | undefined, atExit: ExitUsage | undefined): { cpu_s: number | null; peak_rss_mb: number | null } {
  const larger = (a: number | null | undefined, b: number | undefined, digits: number): number | null => {
    const x = Math.max(a ?? -1, b ?? -1);
    return x < 0 ? null : Math.round(x * 10 ** digits) / 10 ** digits;
  };
  return { cpu_s: larger(sampled?.cpu_s, atExit?.cpu_s, 3), peak_rss_mb: larger(sampled?.peak_rss_mb, atExit?.peak_rss_mb, 1) };
}

function buildEnv(data: NodeJobData, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  env['OMP_NUM_THREADS'] = String(data.granted_procs);
  env['FLOWGATE_RUN_ID'] = data.run_id;
  env['FLOWGATE_NODE_ID'] = data.node_id;
  env['FLOWGATE_N_PROCS'] = String(data.granted_procs);
  env['FLOWGATE_MEM_GB'] = String(data.granted_mem_gb);
  env['FLOWGATE_NODE_DIR'] = data.node_dir;
  env['FLOWGATE_WORKER_PID'] = String(process.pid);
  // The node's own env wins, including over OMP_NUM_THREADS.
  return Object.assign(env, data.env);
}

export { killGroup };

/** Runs the node's command to completion and describes what happened. */
export function runCommand(data: NodeJobData, options: RunCommandOptions): Promise<NodeOutcome> {
  const dir = data.node_dir;
  const stdoutPath = join(dir, 'stdout.log');
  const stderrPath = join(dir, 'stderr.log');
  if (data.command === null) throw new TypeError('runCommand needs a command node');
  const argv = argvOf(data.command, data.shell);
  const what = typeof data.command === 'string' ? 'shell' : 'command';
  const base: Omit<NodeOutcome, 'ok' | 'exit_code' | 'signal' | 'end_ms' | 'reason' | 'failure' | 'stderr_tail' | 'pid' | 'cpu_s' | 'peak_rss_mb'> = {
    start_ms: Date.now(),
    worker: options.worker,
    host: HOST,
    stdout_path: stdoutPath,
    stderr_path: stderrPath,
  };
  const prepareFailed = (why: string): NodeOutcome => ({
    ...base,
    ok: false,
    exit_code: null,
    signal: null,
    end_ms: Date.now(),
    pid: null,
    failure: 'prepare',
    cpu_s: null,
    peak_rss_mb: null,
    reason: `cannot prepare node directory ${dir}: ${why}`,
    stderr_tail: '',
  });
  if (options.dirReady !== true) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      return Promise.resolve(prepareFailed(err instanceof Error ? err.message : String(err)));
    }
  }

  return new Promise<NodeOutcome>((resolve) => {
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let aborted = false;
    let timedOut = false;
    let overMemory: string | undefined;
    let pid: number | null = null;
    let sampler: TreeSampler | undefined;
    const limitGb = data.memory_margin === null ? null : data.granted_mem_gb * (1 + data.memory_margin);
    const timeoutMs = options.timeoutMs;

    const onAbort = (): void => {
      aborted = true;
      if (pid === null || settled) return;
      killGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => {
        if (pid !== null) killGroup(pid, 'SIGKILL');
      }, KILL_GRACE_MS);
      killTimer.unref();
    };

    const finish = (exitCode: number | null, signal: string | null, spawnFailure?: SpawnFailure, exitUsage?: ExitUsage): void => {
      if (settled) return;
      settled = true;
      if (killTimer !== undefined) clearTimeout(killTimer);
      if (timeoutTimer !== undefined) clearTimeout(timeoutTimer);
      const usage = sampler?.stop();
      if (usage !== undefined && usage.samples.length > 0) {
        try {
          writeFileSync(join(dir, 'resource_samples.json'), `${JSON.stringify(usage.samples)}\n`);
        } catch {
          // Measurements never fail a node.
        }
      }
      // Whatever the outcome, nothing of the node's process group may outlive it
      // when it was stopped: grandchildren that ignored SIGTERM go too.
      if (aborted && pid !== null) killGroup(pid, 'SIGKILL');
      options.signal?.removeEventListener('abort', onAbort);
      if (spawnFailure?.stage === 'prepare') {
        resolve(prepareFailed(spawnFailure.message));
        return;
      }
      const exitedOk = spawnFailure === undefined && exitCode === 0 && !aborted;
      const collected = exitedOk ? collectOutputs(data, stdoutPath) : undefined;
      const ok = exitedOk && collected?.ok === true;
      const stderrTail = ok ? '' : readTail(stderrPath, STDERR_TAIL_BYTES);
      let reason: string | null = null;
      let failure: NodeOutcome['failure'] = null;
      if (collected !== undefined && !collected.ok) {
        failure = 'outputs';
        reason = collected.reason;
      } else if (spawnFailure !== undefined) {
        failure = 'spawn';
        reason =
          spawnFailure.code === 'ENOENT'
            ? `${what} not found: ${argv[0] ?? ''}${what === 'shell' ? ' (it runs string commands; choose another with "shell" in the node or in defaults)' : ''}`
            : spawnFailure.code === 'EACCES'
              ? `${what} not executable: ${argv[0] ?? ''}`
              : `cannot start command: ${spawnFailure.message}`;
      } else if (overMemory !== undefined) {
        failure = 'memory';
        reason = overMemory;
      } else if (timedOut) {
        failure = 'timeout';
        reason = `timed out after ${(timeoutMs ?? 0) / 1000} s`;
      } else if (aborted) {
        failure = 'stopped';
        reason = `stopped (${signal ?? `exit code ${String(exitCode)}`})`;
      } else if (signal !== null) {
        failure = 'signal';
        reason = `killed by signal ${signal}`;
      } else if (exitCode !== 0) {
        failure = 'exit';
        reason = `exit code ${String(exitCode)}`;
        // 127 is the shell's "command not found": its own words say which command.
        const said = exitCode === 127 ? notFoundLine(stderrTail) : undefined;
        if (said !== undefined) reason += ` (${said})`;
      }
      resolve({
        ...base,
        ok,
        exit_code: exitCode,
        signal,
        end_ms: Date.now(),
        pid,
        reason,
        failure,
        ...measured(usage, exitUsage),
        stderr_tail: stderrTail,
        ...(ok ? {} : { stdout_tail: readTail(stdoutPath, STDERR_TAIL_BYTES) }),
        ...(collected?.ok === true && collected.outputs !== undefined ? { outputs: collected.outputs } : {}),
      });
    };

    options.signal?.addEventListener('abort', onAbort, { once: true });
    base.start_ms = Date.now();
    const spawner = options.spawner ?? (defaultSpawner ??= nodeSpawner());
    spawner.spawn(
      { argv, cwd: dir, env: buildEnv(data, options.baseEnv ?? defaultBaseEnv()), stdoutPath, stderrPath },
      {
        started: (p) => {
          pid = p;
          options.onSpawn?.(p);
          sampler = new TreeSampler(p, options.sampleIntervalMs ?? WORKER_DEFAULTS.sample_interval_ms, FIRST_SAMPLE_MS, (peakGb) => {
            if (limitGb !== null && peakGb > limitGb && overMemory === undefined) {
              overMemory = `exceeded memory grant (declared ${data.granted_mem_gb} GB, measured ${peakGb.toFixed(2)} GB)`;
              onAbort();
            }
          });
          // An abort that came while the process was being started applies now.
          if (aborted || options.signal?.aborted === true) onAbort();
          if (timeoutMs !== undefined && timeoutMs !== null) {
            timeoutTimer = setTimeout(() => {
              timedOut = true;
              onAbort();
            }, timeoutMs);
          }
        },
        exited: (code, signal, exitUsage) => finish(code, signal, undefined, exitUsage),
        failed: (failure) => finish(null, null, failure),
      },
    );
  });
}
