/**
 * Options compiled by their component's schema: every default applied, each
 * written once (the flags' help quotes the same values), and an error that
 * names the field as its caller knows it, what was expected and what was received.
 */
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseArgs, Flags } from '../../src/cli/args.js';
import { RUN_FLAGS } from '../../src/cli/run-flags.js';
import { SCHEDULER_FLAGS } from '../../src/cli/scheduler-flags.js';
import { WORKER_FLAGS } from '../../src/cli/worker-flags.js';
import { ValidationError } from '../../src/shared/errors.js';
import { flagField } from '../../src/shared/options/compile.js';
import { CRASHFILE_FORMATS, HASH_METHODS, RUN_DEFAULTS, SCHEDULER_ORDERS, SERVICE_DEFAULTS, SPAWNERS, WORKER_DEFAULTS } from '../../src/shared/options/defaults.js';
import { compileResumeOptions, compileRunOptions } from '../../src/shared/options/run.js';
import { compileSchedulerOptions } from '../../src/shared/options/scheduler.js';
import { compileWorkerOptions } from '../../src/shared/options/worker.js';
import { catchError } from './support.js';

describe('run options', () => {
  it('apply every default', () => {
    const o = compileRunOptions({});
    expect(o).toMatchObject({
      scheduler: 'tsort',
      raise_insufficient: true,
      stop_on_first_crash: false,
      max_tasks_per_child: 10,
      enforce_memory: null,
      sample_interval_ms: 1000,
      clean_env: false,
      crashfile_format: 'both',
      max_output_bytes: 4 * 1024 * 1024,
      max_nodes: 1_000_000,
      hash_method: 'timestamp',
      update_hash: false,
      reconcile_interval_ms: 5000,
      redis_outage_ms: 60_000,
      callback_errors: 'abort',
    });
    expect(o.n_procs).toBeGreaterThanOrEqual(1);
    expect(o.memory_gb).toBeGreaterThan(0);
    expect(o.run_id).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(o.workers).toBeUndefined();
  });

  it('keep what is given, Infinity executor tasks included', () => {
    const o = compileRunOptions({ scheduler: 'mem_thread', max_tasks_per_child: Infinity, n_procs: 3, enforce_memory: 0.2, run_id: 'mine' });
    expect(o).toMatchObject({ scheduler: 'mem_thread', max_tasks_per_child: Infinity, n_procs: 3, enforce_memory: 0.2, run_id: 'mine' });
  });

  it('name every bad field with what was expected and what was received', () => {
    const err = catchError(() => compileRunOptions({ scheduler: 'fifo', n_procs: 0, max_tasks_per_child: 1.5, hash_method: 'md5', run_id: 'a:b', memory_gb: -1 }), ValidationError);
    expect(err.code).toBe('OPTIONS_INVALID');
    const byField = Object.fromEntries(err.issues.map((i) => [i.field, i.message]));
    expect(byField).toEqual({
      scheduler: 'expected one of "tsort", "mem_thread", received "fifo"',
      n_procs: 'must be at least 1, received 0',
      max_tasks_per_child: 'expected a whole number, received 1.5',
      hash_method: 'expected one of "timestamp", "content", received "md5"',
      run_id: 'must be 1-64 letters, digits, "_" or "-", received "a:b"',
      memory_gb: 'must be greater than 0, received -1',
    });
  });

  it('name the flag when compiled from flags', () => {
    const err = catchError(() => compileRunOptions({ max_tasks_per_child: 0 }, flagField), ValidationError);
    expect(err.issues).toEqual([{ field: '--max-tasks-per-child', message: 'must be at least 1, received 0' }]);
  });

  it('for resume take only how to run, with the same defaults', () => {
    expect(compileResumeOptions({ scheduler: 'mem_thread' })).toEqual({ max_tasks_per_child: 10, sample_interval_ms: 1000, clean_env: false, callback_errors: 'abort', reconcile_interval_ms: 5000, redis_outage_ms: 60_000, resources: {} });
    const err = catchError(() => compileResumeOptions({ redis_url: 'http://x' }), ValidationError);
    expect(err.issues[0]?.field).toBe('redis_url');
  });
});

describe('worker and scheduler service options', () => {
  it('apply every default', () => {
    const w = compileWorkerOptions({});
    expect(w).toMatchObject({ max_tasks_per_child: 10, lock_duration_ms: 30_000, stalled_interval_ms: 30_000, max_stalled_count: 1, heartbeat_ms: 2000, sample_interval_ms: 1000, spawner: 'auto', clean_env: false });
    expect(w.name).toBe(`${hostname()}:${process.pid}`);
    expect(w.shutdown_deadline_ms).toBeUndefined();
    expect(compileSchedulerOptions({})).toMatchObject({ work_dir: 'flowgate-work', leader_ttl_ms: 10_000, reconcile_interval_ms: 5000, retention_interval_ms: 10_000 });
  });

  it('name the flag of a bad value', () => {
    expect(catchError(() => compileWorkerOptions({ spawner: 'fork' }), ValidationError).issues).toEqual([{ field: '--spawner', message: 'expected one of "auto", "launcher", "node", received "fork"' }]);
    expect(catchError(() => compileSchedulerOptions({ leader_ttl_ms: 10 }), ValidationError).issues).toEqual([{ field: '--leader-ttl-ms', message: 'must be at least 1000, received 10' }]);
  });

  it('take flags as they were parsed (--n-procs is n_procs)', () => {
    const flags = new Flags(parseArgs(['--n-procs', '3', '--leader-ttl-ms', '2000'], SCHEDULER_FLAGS));
    expect(compileSchedulerOptions(flags.options())).toMatchObject({ n_procs: 3, leader_ttl_ms: 2000 });
  });
});

describe('flag specs quote the one default and the one list of choices', () => {
  const help = (specs: typeof RUN_FLAGS, name: string): string => specs.find((f) => f.name === name)?.help ?? '';
  const choices = (specs: typeof RUN_FLAGS, name: string): readonly string[] | undefined => specs.find((f) => f.name === name)?.choices;

  it('for run, worker and scheduler', () => {
    expect(help(RUN_FLAGS, 'max-tasks-per-child')).toContain(`(default ${RUN_DEFAULTS.max_tasks_per_child})`);
    expect(help(WORKER_FLAGS, 'max-tasks-per-child')).toContain(`(default ${RUN_DEFAULTS.max_tasks_per_child})`);
    expect(help(RUN_FLAGS, 'reconcile-interval-ms')).toContain(`(default ${RUN_DEFAULTS.reconcile_interval_ms})`);
    expect(help(WORKER_FLAGS, 'lock-duration-ms')).toContain(`(default ${WORKER_DEFAULTS.lock_duration_ms})`);
    expect(help(SCHEDULER_FLAGS, 'leader-ttl-ms')).toContain(`(default ${SERVICE_DEFAULTS.leader_ttl_ms})`);
    expect(choices(RUN_FLAGS, 'scheduler')).toBe(SCHEDULER_ORDERS);
    expect(choices(RUN_FLAGS, 'crashfile-format')).toBe(CRASHFILE_FORMATS);
    expect(choices(RUN_FLAGS, 'hash-method')).toBe(HASH_METHODS);
    expect(choices(RUN_FLAGS, 'spawner')).toBe(SPAWNERS);
    expect(choices(WORKER_FLAGS, 'spawner')).toBe(SPAWNERS);
  });

  it('-n is short for run --dry-run', () => {
    expect(new Flags(parseArgs(['-n', 'wf.yaml'], RUN_FLAGS)).bool('dry-run', false)).toBe(true);
    expect(new Flags(parseArgs(['wf.yaml'], RUN_FLAGS)).has('dry-run')).toBe(false);
  });
});
