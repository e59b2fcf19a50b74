/**
 * Multi-host placement benchmark: the same total budget split over K
 * simulated hosts, each a worker group of the built CLI with its own
 * `--host-id hN --capacity procs=P,mem_gb=G`, under one
 * `flowgate scheduler --placement hosts`, on a private prefix of REDIS_URL.
 *
 *   npx tsx bench/multihost.ts [--workloads DIR] [--workload mixed-150] [--layouts 1x8,2x4,4x2]
 *                              [--repeat N] [--work-root DIR] [--workers-per-host N] [--timeout-s S]
 *   npx tsx bench/multihost.ts --drill [--drill-layout 4x2] [--drill-nodes 96] [--drill-sleep-s 1]
 *                              [--kill-after 0.3] [--heartbeat-ms 2000] [--second-kill] [--work-root DIR]
 *   (either: [--save-summaries DIR] keeps every run's summary as DIR/<run id>.json)
 *   npm run bench:multihost    (builds, then both)
 *
 * Layouts: for each `KxP` (K hosts of P procs; K x P must be the workload's
 * n_procs) each host gets memory_gb / K, and each worker --concurrency P. Every
 * run is `flowgate submit X.json --wait --json`; its makespan is the summary's
 * `wall_s` (the run's start to its end on the scheduler's clock, the definition
 * bench/run.ts divides by the lower bound), with the workers' first start to
 * last end alongside. Per host, the granted threads and memory of the nodes that
 * ran there, summed over their worker-stamped process intervals, must stay
 * within the host's capacity. A workload with nodes larger than the smallest
 * host is also run clamped to that host (threads and memory capped; lower bound
 * recomputed the same way); a layout whose hosts cannot hold some nodes is
 * submitted once to check that flowgate refuses it (cancelled after 60 s if
 * it was accepted instead), and not timed. Runs are submitted once the
 * service counts every host (its published budget is the layout's total).
 *
 * --drill: K hosts, a fan-out of `sleep` nodes between a root and a join node;
 * once --kill-after of the nodes are done (and the scheduler has led for 9 s,
 * past the 8 s in which it judges no host lost), every worker process of h2 is
 * killed with SIGKILL. Reports run status, nodes succeeded/failed, nodes that
 * never finished, attempt-history `lost` entries, nodes placed again and when
 * (kill -> host judged lost -> first placed-again start -> last end).
 * --second-kill: then also kills the host a placed-again node runs on, so
 * that node loses its host twice (flowgate allows a node 2 host losses).
 *
 * One JSON line per case on stdout, a table on stderr. Every process, key of
 * the prefix and temp dir is removed at the end, on error and on SIGINT.
 * Exit: 0 all as expected, 1 otherwise, 2 bad arguments, 130 interrupted.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { medianIndex } from './metrics.js';
import { Fleet, openFleets, until, type SubmitResult } from './multihost-fleet.js';
import {
  clampToHost,
  drillNodes,
  lowerBound,
  misfits,
  parseLayouts,
  perHostPeaks,
  round,
  runRow,
  type BenchWorkflow,
  type Layout,
  type RunRow,
} from './multihost-metrics.js';

const CLI = resolve(import.meta.dirname, '../dist/cli/main.js');
const REDIS_URL = process.env['REDIS_URL'] !== undefined && process.env['REDIS_URL'] !== '' ? process.env['REDIS_URL'] : 'redis://127.0.0.1:6379';
/** The host watch judges no host lost in its first 8 s of leading; the drill kills after this. */
const DRILL_MIN_LEADING_MS = 9000;

class UsageError extends Error {}

const { values: v } = (() => {
  try {
    return parseArgs({
      options: {
        workloads: { type: 'string', default: resolve(import.meta.dirname, '../../shared/workloads') },
        workload: { type: 'string', default: 'mixed-150' },
        layouts: { type: 'string', default: '1x8,2x4,4x2' },
        repeat: { type: 'string', default: '2' },
        'work-root': { type: 'string', default: tmpdir() },
        'workers-per-host': { type: 'string', default: '1' },
        'timeout-s': { type: 'string', default: '300' },
        drill: { type: 'boolean', default: false },
        'drill-layout': { type: 'string', default: '4x2' },
        'drill-nodes': { type: 'string', default: '96' },
        'drill-sleep-s': { type: 'string', default: '1' },
        'kill-after': { type: 'string', default: '0.3' },
        'heartbeat-ms': { type: 'string', default: '2000' },
        'save-summaries': { type: 'string' },
        'second-kill': { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`multihost: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
})();

function num(flag: keyof typeof v, min: number, int = true): number {
  const raw = String(v[flag]);
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || (int && !Number.isInteger(n))) throw new UsageError(`--${flag} must be a ${int ? 'whole ' : ''}number >= ${min}, received "${raw}"`);
  return n;
}

interface Meta {
  n_procs: number;
  memory_gb: number;
  lower_bound_s: number;
}

function loadWorkload(dir: string, name: string): { wf: BenchWorkflow; meta: Meta; file: string } {
  const file = join(dir, `${name}.json`);
  const metaFile = join(dir, `${name}.meta.json`);
  for (const f of [file, metaFile]) if (!existsSync(f)) throw new UsageError(`--workloads/--workload: ${f} not found`);
  const wf = JSON.parse(readFileSync(file, 'utf8')) as BenchWorkflow;
  const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as Meta;
  if (!Array.isArray(wf.nodes)) throw new UsageError(`${file}: no nodes array`);
  for (const k of ['n_procs', 'memory_gb', 'lower_bound_s'] as const) if (typeof meta[k] !== 'number') throw new UsageError(`${metaFile}: ${k} must be a number`);
  return { wf, meta, file };
}

/** The layouts of `spec` for the workload's total budget; a bad spec is a usage error. */
function layoutsOf(spec: string, meta: Meta): Layout[] {
  try {
    return parseLayouts(spec, meta.n_procs, meta.memory_gb);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

const log = (s: string): void => void process.stderr.write(`multihost: ${s}\n`);
let root = '';

/** With --save-summaries DIR: writes the run's summary to DIR/<run id>.json (kept after the bench). */
function keep(res: SubmitResult): SubmitResult {
  const dir = v['save-summaries'];
  if (dir !== undefined && res.summary !== null) writeFileSync(join(resolve(dir), `${res.summary.run_id}.json`), JSON.stringify(res.summary, null, 1));
  return res;
}

/** A fleet for `layout`, started and with every host registered; closed by the caller. */
async function startFleet(layout: Layout, tag: string, heartbeatMs: number): Promise<Fleet> {
  const fleet = new Fleet(CLI, REDIS_URL, `fgbench-mh-${randomBytes(4).toString('hex')}-${tag}`, root);
  await fleet.startScheduler();
  const ids = Array.from({ length: layout.hosts }, (_, i) => `h${i + 1}`);
  for (const id of ids) fleet.startHost(id, layout.procs, layout.memGb, num('workers-per-host', 1), heartbeatMs);
  await fleet.waitHosts(ids, { n_procs: layout.hosts * layout.procs, memory_gb: layout.hosts * layout.memGb });
  return fleet;
}

interface Variant {
  name: string;
  file: string;
  wf: BenchWorkflow;
  lb: number;
  lbNote: string;
}

async function layouts(): Promise<boolean> {
  const { wf, meta, file } = loadWorkload(String(v.workloads), String(v.workload));
  const all = layoutsOf(String(v.layouts), meta);
  const repeat = num('repeat', 1);
  const timeoutMs = num('timeout-s', 1) * 1000;
  const mine = lowerBound(wf, meta.n_procs, meta.memory_gb);
  const variants: Variant[] = [{ name: wf.name, file, wf, lb: meta.lower_bound_s, lbNote: `meta lower_bound_s (recomputed: ${round(mine.lower_bound_s, 4)})` }];
  const small = { procs: Math.min(...all.map((l) => l.procs)), memGb: Math.min(...all.map((l) => l.memGb)) };
  if (all.some((l) => misfits(wf, l).length > 0)) {
    const name = `${wf.name}-fit${small.procs}p${small.memGb}g`;
    const clamped = clampToHost(wf, small.procs, small.memGb, name);
    const cfile = join(root, `${name}.json`);
    writeFileSync(cfile, JSON.stringify(clamped));
    const b = lowerBound(clamped, meta.n_procs, meta.memory_gb);
    const parts = `critical path ${round(b.critical_path_s)} s, proc work ${round(b.proc_work_s)} s, mem work ${round(b.mem_work_s)} s`;
    variants.push({ name, file: cfile, wf: clamped, lb: b.lower_bound_s, lbNote: `recomputed for the clamped nodes: ${parts}` });
    log(`${wf.name}: nodes capped at ${small.procs} procs / ${small.memGb} GB as ${name} (lower bound ${round(b.lower_bound_s)} s: ${parts})`);
  }
  let allOk = true;
  const table: string[][] = [];
  for (const layout of all) {
    const fleet = await startFleet(layout, layout.name, num('heartbeat-ms', 100));
    try {
      const rows = new Map<string, RunRow[]>(variants.map((x) => [x.name, []]));
      const refused = new Map<string, Record<string, unknown>>();
      for (let i = 1; i <= repeat; i++) {
        for (const x of variants) {
          const bad = misfits(x.wf, layout);
          if (bad.length > 0) {
            if (i > 1) continue;
            // Refused at once, or accepted with nodes that would wait for a larger host forever: cancelled after 60 s.
            const runId = `${x.name}-${layout.name}-refused`;
            const res = await fleet.submit(x.file, runId, Math.min(timeoutMs, 60_000));
            const hung = res.code === null;
            const cancelled = hung ? await fleet.cancel(runId) : null;
            const msg = hung ? `accepted and still running after 60 s (cancel exit ${cancelled})` : (res.stderr.split('\n').find((l) => /needs|larger|largest host/.test(l)) ?? res.stderr.trim().slice(-300));
            refused.set(x.name, { nodes_too_large: bad.length, exit_code: res.code, as_expected: res.code === 2, message: msg });
            log(`${layout.name} ${x.name}: ${bad.length} nodes larger than a ${layout.procs}-proc/${layout.memGb} GB host; submit exit ${res.code}: ${msg}`);
            continue;
          }
          const res = keep(await fleet.submit(x.file, `${x.name}-${layout.name}-${i}`, timeoutMs));
          const row = runRow(res, layout, x.wf.nodes.length);
          rows.get(x.name)?.push(row);
          log(`${layout.name} ${x.name} run ${i}/${repeat}: ${row.status} in ${row.run_wall_s ?? '-'} s (x${round((row.run_wall_s ?? NaN) / x.lb) ?? '-'} LB), hosts within capacity: ${row.hosts_within_capacity}${row.not_run > 0 ? `, ${row.not_run} nodes did not run` : ''}${row.error !== undefined ? ` (${row.error})` : ''}`);
        }
      }
      for (const x of variants) {
        const r = refused.get(x.name);
        if (r !== undefined) {
          if (r['as_expected'] !== true) allOk = false;
          process.stdout.write(`${JSON.stringify({ bench: 'multihost', layout: layout.name, hosts: layout.hosts, host_capacity: { procs: layout.procs, mem_gb: layout.memGb }, workload: x.name, status: 'refused', ...r })}\n`);
          table.push([layout.name, x.name, `refused (${String(r['nodes_too_large'])} nodes too large, exit ${String(r['exit_code'])})`, '-', '-', round(x.lb)?.toString() ?? '-', '-', '-']);
          continue;
        }
        const runs = rows.get(x.name) ?? [];
        if (runs.length === 0) continue;
        const m = runs[medianIndex(runs, (r2) => r2.run_wall_s ?? Infinity)] as RunRow;
        const ok = runs.every((r2) => r2.ok);
        if (!ok) allOk = false;
        const line = {
          bench: 'multihost',
          layout: layout.name,
          hosts: layout.hosts,
          host_capacity: { procs: layout.procs, mem_gb: layout.memGb },
          workload: x.name,
          nodes: x.wf.nodes.length,
          status: m.status,
          run_wall_s: m.run_wall_s,
          worker_span_s: m.worker_span_s,
          process_wall_s: m.process_wall_s,
          lower_bound_s: round(x.lb, 4),
          lower_bound_note: x.lbNote,
          ratio_to_lower_bound: m.run_wall_s === null ? null : round(m.run_wall_s / x.lb),
          host_peaks: m.host_peaks,
          hosts_within_capacity_all: runs.every((r2) => r2.hosts_within_capacity),
          misplaced: m.misplaced,
          repeat: runs.length,
          run_wall_s_all: runs.map((r2) => r2.run_wall_s),
          statuses_all: runs.map((r2) => r2.status),
          all_ok: ok,
          ...(runs.some((r2) => r2.error !== undefined) ? { errors: runs.flatMap((r2) => (r2.error === undefined ? [] : [r2.error])) } : {}),
        };
        process.stdout.write(`${JSON.stringify(line)}\n`);
        const peaks = m.host_peaks.map((p) => `${p.peak_procs}/${p.peak_mem_gb}`).join(' ');
        table.push([layout.name, x.name, `${m.status}${runs.length > 1 ? ` (median of ${runs.length})` : ''}`, String(m.run_wall_s ?? '-'), String(round(m.worker_span_s) ?? '-'), String(round(x.lb)), String(line.ratio_to_lower_bound ?? '-'), `${line.hosts_within_capacity_all ? 'yes' : 'NO'} (${peaks})`]);
      }
    } finally {
      await fleet.close();
    }
  }
  const header = ['layout', 'workload', 'status', 'run s', 'worker span s', 'LB s', 'xLB', 'per host within capacity (peak procs/GB per host)'];
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] ?? '').length)));
  process.stderr.write(`\n${[header, widths.map((w) => '-'.repeat(w)), ...table].map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')).join('\n')}\n`);
  return allOk;
}

async function drill(): Promise<boolean> {
  // The same total budget as the layouts: the workload's.
  const { meta } = loadWorkload(String(v.workloads), String(v.workload));
  const [layout] = layoutsOf(String(v['drill-layout']), meta);
  if (layout === undefined || layout.hosts < 2) throw new UsageError('--drill-layout needs at least 2 hosts');
  const n = num('drill-nodes', 1);
  const sleepS = num('drill-sleep-s', 0, false);
  const killAfter = num('kill-after', 0, false);
  if (killAfter >= 1) throw new UsageError(`--kill-after must be a fraction in [0, 1), received ${killAfter}`);
  const memGb = Math.min(0.5, layout.memGb);
  const wf: BenchWorkflow = {
    name: `drill-fanout-${n}`,
    nodes: [
      { id: 'root', command: ['sleep', '0.1'], n_procs: 1, mem_gb: memGb },
      ...Array.from({ length: n }, (_, i) => ({ id: `s${i}`, command: ['sleep', String(sleepS)], needs: ['root'], n_procs: 1, mem_gb: memGb })),
      { id: 'join', command: ['sleep', '0.1'], needs: Array.from({ length: n }, (_, i) => `s${i}`), n_procs: 1, mem_gb: memGb },
    ],
  };
  const file = join(root, `${wf.name}.json`);
  writeFileSync(file, JSON.stringify(wf));
  const lb = lowerBound(wf, layout.hosts * layout.procs, layout.hosts * layout.memGb).lower_bound_s;
  const victim = 'h2';
  const fleet = await startFleet(layout, `drill-${layout.name}`, num('heartbeat-ms', 100));
  try {
    const wait = DRILL_MIN_LEADING_MS - (Date.now() - (fleet.leadingAtMs ?? 0));
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const pending = fleet.submit(file, 'drill', num('timeout-s', 1) * 1000);
    let finished = false;
    void pending.then(() => (finished = true));
    const timeoutMs = num('timeout-s', 1) * 1000;
    const at = await until(
      async () => {
        if (finished) throw new Error('the run ended before the kill point');
        const ws = await fleet.workers();
        const done = ws.reduce((k, w) => k + w.nodes_done, 0);
        const running = ws.filter((w) => (w.host_id ?? w.host) === victim && w.status === 'alive').flatMap((w) => w.current.map((c) => c.node_id));
        return done >= killAfter * wf.nodes.length && running.length > 0 ? { done, running } : undefined;
      },
      timeoutMs,
      `${killAfter} of the nodes done with ${victim} running one`,
      100,
    );
    const killAtMs = Date.now();
    const pids = fleet.killHost(victim);
    log(`drill: SIGKILL ${victim} workers (pids ${pids.join(', ')}) with ${at.done} nodes done, running there as of its last heartbeat: ${at.running.join(', ')}`);
    const second = v['second-kill'] ? await fleet.killHostOfReplaced(() => finished, timeoutMs) : null;
    if (second !== null) log(`drill: second SIGKILL, ${second.host} workers (pids ${second.pids.join(', ')}), running node#attempt as of its last heartbeat: ${second.nodes.join(', ')}`);
    const res = keep(await pending);
    const s = res.summary;
    const d = s === null ? null : drillNodes(wf.nodes.map((x) => x.id), s.nodes, { host: victim, atMs: killAtMs });
    const lostAt = fleet.hostLostAtMs(victim);
    const rel = (t: number | null | undefined): number | null => (t === null || t === undefined ? null : round((t - killAtMs) / 1000));
    const peaks = s === null ? [] : perHostPeaks(s.nodes, layout);
    const line = {
      bench: 'multihost-drill',
      layout: layout.name,
      nodes: wf.nodes.length,
      node_sleep_s: sleepS,
      heartbeat_ms: num('heartbeat-ms', 100),
      killed_host: victim,
      killed_pids: pids,
      done_at_kill: at.done,
      // The registry's list is as of h2's last heartbeat (up to --heartbeat-ms old); running_at_kill is from the summary.
      running_on_killed_host_per_registry: at.running,
      ...(second !== null ? { second_kill: second } : {}),
      finished_on_killed_host_after_kill: d?.finished_on_killed_host_after_kill ?? [],
      run_status: s?.status ?? 'error',
      submit_exit_code: res.code,
      succeeded: d?.succeeded ?? null,
      failed: d?.failed ?? null,
      nodes_lost: d?.lost.length ?? null,
      lost_ids: d?.lost ?? [],
      lost_attempt_entries: d?.lost_entries ?? null,
      lost_reason: d?.lost_reason ?? null,
      placed_again: d?.placed_again.length ?? null,
      placed_again_ids: d?.placed_again ?? [],
      placed_again_on: d?.placed_again_on ?? {},
      placed_again_history: d?.placed_again_history ?? [],
      host_lost_after_s: rel(lostAt),
      first_replaced_start_after_s: rel(d?.replaced_first_start_ms),
      last_replaced_end_after_s: rel(d?.replaced_last_end_ms),
      run_wall_s: s?.wall_s ?? null,
      lower_bound_s: round(lb),
      ratio_to_lower_bound: s === null ? null : round(s.wall_s / lb),
      hosts_within_capacity: peaks.every((p) => p.within),
      scheduler_warnings: fleet.schedulerWarnings(),
      ...(s === null ? { error: res.stderr.trim().slice(-800) } : {}),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    const ok = s?.status === 'succeeded' && res.code === 0 && d !== null && d.lost.length === 0 && d.placed_again.length > 0 && d.finished_on_killed_host_after_kill.length === 0 && line.hosts_within_capacity;
    log(`drill: run ${line.run_status}, ${line.succeeded} succeeded, ${line.failed} failed, ${line.nodes_lost} lost, ${line.placed_again} placed again (${line.lost_attempt_entries} lost entries); host judged lost ${line.host_lost_after_s} s after the kill, first re-placed start ${line.first_replaced_start_after_s} s, last re-placed end ${line.last_replaced_end_after_s} s; wall ${line.run_wall_s} s (LB ${line.lower_bound_s} s)`);
    return ok;
  } finally {
    await fleet.close();
  }
}

async function closeAll(): Promise<void> {
  await Promise.allSettled([...openFleets].map((f) => f.close(2000)));
  if (root !== '') rmSync(root, { recursive: true, force: true });
}

async function main(): Promise<number> {
  const workRoot = resolve(String(v['work-root']));
  if (!existsSync(workRoot) || !statSync(workRoot).isDirectory()) throw new UsageError(`--work-root: "${workRoot}" is not a directory`);
  const keepDir = v['save-summaries'];
  if (keepDir !== undefined && (!existsSync(keepDir) || !statSync(keepDir).isDirectory())) throw new UsageError(`--save-summaries: "${keepDir}" is not a directory`);
  if (!existsSync(CLI)) throw new UsageError(`${CLI} not found: run \`npm run build\` first`);
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) process.exit(130);
    stopping = true;
    log(`${sig}: stopping every process and cleaning up`);
    void closeAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  root = mkdtempSync(join(workRoot, 'fgbench-mh-'));
  try {
    return (v.drill ? await drill() : await layouts()) ? 0 : 1;
  } finally {
    await closeAll();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`multihost: ${err instanceof UsageError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
