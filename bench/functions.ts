/**
 * What a function node costs per call, against BullMQ's own sandboxed
 * processors. N trivial calls (a function that returns `{ pid }`), for a
 * `.js` and a `.ts` module, at `--max-tasks-per-child` 10 (the default) and 1:
 *
 * - `flowgate`: end to end like a user — `flowgate run` of a workflow of N
 *   independent function nodes (scheduler, queue, worker, executor); ms per
 *   call is the run's `wall_s` ÷ N;
 * - `executor`: the worker's executor pool alone (`ExecutorPool.run`, no
 *   queue, no scheduler), N calls, `--concurrency` at a time;
 * - `bullmq-sandboxed`: a plain BullMQ `Worker` with a sandboxed processor
 *   file doing the same, on the same Redis, at the same concurrency; ms per
 *   call from adding the N jobs to the N-th completion.
 *
 * With `--before DIR` the flowgate and executor cases also run against the
 * build in `DIR/dist` (another checkout, built), interleaved with this one.
 * One JSON line per measurement, then a table of medians.
 *
 * The node directories go under `--work-root` (default: the system's temporary
 * directory); a tmpfs such as /dev/shm leaves the disk out of the comparison,
 * since BullMQ's case writes nothing.
 *
 *   npx tsx bench/functions.ts [--n 1000] [--concurrency 1] [--repeat 3] [--before /tmp/fg-before]
 *     [--cases flowgate,executor,bullmq] [--modules js,ts] [--max-tasks 10,1] [--work-root /dev/shm]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { deletePrefix } from './redis-keys.js';

const ROOT = resolve(import.meta.dirname, '..');
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const MODULES = { js: join(ROOT, 'bench/fixtures/noop.mjs'), ts: join(ROOT, 'bench/fixtures/noop.ts') } as const;
const BULLMQ_PROCESSOR = join(ROOT, 'bench/fixtures/bullmq-noop.mjs');

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '1' },
    'work-root': { type: 'string', default: tmpdir() },
    repeat: { type: 'string', default: '1' },
    before: { type: 'string' },
    cases: { type: 'string', default: 'flowgate,executor,bullmq' },
    modules: { type: 'string', default: 'js,ts' },
    'max-tasks': { type: 'string', default: '10,1' },
    child: { type: 'string' },
    dist: { type: 'string' },
    module: { type: 'string' },
    max: { type: 'string' },
  },
});

function whole(name: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} must be a whole number >= ${min}, received "${String(value)}"\n`);
    process.exit(2);
  }
  return n;
}

const N = whole('n', args.n, 1);
const CONCURRENCY = whole('concurrency', args.concurrency, 1);
const REPEAT = whole('repeat', args.repeat, 1);
const WORK_ROOT = resolve(String(args['work-root']));
const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

interface Row {
  case: string;
  build: string;
  module: string;
  max_tasks_per_child: number | null;
  ms_per_call: number;
  [k: string]: unknown;
}

/** Child mode: N calls through the executor pool of the build in `dist`; prints one JSON line. */
async function executorChild(dist: string, module: string, max: number): Promise<void> {
  const poolMod = (await import(pathToFileURL(join(dist, 'worker/executor-pool.js')).href)) as typeof import('../src/worker/executor-pool.js');
  const logMod = (await import(pathToFileURL(join(dist, 'shared/logger.js')).href)) as typeof import('../src/shared/logger.js');
  const pool = new poolMod.ExecutorPool(max, logMod.silentLogger());
  const dir = mkdtempSync(join(WORK_ROOT, 'fgbench-exec-'));
  const pids = new Set<number>();
  let failed = 0;
  let next = 0;
  const signal = new AbortController().signal;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, lane) => {
      const nodeDir = join(dir, `lane${lane}`);
      mkdirSync(nodeDir);
      while (next < N) {
        const i = next++;
        const ctx = { run_id: 'bench', node_id: `n${i}`, n_procs: 1, mem_gb: 0.2, node_dir: nodeDir };
        const r = await pool.run({ module, export: 'noop', inputs: {}, ctx, max_output_bytes: 4 << 20 }, signal, () => undefined);
        if (!r.ok) failed++;
        pids.add(r.pid);
      }
    }),
  );
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify({ ms_per_call: round(ms / N, 3), failed, executor_processes: pids.size, worker_cpu_ms_per_call: round((cpu.user + cpu.system) / 1000 / N, 3) })}\n`);
}

function runProcess(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string; wallMs: number }> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, out, wallMs: performance.now() - t0 }));
  });
}

async function executorCase(build: string, dist: string, kind: keyof typeof MODULES, max: number): Promise<Row> {
  const self = join(ROOT, 'bench/functions.ts');
  const tsx = join(ROOT, 'node_modules/tsx/dist/cli.mjs');
  const { code, out } = await runProcess([process.execPath, tsx, self, '--child', 'executor', '--dist', dist, '--module', MODULES[kind], '--max', String(max), '--n', String(N), '--concurrency', String(CONCURRENCY), '--work-root', WORK_ROOT]);
  if (code !== 0) throw new Error(`executor bench of ${build} exited with ${String(code)}`);
  return { case: 'executor', build, module: kind, max_tasks_per_child: max, ...(JSON.parse(out) as { ms_per_call: number }) };
}

async function flowgateCase(build: string, dist: string, kind: keyof typeof MODULES, max: number): Promise<Row> {
  const dir = mkdtempSync(join(WORK_ROOT, 'fgbench-fn-'));
  const prefix = `fgbench-fn-${process.pid}-${Date.now()}`;
  const wf = join(dir, 'wf.json');
  const nodes = Array.from({ length: N }, (_, i) => ({ id: `n${i}`, function: { module: MODULES[kind], export: 'noop' } }));
  writeFileSync(wf, JSON.stringify({ name: `fn-${N}`, nodes }));
  const budget = ['--n-procs', String(CONCURRENCY), '--memory-gb', String(Math.max(1, CONCURRENCY))];
  const argv = [process.execPath, join(dist, 'cli/main.js'), 'run', wf, ...budget, '--max-tasks-per-child', String(max), '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work')];
  try {
    const { code, out, wallMs } = await runProcess(argv, { ...process.env, REDIS_URL });
    const summary = JSON.parse(out) as { wall_s: number; status: string; nodes: Array<{ outputs?: { pid?: number } }> };
    if (code !== 0 || summary.status !== 'succeeded') throw new Error(`flowgate run of ${build} ended ${summary.status} (exit ${String(code)})`);
    const pids = new Set(summary.nodes.map((n) => n.outputs?.pid));
    return { case: 'flowgate', build, module: kind, max_tasks_per_child: max, ms_per_call: round((summary.wall_s * 1000) / N, 3), run_wall_s: summary.wall_s, process_wall_s: round(wallMs / 1000), executor_processes: pids.size };
  } finally {
    const redis = new Redis(REDIS_URL);
    await deletePrefix(redis, prefix).finally(() => redis.disconnect());
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bullmqCase(): Promise<Row> {
  const prefix = `fgbench-bull-${process.pid}-${Date.now()}`;
  const connection = { url: REDIS_URL, maxRetriesPerRequest: null };
  const name = 'noop';
  const queue = new Queue(name, { connection, prefix });
  const worker = new Worker(name, BULLMQ_PROCESSOR, { connection, prefix, concurrency: CONCURRENCY, useWorkerThreads: false });
  const pids = new Set<number>();
  let failed = 0;
  try {
    await worker.waitUntilReady();
    const all = new Promise<void>((res) => {
      let done = 0;
      const count = (): void => {
        if (++done === N) res();
      };
      worker.on('completed', (_job, r: { pid: number }) => {
        pids.add(r.pid);
        count();
      });
      worker.on('failed', () => {
        failed++;
        count();
      });
    });
    const t0 = performance.now();
    await queue.addBulk(Array.from({ length: N }, (_, i) => ({ name, data: { i } })));
    await all;
    const ms = performance.now() - t0;
    return { case: 'bullmq-sandboxed', build: 'bullmq', module: 'js', max_tasks_per_child: null, ms_per_call: round(ms / N, 3), failed, child_processes: pids.size };
  } finally {
    await worker.close();
    await queue.close();
    const redis = new Redis(REDIS_URL);
    await deletePrefix(redis, prefix).finally(() => redis.disconnect());
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  const cases = new Set(String(args.cases).split(','));
  const unknown = [...cases].filter((c) => !['flowgate', 'executor', 'bullmq'].includes(c));
  if (unknown.length > 0) {
    process.stderr.write(`--cases: unknown case(s) ${unknown.join(', ')} (expected flowgate, executor, bullmq)\n`);
    process.exit(2);
  }
  const kinds = String(args.modules).split(',').map((k) => {
    if (k !== 'js' && k !== 'ts') {
      process.stderr.write(`--modules: expected js and/or ts, received "${k}"\n`);
      process.exit(2);
    }
    return k;
  });
  const maxTasks = String(args['max-tasks']).split(',').map((m) => whole('max-tasks', m, 1));
  const builds: Array<[string, string]> = [['this', join(ROOT, 'dist')]];
  if (args.before !== undefined) builds.unshift(['before', join(resolve(args.before), 'dist')]);
  const rows: Row[] = [];
  const emit = (r: Row): void => {
    rows.push(r);
    process.stdout.write(`${JSON.stringify({ bench: 'functions', n: N, concurrency: CONCURRENCY, ...r })}\n`);
  };
  for (let rep = 0; rep < REPEAT; rep++) {
    if (cases.has('bullmq')) emit(await bullmqCase());
    for (const kind of kinds) {
      for (const max of maxTasks) {
        for (const [build, dist] of builds) {
          if (cases.has('executor')) emit(await executorCase(build, dist, kind, max));
          if (cases.has('flowgate')) emit(await flowgateCase(build, dist, kind, max));
        }
      }
    }
  }
  const groups = new Map<string, number[]>();
  for (const r of rows) {
    const key = `${r.case.padEnd(16)} ${r.build.padEnd(6)} ${r.module} max ${String(r.max_tasks_per_child ?? '-').padEnd(3)}`;
    groups.set(key, [...(groups.get(key) ?? []), r.ms_per_call]);
  }
  process.stderr.write(`\nms per call, median of ${REPEAT} (N ${N}, concurrency ${CONCURRENCY}):\n`);
  for (const [key, xs] of groups) process.stderr.write(`  ${key} ${median(xs).toFixed(3)}\n`);
}

if (args.child === 'executor') {
  await executorChild(String(args.dist), String(args.module), whole('max', args.max, 1));
} else {
  await main();
}
