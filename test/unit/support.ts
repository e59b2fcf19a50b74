/**
 * Helpers shared by the unit tests: in-code workflows, a fake clock, worker
 * outcomes, a seeded random generator and error capture. No I/O.
 */
import { expect } from 'vitest';
import type { NodeOutcome } from '../../src/shared/payloads.js';
import type { Workflow, WorkflowNode } from '../../src/shared/workflow/model.js';
import { DEFAULT_SHELL } from '../../src/shared/workflow/schema.js';

/** What a test says about a node; everything but the id is optional. */
export interface NodeSpec {
  id: string;
  needs?: readonly string[];
  n_procs?: number;
  mem_gb?: number;
  command?: string | readonly string[];
  retries?: number;
  /** Named resources in whole slots. */
  resources?: Record<string, number>;
  /** Hosts it may be placed on. */
  host?: readonly string[];
  /** Labels its host must have. */
  host_labels?: Record<string, string>;
}

/** Builds a validated-looking {@link Workflow} without going through the parser. */
export function makeWorkflow(nodes: readonly NodeSpec[], name = 'wf'): Workflow {
  return {
    name,
    nodes: nodes.map(
      (n, index): WorkflowNode => ({
        id: n.id,
        index,
        command: n.command ?? ['true'],
        shell: typeof n.command === 'string' ? DEFAULT_SHELL : null,
        function: null,
        code_version: null,
        needs: n.needs ?? [],
        n_procs: n.n_procs ?? 1,
        mem_gb: n.mem_gb ?? 0.25,
        resources: n.resources ?? {},
        ...(n.host !== undefined ? { host: n.host } : {}),
        ...(n.host_labels !== undefined ? { host_labels: n.host_labels } : {}),
        env: {},
        timeout_s: null,
        retries: n.retries ?? 0,
        retry_delay_s: 0,
        inputs: {},
        outputs: {},
        stdout_json: false,
        overwrite: false,
        map: null,
        dir: n.id,
      }),
    ),
  };
}

/** A clock the test moves by hand. */
export class FakeClock {
  constructor(public now = 1_000) {}
  readonly read = (): number => this.now;
  advance(ms: number): number {
    this.now += ms;
    return this.now;
  }
}

/** A worker outcome; ok unless `exit_code` says otherwise. */
export function outcome(over: Partial<NodeOutcome> = {}): NodeOutcome {
  const exit = over.exit_code === undefined ? 0 : over.exit_code;
  return {
    ok: exit === 0,
    exit_code: exit,
    signal: null,
    start_ms: 10,
    end_ms: 20,
    worker: 'host:1',
    failure: exit === 0 ? null : 'exit',
    cpu_s: null,
    peak_rss_mb: null,
    host: 'host',
    pid: 4242,
    reason: exit === 0 ? null : `exit code ${String(exit)}`,
    stderr_tail: '',
    stdout_path: '/tmp/x/stdout.log',
    stderr_path: '/tmp/x/stderr.log',
    ...over,
  };
}

/** Deterministic PRNG (mulberry32): the same seed gives the same workload. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `fn`, expects it to throw an instance of `type`, and returns the error. */
export function catchError<T extends Error>(fn: () => unknown, type: abstract new (...args: never[]) => T): T {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected the call to throw').toBeInstanceOf(type);
  return caught as T;
}
