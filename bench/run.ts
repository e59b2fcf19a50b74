/**
 * Benchmark runner: runs the BUILT `flowgate run` CLI on benchmark workloads
 * and reports one JSON line per workflow on stdout, then a table on stderr.
 *
 *   npx tsx bench/run.ts [DIR-or-files...] [--workers N] [--repeat N]
 *                        [--scheduler tsort|mem_thread] [--only name,name] [--timeout-s S]
 *                        [--spawner auto|launcher|node] [--work-root DIR] [--ceiling]
 *                        [--peers nipype-multiproc,nipype-legacy,snakemake] [--peer-poll S]
 *   npm run bench -- [same arguments]          (builds first)
 *
 * A workload is `X.json` (a workflow) with `X.meta.json` alongside giving
 * `n_procs`, `memory_gb` (the budget) and `lower_bound_s`. DIR defaults to
 * ../shared/workloads next to the repository. Each run is a child process
 *
 *   node dist/cli/main.js run X.json --json --quiet --n-procs N --memory-gb G
 *        --prefix <unique> --work-dir <temp dir> [--workers N] [--scheduler S] [--spawner S]
 *
 * with REDIS_URL from the environment (default redis://127.0.0.1:6379). After
 * each run every Redis key under the unique prefix is deleted (SCAN + DEL).
 * With --repeat N the median run (by run_wall_s) is reported, with every run's
 * wall time in `run_wall_s_all`.
 *
 * Every run's work dir (and every peer's) is made under one directory in
 * --work-root (default: the OS temp dir), which is removed when the bench
 * ends, not after each run: on ext4 without a journal (this project's VMs),
 * creating a file is up to 20x slower for minutes after many files were
 * deleted, so removing one run's files would slow the next run down. How long
 * creating a file takes there is measured at the start and reported as
 * `fs_create_us` in every line. With --ceiling, how fast the machine starts
 * `true` processes through the launcher is measured there first
 * (`spawn_ceiling_per_s`), and each line gives its nodes/s as a share of it
 * (`of_spawn_ceiling`): the rates of two days compare through that share.
 *
 * With --peers, after flowgate's run(s) of a workflow each listed peer runs it
 * once with the same budget, in its own dir under the same root, through
 * /usr/bin/python3 (Debian's, which has nipype and snakemake):
 *
 *   nipype-multiproc  bench/peers/nipype_run.py --plugin MultiProc --poll S (--peer-poll, default 0.01)
 *   nipype-legacy     bench/peers/nipype_run.py --plugin LegacyMultiProc --poll S
 *   snakemake         bench/peers/snakemake_run.py (/usr/bin/snakemake --cores N --resources mem_mb=G*1024)
 *
 * The workflow's JSON line then also has `peers` ({name: {wall_s, status, ...}};
 * nipype's wall_s is wf.run alone, Snakemake's its whole process incl. the DAG
 * build), `best_peer` and `speedup_vs_best_peer` = fastest successful peer's
 * wall_s / flowgate's process_wall_s (spawn -> exit of the CLI, so flowgate's
 * start-up counts and nipype's does not). A peer's failure or timeout is
 * reported in its entry and does not change the exit status.
 *
 * Exit status: 0 when every run succeeded within its budget, 1 otherwise,
 * 2 for bad arguments or workloads, 130 when interrupted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { RunSummary } from '../src/scheduler/summary.js';
import { deletePrefix } from './redis-keys.js';
import { Launcher, LAUNCHER_PATH } from '../src/worker/launcher.js';
import { spawnRate } from './spawn-rate.js';
import {
  criticalPathMs,
  hopLatencies,
  medianIndex,
  peakDeclared,
  perNodeOverheadMs,
  speedupVsBestPeer,
  stats,
  withinBudget,
  type Peak,
  type PeerResult,
  type Predecessors,
  type Stats,
} from './metrics.js';

const REPO_ROOT = resolve(import.meta.dirname, '..');
const CLI = join(REPO_ROOT, 'dist/cli/main.js');
const DEFAULT_DIR = resolve(import.meta.dirname, '../../shared/workloads');
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const SCHEDULERS = ['tsort', 'mem_thread'] as const;
const PEERS = ['nipype-multiproc', 'nipype-legacy', 'snakemake'] as const;
type PeerName = (typeof PEERS)[number];
/** Debian's Python, which has python3-nipype and snakemake (not a pyenv `python3` on PATH). */
const PEER_PYTHON = '/usr/bin/python3';
const PEERS_DIR = join(REPO_ROOT, 'bench/peers');

class UsageError extends Error {}

// ---------------------------------------------------------------- arguments

interface Options {
  targets: string[];
  workers: number | undefined;
  spawner: string | undefined;
  repeat: number;
  scheduler: (typeof SCHEDULERS)[number] | undefined;
  only: string[] | undefined;
  timeoutS: number;
  redisUrl: string;
  peers: PeerName[];
  peerPoll: number;
  workRoot: string;
  /** Measure the machine's spawn ceiling first, and each workload's nodes/s against it. */
  ceiling: boolean;
}

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} must be a whole number >= 1, received "${value}"`);
  return n;
}

function parseOptions(argv: string[]): Options | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        workers: { type: 'string' },
        spawner: { type: 'string' },
        repeat: { type: 'string' },
        scheduler: { type: 'string' },
        only: { type: 'string' },
        'timeout-s': { type: 'string' },
        peers: { type: 'string' },
        'peer-poll': { type: 'string' },
        'work-root': { type: 'string' },
        ceiling: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const v = parsed.values;
  if (v.help === true) return 'help';
  const scheduler = v.scheduler;
  if (scheduler !== undefined && !(SCHEDULERS as readonly string[]).includes(scheduler)) {
    throw new UsageError(`--scheduler must be one of ${SCHEDULERS.join(', ')}, received "${scheduler}"`);
  }
  const spawner = v.spawner;
  if (spawner !== undefined && !['auto', 'launcher', 'node'].includes(spawner)) {
    throw new UsageError(`--spawner must be one of auto, launcher, node, received "${spawner}"`);
  }
  const only = v.only
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const peers: PeerName[] = [];
  for (const name of (v.peers ?? '').split(',').map((s) => s.trim())) {
    if (name === '') continue;
    if (!(PEERS as readonly string[]).includes(name)) throw new UsageError(`--peers: unknown peer "${name}" (known: ${PEERS.join(', ')})`);
    if (!peers.includes(name as PeerName)) peers.push(name as PeerName);
  }
  if (v.peers !== undefined && peers.length === 0) throw new UsageError(`--peers needs a comma list of ${PEERS.join(', ')}`);
  const peerPoll = v['peer-poll'] === undefined ? 0.01 : Number(v['peer-poll']);
  if (v['peer-poll'] !== undefined && (v['peer-poll'].trim() === '' || !Number.isFinite(peerPoll) || !(peerPoll > 0))) {
    throw new UsageError(`--peer-poll must be a number of seconds > 0, received "${v['peer-poll']}"`);
  }
  const workRoot = resolve(v['work-root'] ?? tmpdir());
  if (!existsSync(workRoot) || !statSync(workRoot).isDirectory()) throw new UsageError(`--work-root: "${workRoot}" is not a directory`);
  const redisUrl = process.env['REDIS_URL'] !== undefined && process.env['REDIS_URL'] !== '' ? process.env['REDIS_URL'] : DEFAULT_REDIS_URL;
  return {
    targets: parsed.positionals.length > 0 ? parsed.positionals.map((p) => resolve(p)) : [DEFAULT_DIR],
    workers: positiveInt('workers', v.workers),
    spawner,
    repeat: positiveInt('repeat', v.repeat) ?? 1,
    scheduler: scheduler as Options['scheduler'],
    only: only !== undefined && only.length > 0 ? only : undefined,
    timeoutS: positiveInt('timeout-s', v['timeout-s']) ?? 600,
    redisUrl,
    peers,
    peerPoll,
    workRoot,
    ceiling: v.ceiling === true,
  };
}

const USAGE = `usage: npx tsx bench/run.ts [DIR-or-files...] [--workers N] [--repeat N]
                           [--scheduler tsort|mem_thread] [--only name,name] [--timeout-s S]
                           [--spawner auto|launcher|node] [--work-root DIR] [--ceiling]
                           [--peers ${PEERS.join(',')}] [--peer-poll S]
DIR defaults to ${DEFAULT_DIR}; each X.json needs X.meta.json alongside.
--work-root is where the runs' work dirs go (default: the OS temp dir); they are removed at the end.
--ceiling first measures how fast this machine starts 2,000 \`true\` processes through the
launcher, 8 at a time (bench/spawn-ceiling.ts), and gives each workload's nodes/s as a share of it.
--peers also runs each workflow once with those peers (via ${PEER_PYTHON}, same budget);
--peer-poll is nipype's poll_sleep_duration in seconds (default 0.01).`;

// ---------------------------------------------------------------- workloads

interface Meta {
  n_procs: number;
  memory_gb: number;
  lower_bound_s: number;
}

interface Workload {
  name: string;
  file: string;
  meta: Meta;
  nodes: number;
  preds: Predecessors;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err) {
    throw new UsageError(`${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readMeta(path: string): Meta {
  const raw = readJson(path);
  if (!isRecord(raw)) throw new UsageError(`${path}: expected a JSON object`);
  const { n_procs: nProcs, memory_gb: memoryGb, lower_bound_s: lb } = raw;
  if (typeof nProcs !== 'number' || !Number.isInteger(nProcs) || nProcs < 1) throw new UsageError(`${path}: n_procs must be a whole number >= 1`);
  if (typeof memoryGb !== 'number' || !(memoryGb > 0)) throw new UsageError(`${path}: memory_gb must be a number > 0`);
  if (typeof lb !== 'number' || !(lb >= 0)) throw new UsageError(`${path}: lower_bound_s must be a number >= 0`);
  return { n_procs: nProcs, memory_gb: memoryGb, lower_bound_s: lb };
}

/** The dependency edges of a workflow file (`nodes[].id`, `nodes[].needs`). */
function readGraph(path: string): { nodes: number; preds: Map<string, string[]> } {
  const raw = readJson(path);
  if (!isRecord(raw) || !Array.isArray(raw['nodes'])) throw new UsageError(`${path}: expected a workflow with a "nodes" array`);
  const preds = new Map<string, string[]>();
  for (const n of raw['nodes'] as unknown[]) {
    if (!isRecord(n) || typeof n['id'] !== 'string') throw new UsageError(`${path}: every node needs a string "id"`);
    const needs = n['needs'];
    preds.set(n['id'], Array.isArray(needs) ? needs.filter((x): x is string => typeof x === 'string') : []);
  }
  return { nodes: raw['nodes'].length, preds };
}

function metaPathFor(file: string): string {
  return file.replace(/\.json$/, '.meta.json');
}

function findWorkloads(targets: readonly string[], only: readonly string[] | undefined): Workload[] {
  const files: string[] = [];
  for (const target of targets) {
    if (!existsSync(target)) throw new UsageError(`${target}: no such file or directory`);
    if (statSync(target).isDirectory()) {
      for (const entry of readdirSync(target).sort()) {
        if (entry.endsWith('.json') && !entry.endsWith('.meta.json') && existsSync(join(target, metaPathFor(entry)))) files.push(join(target, entry));
      }
    } else {
      if (!target.endsWith('.json') || target.endsWith('.meta.json')) throw new UsageError(`${target}: expected a workflow X.json`);
      if (!existsSync(metaPathFor(target))) throw new UsageError(`${target}: missing ${basename(metaPathFor(target))} alongside`);
      files.push(target);
    }
  }
  let workloads = files.map((file): Workload => {
    const graph = readGraph(file);
    return { name: basename(file, '.json'), file, meta: readMeta(metaPathFor(file)), nodes: graph.nodes, preds: graph.preds };
  });
  if (only !== undefined) {
    const missing = only.filter((name) => !workloads.some((w) => w.name === name));
    if (missing.length > 0) throw new UsageError(`--only: no workload named ${missing.join(', ')} in ${targets.join(', ')}`);
    workloads = workloads.filter((w) => only.includes(w.name));
  }
  if (workloads.length === 0) throw new UsageError(`no workloads (X.json with X.meta.json) in ${targets.join(', ')}`);
  return workloads;
}

// ---------------------------------------------------------------- one run

interface RunOutcome {
  exitCode: number | null;
  signal: string | null;
  processWallS: number;
  summary: RunSummary | null;
  error: string | null;
  keysDeleted: number;
}

let interrupted = false;

function parseSummary(stdout: string): RunSummary | null {
  const line = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('{'))
    .pop();
  if (line === undefined) return null;
  try {
    const s = JSON.parse(line) as unknown;
    if (!isRecord(s) || typeof s['status'] !== 'string' || typeof s['wall_s'] !== 'number' || !Array.isArray(s['nodes'])) return null;
    return s as unknown as RunSummary;
  } catch {
    return null;
  }
}

function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}


// ---------------------------------------------------------------- work dirs

let root: string | undefined;

/** The directory every run's and peer's work dir is made in; removed by {@link removeBenchRoot}. */
function benchRoot(): string {
  if (root === undefined) throw new Error('bench root not created');
  return root;
}

/** How long creating an empty file takes under `dir`, in microseconds (median of 200). */
function probeFileCreation(dir: string): number {
  const probe = join(dir, 'fs-probe');
  mkdirSync(probe);
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    closeSync(openSync(join(probe, `f${i}`), 'w'));
    times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[times.length >> 1] ?? 0);
}

function removeBenchRoot(): void {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  root = undefined;
}

async function runOnce(w: Workload, opts: Options, prefix: string): Promise<RunOutcome> {
  const workDir = mkdtempSync(join(benchRoot(), `${w.name}-`));
  const args = [
    CLI,
    'run',
    w.file,
    '--json',
    '--quiet',
    '--n-procs',
    String(w.meta.n_procs),
    '--memory-gb',
    String(w.meta.memory_gb),
    '--prefix',
    prefix,
    '--work-dir',
    workDir,
    ...(opts.workers !== undefined ? ['--workers', String(opts.workers)] : []),
    ...(opts.scheduler !== undefined ? ['--scheduler', opts.scheduler] : []),
    ...(opts.spawner !== undefined ? ['--spawner', opts.spawner] : []),
  ];
  const t0 = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, REDIS_URL: opts.redisUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let exitedAt = NaN;
  child.on('exit', () => (exitedAt = performance.now()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, opts.timeoutS * 1000);
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((done, fail) => {
    child.on('error', fail);
    child.on('close', (c, s) => done({ code: c, signal: s }));
  }).finally(() => clearTimeout(timer));
  // spawn -> exit of the CLI process (not -> stdio closed).
  const processWallS = ((Number.isNaN(exitedAt) ? performance.now() : exitedAt) - t0) / 1000;
  const summary = parseSummary(stdout);
  let error: string | null = null;
  if (timedOut) error = `timed out after ${opts.timeoutS} s`;
  else if (summary === null) error = `no JSON summary (exit ${code ?? signal ?? '?'}): ${tail(stderr) || tail(stdout)}`;
  else if (code !== 0) error = `exit ${code ?? signal ?? '?'}${stderr.trim() === '' ? '' : `: ${tail(stderr)}`}`;
  return { exitCode: code, signal, processWallS, summary, error, keysDeleted: 0 };
}

/** One run with a fresh prefix; the prefix's keys are deleted afterwards whatever happened. */
async function runAndClean(w: Workload, opts: Options, redis: Redis): Promise<RunOutcome> {
  const prefix = `fgbench-${randomBytes(6).toString('hex')}`;
  let outcome: RunOutcome | undefined;
  try {
    outcome = await runOnce(w, opts, prefix);
    return outcome;
  } finally {
    try {
      const n = await deletePrefix(redis, prefix);
      if (outcome !== undefined) outcome.keysDeleted = n;
    } catch (err) {
      process.stderr.write(`bench: could not clean Redis prefix ${prefix}: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

// ---------------------------------------------------------------- peers

/** A peer's entry in the `peers` field of a workflow's JSON line. */
interface PeerEntry extends PeerResult {
  /** The peer runner script's process, spawn -> exit (includes Python start-up and imports). */
  process_wall_s: number;
  /** nipype only: its import + graph build + wf.run. */
  total_s?: number;
  exit_code: number | null;
  error?: string;
}

/** The peer process running now (its own process group), to stop on a signal. */
let currentPeer: ChildProcess | null = null;

/** Signals a peer's whole process group (its pool workers and node processes too). */
function killPeer(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function peerArgs(peer: PeerName, w: Workload, opts: Options, dir: string): string[] {
  const budget = { procs: String(w.meta.n_procs), gb: String(w.meta.memory_gb) };
  switch (peer) {
    case 'nipype-multiproc':
    case 'nipype-legacy':
      return [
        join(PEERS_DIR, 'nipype_run.py'),
        w.file,
        '--plugin',
        peer === 'nipype-multiproc' ? 'MultiProc' : 'LegacyMultiProc',
        '--n-procs',
        budget.procs,
        '--memory-gb',
        budget.gb,
        '--poll',
        String(opts.peerPoll),
        '--base-dir',
        dir,
      ];
    case 'snakemake':
      return [join(PEERS_DIR, 'snakemake_run.py'), w.file, '--cores', budget.procs, '--mem-gb', budget.gb, '--dir', dir];
  }
}

/** Runs one peer on a workflow in a fresh temp dir (removed afterwards); never throws for a peer failure. */
async function runPeer(peer: PeerName, w: Workload, opts: Options): Promise<PeerEntry> {
  const dir = mkdtempSync(join(benchRoot(), `${w.name}-${peer}-`));
  const t0 = performance.now();
  // Own process group (detached), so a timeout or interrupt can stop its workers too.
  const child = spawn(PEER_PYTHON, peerArgs(peer, w, opts, dir), { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  currentPeer = child;
  let stdout = '';
  let stderr = ''; // only its tail is kept: nipype logs several lines per node
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-65536)));
  let exitedAt = NaN;
  child.on('exit', () => (exitedAt = performance.now()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killPeer(child, 'SIGTERM');
    setTimeout(() => killPeer(child, 'SIGKILL'), 10_000).unref();
  }, opts.timeoutS * 1000);
  let code: number | null = null;
  let signal: string | null = null;
  let spawnError: string | null = null;
  try {
    ({ code, signal } = await new Promise<{ code: number | null; signal: string | null }>((done, fail) => {
      child.on('error', fail);
      child.on('close', (c, s) => done({ code: c, signal: s }));
    }));
  } catch (err) {
    spawnError = err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
    currentPeer = null;
  }
  const processWallS = ((Number.isNaN(exitedAt) ? performance.now() : exitedAt) - t0) / 1000;
  const line = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('{'))
    .pop();
  let report: Record<string, unknown> | null = null;
  try {
    const parsed = line === undefined ? null : (JSON.parse(line) as unknown);
    if (isRecord(parsed)) report = parsed;
  } catch {
    report = null;
  }
  const wall = report !== null && typeof report['wall_s'] === 'number' ? report['wall_s'] : null;
  const reported = report !== null && typeof report['status'] === 'string' ? report['status'] : null;
  const stopped = interrupted && reported === null;
  const status = timedOut ? 'timeout' : stopped ? 'interrupted' : (reported ?? 'error');
  const entry: PeerEntry = { wall_s: timedOut || stopped ? null : wall, status, process_wall_s: round(processWallS, 3) ?? processWallS, exit_code: code };
  if (report !== null && typeof report['total_s'] === 'number') entry.total_s = report['total_s'];
  if (timedOut) entry.error = `timed out after ${opts.timeoutS} s`;
  else if (stopped) entry.error = `interrupted (${signal ?? `exit ${code ?? '?'}`})`;
  else if (spawnError !== null) entry.error = `could not start ${PEER_PYTHON}: ${spawnError}`;
  else if (status !== 'succeeded') {
    const reason = report !== null && typeof report['error'] === 'string' ? report['error'] : tail(stderr) || tail(stdout);
    entry.error = `${report === null ? 'no JSON result' : status} (${signal ?? `exit ${code ?? '?'}`})${reason === '' ? '' : `: ${reason}`}`;
  }
  return entry;
}

// ---------------------------------------------------------------- metrics of a run

interface RunMetrics {
  outcome: RunOutcome;
  status: string;
  ok: boolean;
  runWallS: number | null;
  hop: Stats;
  criticalPathS: number | null;
  overheadMs: number | null;
  peak: Peak | null;
  budgetRespected: boolean | null;
}

function measure(w: Workload, outcome: RunOutcome): RunMetrics {
  const s = outcome.summary;
  if (s === null) {
    return { outcome, status: 'error', ok: false, runWallS: null, hop: stats([]), criticalPathS: null, overheadMs: null, peak: null, budgetRespected: null };
  }
  const cp = criticalPathMs(s.nodes, w.preds);
  const peak = peakDeclared(s.nodes);
  const budgetRespected = withinBudget(peak, w.meta);
  return {
    outcome,
    status: s.status,
    ok: s.status === 'succeeded' && outcome.exitCode === 0 && outcome.error === null,
    runWallS: s.wall_s,
    hop: stats(hopLatencies(s.nodes, w.preds)),
    criticalPathS: cp / 1000,
    overheadMs: perNodeOverheadMs(s.wall_s, w.meta.lower_bound_s, cp, w.nodes),
    peak,
    budgetRespected,
  };
}

function round(x: number | null, digits: number): number | null {
  if (x === null || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The JSON line of a workflow: its median run, plus every run's wall time and status. */
function reportLine(w: Workload, opts: Options, runs: readonly RunMetrics[]): Record<string, unknown> {
  const m = runs[medianIndex(runs, (r) => r.runWallS ?? Infinity)] as RunMetrics;
  const lb = w.meta.lower_bound_s;
  const wall = m.runWallS;
  return {
    workflow: w.name,
    file: w.file,
    nodes: w.nodes,
    budget: { n_procs: w.meta.n_procs, memory_gb: w.meta.memory_gb },
    scheduler: m.outcome.summary?.scheduler ?? opts.scheduler ?? 'tsort',
    workers: opts.workers ?? 'default',
    spawner: opts.spawner ?? 'auto',
    status: m.status,
    exit_code: m.outcome.exitCode,
    process_wall_s: round(m.outcome.processWallS, 3),
    run_wall_s: wall,
    lower_bound_s: lb,
    ratio_to_lower_bound: wall !== null && lb > 0 ? round(wall / lb, 3) : null,
    nodes_per_s: wall !== null && wall > 0 ? round(w.nodes / wall, 1) : null,
    hop_latency_ms: { n: m.hop.n, p50: round(m.hop.p50, 2), p95: round(m.hop.p95, 2), mean: round(m.hop.mean, 2), max: m.hop.max },
    critical_path_s: m.criticalPathS,
    per_node_overhead_ms: round(m.overheadMs, 3),
    peak_declared: m.peak === null ? null : { n_procs: m.peak.n_procs, mem_gb: m.peak.mem_gb, concurrent: m.peak.concurrent },
    budget_respected: m.budgetRespected,
    counts: m.outcome.summary?.counts ?? null,
    redis_keys_deleted: m.outcome.keysDeleted,
    repeat: runs.length,
    run_wall_s_all: runs.map((r) => r.runWallS),
    process_wall_s_all: runs.map((r) => round(r.outcome.processWallS, 3)),
    statuses_all: runs.map((r) => r.status),
    all_ok: runs.every((r) => r.ok && r.budgetRespected === true),
    ...(runs.some((r) => r.outcome.error !== null) ? { errors: runs.map((r) => r.outcome.error).filter((e) => e !== null) } : {}),
  };
}

// ---------------------------------------------------------------- table

function fmt(x: unknown, digits = 2): string {
  if (x === null || x === undefined) return '-';
  if (typeof x === 'number') return Number.isInteger(x) ? String(x) : x.toFixed(digits);
  if (typeof x === 'boolean') return x ? 'yes' : 'NO';
  return String(x);
}

function table(lines: ReadonlyArray<Record<string, unknown>>): string {
  const header = ['workflow', 'nodes', 'status', 'run s', 'proc s', 'LB s', 'xLB', 'nodes/s', 'hop p50', 'hop p95', 'ovh ms/node', 'peak procs', 'peak GB', 'in budget'];
  // With --peers: one column per peer (its wall s, or its status when it did not succeed) and the speedup.
  const peerNames = [...new Set(lines.flatMap((l) => (isRecord(l['peers']) ? Object.keys(l['peers']) : [])))];
  if (peerNames.length > 0) header.push(...peerNames.map((p) => `${p} s`), 'x best peer');
  const rows = lines.map((l) => {
    const hop = l['hop_latency_ms'] as { p50: number | null; p95: number | null };
    const peak = l['peak_declared'] as { n_procs: number; mem_gb: number } | null;
    const budget = l['budget'] as { n_procs: number; memory_gb: number };
    const runs = l['repeat'] as number;
    return [
      fmt(l['workflow']),
      fmt(l['nodes']),
      fmt(l['status']) + (runs > 1 ? ` (median of ${runs})` : ''),
      fmt(l['run_wall_s'], 3),
      fmt(l['process_wall_s'], 3),
      fmt(l['lower_bound_s'], 3),
      fmt(l['ratio_to_lower_bound'], 3),
      fmt(l['nodes_per_s'], 1),
      fmt(hop.p50),
      fmt(hop.p95),
      fmt(l['per_node_overhead_ms']),
      peak === null ? '-' : `${peak.n_procs}/${budget.n_procs}`,
      peak === null ? '-' : `${fmt(peak.mem_gb)}/${fmt(budget.memory_gb)}`,
      fmt(l['budget_respected']),
      ...peerCells(l, peerNames),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const render = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const notes = ['(hop = dispatch latency per dependency hop, ms; ovh = wall time beyond max(LB, actual critical path), per node)'];
  if (peerNames.length > 0) notes.push('(peer s = the peer\'s wall time, one run; x best peer = fastest successful peer s / flowgate proc s)');
  return [render(header), widths.map((n) => '-'.repeat(n)).join('  '), ...rows.map(render), ...notes].join('\n');
}

function peerCells(l: Record<string, unknown>, peerNames: readonly string[]): string[] {
  if (peerNames.length === 0) return [];
  const peers = isRecord(l['peers']) ? l['peers'] : {};
  return [
    ...peerNames.map((name) => {
      const p = peers[name];
      if (!isRecord(p)) return '-';
      return p['status'] === 'succeeded' ? fmt(p['wall_s'], 3) : fmt(p['status']);
    }),
    fmt(l['speedup_vs_best_peer']),
  ];
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  let opts: Options | 'help';
  let workloads: Workload[];
  try {
    opts = parseOptions(process.argv.slice(2));
    if (opts === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    workloads = findWorkloads(opts.targets, opts.only);
    if (!existsSync(CLI)) throw new UsageError(`${CLI} not found: run \`npm run build\` first`);
    if (opts.peers.length > 0 && !existsSync(PEER_PYTHON)) throw new UsageError(`--peers: ${PEER_PYTHON} not found (the peers need Debian's python3-nipype and snakemake)`);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }

  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupts++;
    // A peer runs in its own process group: stop it (and its workers) ourselves.
    if (currentPeer !== null) killPeer(currentPeer, interrupts > 1 ? 'SIGKILL' : 'SIGTERM');
    if (interrupts > 1) process.exit(130);
    // The CLI child is in our process group and gets the signal too: it cancels its run; we
    // still clean its prefix, then stop.
    interrupted = true;
    process.stderr.write(`bench: ${signal}: stopping after the current run (again to exit at once)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: true });
  redis.on('error', () => {}); // failures surface on the commands themselves
  const lines: Array<Record<string, unknown>> = [];
  let allOk = true;
  root = mkdtempSync(join(opts.workRoot, 'fgbench-'));
  const fsCreateUs = probeFileCreation(root);
  process.stderr.write(`bench: work dirs under ${root}; creating a file there takes ${fsCreateUs} µs\n`);
  let ceiling: number | undefined;
  if (opts.ceiling) {
    const rate = await spawnRate(new Launcher(LAUNCHER_PATH), 2000, 8, join(root, 'spawn-ceiling'));
    rmSync(join(root, 'spawn-ceiling'), { recursive: true, force: true });
    ceiling = rate.processes_per_s;
    process.stderr.write(`bench: this machine starts ${ceiling} \`true\` processes a second through the launcher, 8 at a time (spawn ceiling)\n`);
  }
  try {
    for (const w of workloads) {
      if (interrupted) break;
      const runs: RunMetrics[] = [];
      for (let i = 1; i <= opts.repeat && !interrupted; i++) {
        process.stderr.write(`bench: ${w.name} (${w.nodes} nodes, ${w.meta.n_procs} procs / ${w.meta.memory_gb} GB) run ${i}/${opts.repeat}...`);
        const m = measure(w, await runAndClean(w, opts, redis));
        process.stderr.write(` ${m.status} in ${fmt(m.runWallS, 3)} s${m.outcome.error !== null ? ` (${m.outcome.error})` : ''}\n`);
        runs.push(m);
      }
      if (runs.length === 0) break;
      const line = reportLine(w, opts, runs);
      line['fs_create_us'] = fsCreateUs;
      if (ceiling !== undefined) {
        line['spawn_ceiling_per_s'] = ceiling;
        line['of_spawn_ceiling'] = typeof line['nodes_per_s'] === 'number' ? round(line['nodes_per_s'] / ceiling, 3) : null;
      }
      if (line['all_ok'] !== true || runs.length < opts.repeat) allOk = false;
      if (opts.peers.length > 0) {
        // Peers never change the exit status; an interrupt during them still does (130).
        const peers: Record<string, PeerEntry> = {};
        for (const peer of opts.peers) {
          if (interrupted) break;
          process.stderr.write(`bench: ${w.name} peer ${peer}...`);
          const entry = await runPeer(peer, w, opts);
          process.stderr.write(` ${entry.status} in ${fmt(entry.wall_s, 3)} s${entry.error !== undefined ? ` (${entry.error})` : ''}\n`);
          peers[peer] = entry;
        }
        const flowgateS = line['status'] === 'succeeded' && typeof line['process_wall_s'] === 'number' ? line['process_wall_s'] : null;
        const best = speedupVsBestPeer(flowgateS, peers);
        line['peers'] = peers;
        line['best_peer'] = best.best;
        line['speedup_vs_best_peer'] = round(best.speedup, 3);
      }
      lines.push(line);
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  } finally {
    redis.disconnect();
    removeBenchRoot();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (lines.length > 0) process.stderr.write(`\n${table(lines)}\n`);
  if (ceiling !== undefined) {
    for (const l of lines) if (typeof l['of_spawn_ceiling'] === 'number') process.stderr.write(`${String(l['workflow'])}: ${fmt(l['nodes_per_s'], 1)} nodes/s, ${Math.round(l['of_spawn_ceiling'] * 100)} % of the spawn ceiling (${ceiling}/s)\n`);
  }
  if (interrupted) return 130;
  if (lines.length < workloads.length) allOk = false;
  return allOk ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
