/**
 * Work per event in a large run's model, where it used to grow with the run:
 *
 * - `admission-varied-grants`: 100,000 ready nodes of 1,000 different memory
 *   sizes on a memory-bound budget; 2,000 completions, each followed by an
 *   admission pass (the scheduler's step);
 * - `failures-above-hub`: 1,000 failing roots above one hub of 50,000
 *   descendants; every root fails (each failure skips what it reaches);
 * - `dry-run-wide`: `flowgate run --dry-run` of 100,000 independent nodes
 *   (the whole CLI process).
 *
 * Runs against the build in `dist/` of this checkout and, with `--before DIR`,
 * of another (built) checkout, one after the other. One JSON line per case
 * and build on stdout.
 *
 *   npx tsx bench/scale-events.ts [--before /tmp/fg-before]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { before: { type: 'string' }, child: { type: 'string' }, dist: { type: 'string' } } });

type Wf = { name: string; nodes: Array<Record<string, unknown>> };

async function model(dist: string): Promise<{ validate: (w: Wf) => unknown; RunGraph: new (o: Record<string, unknown>) => Graph }> {
  const parse = (await import(pathToFileURL(join(dist, 'shared/workflow/parse.js')).href)) as { validateWorkflow: (w: Wf) => unknown };
  const graph = (await import(pathToFileURL(join(dist, 'scheduler/run-graph.js')).href)) as { RunGraph: new (o: Record<string, unknown>) => Graph };
  return { validate: parse.validateWorkflow, RunGraph: graph.RunGraph };
}

interface Node {
  index: number;
  attempt: number;
}
interface Graph {
  start(): void;
  admit(): Node[];
  complete(index: number, attempt: number, outcome: null): void;
  fail(index: number, attempt: number, reason: string, outcome: undefined): unknown;
}

async function child(name: string, dist: string): Promise<Record<string, unknown>> {
  const { validate, RunGraph } = await model(dist);
  const graphOf = (w: Wf, budget: { n_procs: number; mem_gb: number }): Graph =>
    new RunGraph({ workflow: validate(w), budget, order: 'tsort', raiseInsufficient: false, workDir: '/tmp/fg-scale-events', clock: Date.now });
  if (name === 'admission-varied-grants') {
    const nodes = Array.from({ length: 100_000 }, (_, i) => ({ id: `n${i}`, command: ['true'], mem_gb: 2 + (i % 1000) * 0.001 }));
    const g = graphOf({ name: 'a', nodes }, { n_procs: 64, mem_gb: 20 });
    g.start();
    const inFlight = g.admit();
    const t0 = performance.now();
    for (let k = 0; k < 2000; k++) {
      const n = inFlight.shift() as Node;
      g.complete(n.index, n.attempt, null);
      for (const a of g.admit()) inFlight.push(a);
    }
    return { events: 2000, ms: Math.round(performance.now() - t0), ms_per_event: Math.round(((performance.now() - t0) / 2000) * 1000) / 1000 };
  }
  const roots = 1000;
  const nodes: Array<Record<string, unknown>> = Array.from({ length: roots }, (_, i) => ({ id: `r${i}`, command: ['true'] }));
  nodes.push({ id: 'hub', command: ['true'], needs: Array.from({ length: roots }, (_, i) => `r${i}`) });
  for (let j = 0; j < 50_000; j++) nodes.push({ id: `l${j}`, command: ['true'], needs: ['hub'] });
  const g = graphOf({ name: 'f', nodes }, { n_procs: 100_000, mem_gb: 1e6 });
  g.start();
  const admitted = g.admit();
  const t0 = performance.now();
  for (const n of admitted) g.fail(n.index, n.attempt, 'boom', undefined);
  return { events: admitted.length, ms: Math.round(performance.now() - t0), ms_per_event: Math.round(((performance.now() - t0) / admitted.length) * 1000) / 1000 };
}

function dryRun(root: string): Record<string, unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'fg-scale-events-'));
  try {
    const file = join(dir, 'wide.json');
    writeFileSync(file, JSON.stringify({ name: 'wide', nodes: Array.from({ length: 100_000 }, (_, i) => ({ id: `n${i}`, command: ['true'] })) }));
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), 'run', file, '--dry-run', '--quiet', '--work-dir', join(dir, 'work')], { encoding: 'utf8', timeout: 600_000, maxBuffer: 256 * 1024 * 1024 });
    return { events: 100_000, ms: Math.round(performance.now() - t0), exit: r.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (args.child !== undefined) {
    process.stdout.write(`${JSON.stringify(await child(args.child, args.dist as string))}\n`);
    return;
  }
  const builds: Array<[string, string]> = [['this', resolve(import.meta.dirname, '..')]];
  if (args.before !== undefined) builds.push(['before', resolve(args.before)]);
  for (const name of ['admission-varied-grants', 'failures-above-hub', 'dry-run-wide']) {
    for (const [build, root] of builds) {
      let result: Record<string, unknown>;
      if (name === 'dry-run-wide') result = dryRun(root);
      else {
        const r = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', name, '--dist', join(root, 'dist')], { encoding: 'utf8', timeout: 600_000 });
        result = r.status === 0 ? (JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>) : { error: (r.stderr || `exit ${String(r.status)}`).trim().split('\n').slice(-1)[0] };
      }
      process.stdout.write(`${JSON.stringify({ bench: 'scale-events', case: name, build, ...result })}\n`);
    }
  }
}

await main();
