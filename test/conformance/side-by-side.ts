/**
 * Runs one small case on flowgate (the built CLI, real Redis, real workers)
 * and on nipype 1.8.5 (Debian's python3-nipype, MultiProc, through
 * nipype_runner.py), so a test can compare what each one observably did.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

/** The Python that has Debian's nipype (not a pyenv one on PATH). */
export const PYTHON = process.env['FLOWGATE_NIPYPE_PYTHON'] ?? '/usr/bin/python3';

/** Why the nipype half of a case is skipped. */
export const NIPYPE_MISSING = `python3-nipype is not installed (${PYTHON} cannot import nipype): nipype side skipped`;

let available: boolean | undefined;
/** Whether nipype can be imported (checked once). */
export function nipypeAvailable(): boolean {
  available ??= existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import nipype'], { stdio: 'ignore' }).status === 0;
  return available;
}

/** One node of a case, in terms both systems understand. */
export interface CaseNode {
  id: string;
  needs?: string[];
  mem_gb?: number;
  n_procs?: number;
  iterables?: Record<string, Array<string | number>>;
  synchronize?: boolean;
  /** Map over the output `out` of these predecessors (each becomes input `in_<p>`). */
  map_over?: string[];
  /** JSON value the node outputs as `out` (its successors get it as `in_<id>`). */
  value?: unknown;
  /** The node outputs as `out` its input of this name (an iterable field or `in_<parent>`); flowgate runs it as a function node. */
  echo?: string;
  /** With `echo`: the output is `{v: <input>}`. */
  wrap?: boolean;
  /** JoinNode: `fields` are input names (`in_<parent>`). */
  join?: { source: string; fields: string[]; unique?: boolean };
  /** With `map_over`: nipype's MapNode(nested=True). */
  nested?: boolean;
  fail?: boolean;
  /** nipype's node `config` (its `execution` section) / flowgate's node `config`. */
  config?: { crashdump_dir?: string; stop_on_first_crash?: boolean; hash_method?: 'timestamp' | 'content' };
}

/** A case: nodes plus the plugin arguments of both runs. */
export interface Case {
  nodes: CaseNode[];
  n_procs: number;
  memory_gb: number;
  raise_insufficient?: boolean;
  scheduler?: 'tsort' | 'mem_thread';
  /** nipype's `crashfile_format` / flowgate's `--crashfile-format`. */
  crashfile_format?: 'txt' | 'json' | 'both';
  /** nipype only: the status callback raises on this node's first event. */
  callback_raises_on?: string;
  /** Nodes (not copies) whose output `out` nipype reports (`NipypeResult.outputs`). */
  report?: string[];
}

/** What nipype did. */
export interface NipypeResult {
  starts: string[];
  events: Array<[string, string]>;
  error: string | null;
  /** Node directories (relative to the workflow's) that hold a result file. */
  dirs: string[];
  crashfiles: string[];
  crashdump_dir: string;
  warnings: string[];
  /** Output `out` of each node in the case's `report`. */
  outputs: Record<string, unknown>;
}

/** Runs a case on nipype. */
export function runNipype(c: Case, name = 'wf'): NipypeResult {
  const base = tempDir('nipype');
  const crashdump = join(base, 'crash');
  const nodes = c.nodes.map((n) => ({ ...n, ...(n.map_over !== undefined ? { map_over: n.map_over.map((p) => `in_${p}`) } : {}) }));
  const spec = {
    name,
    base_dir: base,
    crashdump_dir: crashdump,
    plugin_args: { n_procs: c.n_procs, memory_gb: c.memory_gb, ...(c.raise_insufficient !== undefined ? { raise_insufficient: c.raise_insufficient } : {}), ...(c.scheduler !== undefined ? { scheduler: c.scheduler } : {}) },
    config: c.crashfile_format === 'txt' ? { crashfile_format: 'txt' } : {},
    callback_raises_on: c.callback_raises_on ?? null,
    report: c.report ?? [],
    nodes,
  };
  const p = spawnSync(PYTHON, [join(import.meta.dirname, 'nipype_runner.py')], { input: JSON.stringify(spec), encoding: 'utf8', timeout: 50_000 });
  const last = p.stdout.trim().split('\n').pop() ?? '';
  if (p.status !== 0 || !last.startsWith('{')) throw new Error(`nipype runner failed (${String(p.status)}): ${p.stderr.slice(-2000)}`);
  return { ...(JSON.parse(last) as Omit<NipypeResult, 'crashdump_dir'>), crashdump_dir: crashdump };
}

/** The same case as a flowgate workflow. */
export function toFlowgate(c: Case, name = 'wf'): object {
  const byId = new Map(c.nodes.map((n) => [n.id, n]));
  return {
    name,
    nodes: c.nodes.map((n) => {
      const inputs: Record<string, unknown> = {};
      const needs: string[] = [];
      for (const p of n.needs ?? []) {
        const parent = byId.get(p);
        if (parent?.value !== undefined || parent?.echo !== undefined) inputs[`in_${p}`] = { from: `${p}.out` };
        else needs.push(p);
      }
      return {
        id: n.id,
        ...(n.value !== undefined
          ? { command: ['printf', '%s', JSON.stringify({ out: n.value })], stdout_json: true }
          : n.echo !== undefined
            ? { function: { module: `./${ECHO_MODULE}`, export: echoExport(n) } }
            : { command: [n.fail === true ? 'false' : 'true'] }),
        ...(needs.length > 0 ? { needs } : {}),
        ...(Object.keys(inputs).length > 0 ? { inputs } : {}),
        ...(n.mem_gb !== undefined ? { mem_gb: n.mem_gb } : {}),
        ...(n.n_procs !== undefined ? { n_procs: n.n_procs } : {}),
        ...(n.iterables !== undefined ? { iterables: n.iterables } : {}),
        ...(n.synchronize !== undefined ? { synchronize: n.synchronize } : {}),
        ...(n.map_over !== undefined ? { map: { over: n.map_over.map((p) => `in_${p}`), ...(n.nested !== undefined ? { nested: n.nested } : {}) } } : {}),
        ...(n.join !== undefined ? { join: n.join } : {}),
        ...(n.config !== undefined ? { config: n.config } : {}),
      };
    }),
  };
}

/** The module of the case's `echo` nodes, written next to the workflow. */
const ECHO_MODULE = 'echo.mjs';
const echoExport = (n: CaseNode): string => `${n.wrap === true ? 'wrap' : 'echo'}_${n.echo ?? ''}`;

/** The functions of a case's `echo` nodes: each returns one of its inputs as `out`. */
function echoModule(c: Case): string {
  const exports = new Set(c.nodes.filter((n) => n.echo !== undefined).map(echoExport));
  return [...exports]
    .map((name) => {
      const field = JSON.stringify(name.slice(name.indexOf('_') + 1));
      return `export function ${name}(inputs) { return { out: ${name.startsWith('wrap') ? `{ v: inputs[${field}] }` : `inputs[${field}]`} }; }\n`;
    })
    .join('');
}

/** What flowgate did. */
export interface FlowgateResult {
  code: number | null;
  stderr: string;
  summary: RunSummary;
  /** Node directories relative to the workflow's. */
  dirs: string[];
  crashdump_dir: string;
  crashfiles: string[];
}

/** Runs a case with `flowgate run` (its own prefix, removed afterwards). */
export async function runFlowgate(c: Case, extra: string[] = [], name = 'wf'): Promise<FlowgateResult> {
  const dir = tempDir('conform');
  const file = writeWorkflow(dir, 'wf.json', toFlowgate(c, name));
  if (c.nodes.some((n) => n.echo !== undefined)) writeFileSync(join(dir, ECHO_MODULE), echoModule(c));
  const prefix = uniquePrefix('conform');
  const work = join(dir, 'work');
  const crashdump = join(dir, 'crash');
  try {
    const args = ['run', file, '--json', '--quiet', '--n-procs', String(c.n_procs), '--memory-gb', String(c.memory_gb), '--workers', '1', '--work-dir', work, '--crashdump-dir', crashdump, '--prefix', prefix, '--redis-url', redisUrl()];
    if (c.raise_insufficient === false) args.push('--no-raise-insufficient');
    if (c.scheduler !== undefined) args.push('--scheduler', c.scheduler);
    if (c.crashfile_format !== undefined) args.push('--crashfile-format', c.crashfile_format);
    const r = await runCli([...args, ...extra]);
    if (!r.stdout.trim().startsWith('{')) throw new Error(`flowgate run exited ${String(r.code)}: ${r.stderr.slice(-2000)}`);
    const summary = JSON.parse(r.stdout) as RunSummary;
    const root = join(work, name);
    return {
      code: r.code,
      stderr: r.stderr,
      summary,
      dirs: summary.nodes.filter((n) => ranOnWorker(n)).map((n) => relative(root, n.node_dir)).sort(),
      crashdump_dir: crashdump,
      crashfiles: existsSync(crashdump) ? readdirSync(crashdump).sort() : [],
    };
  } finally {
    await deletePrefix(prefix);
  }
}

/** A worker ran the node (a node refused for its inputs fails in the scheduler, `worker: 'scheduler'`). */
function ranOnWorker(n: RunSummary['nodes'][number]): boolean {
  return n.start_ms !== null && n.worker !== null && n.worker !== 'scheduler';
}

/**
 * Ids of the nodes a worker ran, in the order they started (map nodes
 * themselves run nothing; a node refused for its inputs has a start time but no worker).
 */
export function startOrder(s: RunSummary): string[] {
  return s.nodes
    .filter((n) => ranOnWorker(n))
    .sort((a, b) => (a.start_ms ?? 0) - (b.start_ms ?? 0) || (a.end_ms ?? 0) - (b.end_ms ?? 0))
    .map((n) => n.id);
}

/** The most nodes holding resources at once (flowgate: admitted → released). */
export function maxHeld(s: RunSummary): number {
  const spans = s.nodes.filter((n) => n.admitted_ms !== null && n.released_ms !== null).map((n) => [n.admitted_ms as number, n.released_ms as number] as const);
  return Math.max(0, ...spans.map(([a]) => spans.filter(([a2, r2]) => a2 <= a && a < r2).length));
}

/** The most nipype nodes between their `start` and their end (`end` or `exception`) at once. */
export function maxRunning(events: ReadonlyArray<readonly [string, string]>): number {
  let now = 0;
  let most = 0;
  for (const [, status] of events) {
    if (status === 'start') most = Math.max(most, ++now);
    else if (status === 'end' || status === 'exception') now--;
  }
  return most;
}
