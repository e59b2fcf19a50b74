/**
 * Large workflows: how long validating and planning takes, and the peak RSS
 * of the process that does it. Each case runs in a process of its own (with
 * a 4 GB heap limit and a time limit) over a workflow file written first:
 *
 * - `validate+plan`: reads and validates the file (`loadWorkflowFile`), then
 *   builds the scheduler's model of the run (`RunGraph`: DAG, topological
 *   order, admission order, ready set) and moves the roots to ready — what
 *   `flowgate run` does before the run is stored;
 * - `cli validate`: the whole `flowgate validate FILE` process.
 *
 * With `--before DIR`, every case also runs against the build in `DIR/dist`
 * (another checkout, built), one after the other, so both builds are measured
 * in the same minute. One JSON line per case and build on stdout.
 *
 *   npx tsx bench/scale.ts [--before /tmp/fg-before] [--cases wide-100k,chain-100k] [--timeout-s 60]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { scaleShape, SCALE_SHAPES, type ScaleShape } from './scale-shapes.js';

const { values: args } = parseArgs({
  options: {
    before: { type: 'string' },
    cases: { type: 'string' },
    'timeout-s': { type: 'string', default: '60' },
    child: { type: 'string' },
    dist: { type: 'string' },
  },
});

/** The default cases: [shape, mode]. */
const CASES: ReadonlyArray<[ScaleShape, 'plan' | 'cli']> = [
  ['wide-100k', 'plan'],
  ['layered-100k', 'plan'],
  ['chain-100k', 'plan'],
  ['layered-20k', 'plan'],
  ['chain-20k', 'plan'],
  ['cycle-200k', 'plan'],
  ['wide-1m', 'cli'],
];

/** Child mode: validate and plan one file with the build in `dist`; prints one JSON line. */
async function child(file: string, dist: string): Promise<void> {
  const parse = (await import(pathToFileURL(join(dist, 'shared/workflow/parse.js')).href)) as typeof import('../src/shared/workflow/parse.js');
  const graph = (await import(pathToFileURL(join(dist, 'scheduler/run-graph.js')).href)) as typeof import('../src/scheduler/run-graph.js');
  const t0 = performance.now();
  let validateS: number;
  let outcome = 'ok';
  try {
    const wf = parse.loadWorkflowFile(file);
    validateS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const g = new graph.RunGraph({ workflow: wf, budget: { n_procs: 2, mem_gb: 16 }, order: 'tsort', raiseInsufficient: true, workDir: '/tmp/fgbench-scale', clock: Date.now });
    g.start();
    const planS = (performance.now() - t1) / 1000;
    process.stdout.write(`${JSON.stringify({ outcome, nodes: g.size, ready: g.readyCount, validate_s: round(validateS), plan_s: round(planS), rss_peak_mb: peakMb() })}\n`);
  } catch (err) {
    outcome = err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]?.slice(0, 120) ?? ''}` : String(err);
    process.stdout.write(`${JSON.stringify({ outcome, validate_s: round((performance.now() - t0) / 1000), rss_peak_mb: peakMb() })}\n`);
  }
}

function peakMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

function round(s: number): number {
  return Math.round(s * 1000) / 1000;
}

/** Writes the process's peak RSS to stderr as it exits (for the CLI, which is not ours to instrument). */
const PEAK_HOOK = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\nBENCH_PEAK_MB '+Math.round(process.resourceUsage().maxRSS/1024)+'\\n'))`;

function measure(shape: ScaleShape, mode: 'plan' | 'cli', file: string, root: string): Record<string, unknown> {
  const dist = join(root, 'dist');
  const timeoutMs = Number(args['timeout-s']) * 1000;
  const t0 = performance.now();
  const res =
    mode === 'plan'
      ? spawnSync(process.execPath, ['--max-old-space-size=4096', '--import', 'tsx', import.meta.filename, '--child', file, '--dist', dist], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 })
      : spawnSync(process.execPath, ['--max-old-space-size=4096', '--import', PEAK_HOOK, join(dist, 'cli/main.js'), 'validate', file], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  const wallS = round((performance.now() - t0) / 1000);
  const base = { bench: 'scale', shape, mode, build: root, wall_s: wallS };
  if (res.error !== undefined || res.signal !== null) {
    const why = res.signal === 'SIGTERM' ? `killed after ${args['timeout-s']} s` : res.stderr.includes('heap out of memory') ? 'out of memory (4 GB heap)' : `killed (${String(res.signal ?? res.error)})`;
    return { ...base, outcome: why };
  }
  const stderrTail = res.stderr.trim().split('\n').filter((l) => !l.startsWith('BENCH_PEAK_MB')).slice(-1)[0] ?? '';
  if (mode === 'cli') {
    const peak = /BENCH_PEAK_MB (\d+)/.exec(res.stderr)?.[1];
    return { ...base, outcome: res.status === 0 ? 'ok' : `exit ${String(res.status)}: ${stderrTail.slice(0, 160)}`, stdout: res.stdout.trim().slice(0, 160), rss_peak_mb: peak === undefined ? null : Number(peak) };
  }
  const line = res.stdout.trim().split('\n').pop() ?? '';
  if (res.status !== 0 || !line.startsWith('{')) return { ...base, outcome: `exit ${String(res.status)}: ${stderrTail.slice(0, 160)}` };
  return { ...base, ...(JSON.parse(line) as Record<string, unknown>) };
}

if (args.child !== undefined) {
  await child(args.child, args.dist ?? resolve(import.meta.dirname, '../dist'));
} else {
  const wanted = args.cases?.split(',');
  for (const c of wanted ?? []) if (!(SCALE_SHAPES as readonly string[]).includes(c)) throw new Error(`unknown case "${c}"; known: ${SCALE_SHAPES.join(', ')}`);
  const cases = wanted === undefined ? CASES : CASES.filter(([s]) => wanted.includes(s));
  const dir = mkdtempSync(join(tmpdir(), 'fgbench-scale-'));
  const builds = [resolve(import.meta.dirname, '..'), ...(args.before !== undefined ? [resolve(args.before)] : [])];
  try {
    for (const [shape, mode] of cases) {
      const file = join(dir, `${shape}.json`);
      writeFileSync(file, JSON.stringify(scaleShape(shape)));
      for (const root of builds) process.stdout.write(`${JSON.stringify(measure(shape, mode, file, root))}\n`);
      rmSync(file);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
