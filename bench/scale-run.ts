/**
 * Large workflows end to end: `flowgate run` of the 100k shapes (every node
 * runs `true`), each against a private redis-server started for that run
 * alone (no persistence), so its memory figure is the run's. One JSON line
 * per run on stdout:
 *
 * - `wall_s`, `nodes_per_s` (nodes / the summary's `wall_s`), `hop_ms`
 *   (the summary's wall time per node: for the chain, the time per hop);
 * - `sched_peak_rss_mb`: the `flowgate run` process's VmHWM (the embedded
 *   scheduler; its workers are processes of their own), and its CPU seconds;
 * - `workers_peak_rss_mb`, `workers_cpu_s`: the largest VmHWM and the summed
 *   CPU of its worker processes (sampled every 100 ms while they run);
 * - `redis_peak_mb`: `used_memory_peak` of the private Redis at the end, and
 *   `redis_cpu_s`: its CPU seconds (`used_cpu_user` + `used_cpu_sys`);
 * - `cpu_ms_per_node`: scheduler + workers + Redis CPU ÷ nodes.
 *
 * With `--before DIR`, every shape is also run with the build in `DIR/dist`,
 * right after this build's run, so both are measured in the same minutes;
 * `--repeat N` runs each shape N times that way, alternating the builds.
 * `--nodes N` scales every shape to N nodes (layered: N/1000 layers of 1000).
 *
 *   npx tsx bench/scale-run.ts [--shapes wide,layered,chain] [--nodes 100000]
 *        [--n-procs 8] [--before /tmp/fg-before] [--work-root /dev/shm] [--timeout-s 1800]
 *        [--rss-trace FILE]   (the scheduler's VmRSS every 100 ms, to FILE.<shape>-<build>)
 *        [--node-args=--heap-growing-percent=0]   (flags for node running `flowgate run`)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { chain, layered, wide } from './scale-shapes.js';

const { values: args } = parseArgs({
  options: {
    shapes: { type: 'string', default: 'wide,layered,chain' },
    nodes: { type: 'string', default: '100000' },
    'n-procs': { type: 'string', default: '8' },
    before: { type: 'string' },
    'work-root': { type: 'string', default: existsSync('/dev/shm') ? '/dev/shm' : tmpdir() },
    'timeout-s': { type: 'string', default: '1800' },
    repeat: { type: 'string', default: '1' },
    'rss-trace': { type: 'string' },
    'node-args': { type: 'string', default: '' },
  },
});

const NODES = Number(args.nodes);
const SHAPES = { wide: () => wide(NODES), layered: () => layered(Math.max(1, Math.round(NODES / 1000)), Math.min(1000, NODES)), chain: () => chain(NODES) } as const;
type Shape = keyof typeof SHAPES;

/** A free TCP port on the loopback interface. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a !== null && typeof a === 'object' ? done(a.port) : fail(new Error('no port'))));
    });
  });
}

/** A redis-server of this run's own, without persistence. */
async function startRedis(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    const ok = await r
      .connect()
      .then(() => r.ping())
      .then(() => true)
      .catch(() => false);
    r.disconnect();
    if (ok) return { url, child };
    await new Promise((d) => setTimeout(d, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer`);
}

interface ProcStat {
  hwmKb: number;
  rssKb: number;
  cpuS: number;
}

/** VmHWM and user+system CPU of a live process; undefined once it is gone. */
function procStat(pid: number): ProcStat | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { hwmKb: kb('VmHWM'), rssKb: kb('VmRSS'), cpuS: ticks / 100 };
  } catch {
    return undefined;
  }
}

/** Direct children of `pid` (the worker processes of `flowgate run`). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

interface Result {
  shape: string;
  build: string;
  nodes: number;
  status: string;
  wall_s: number | null;
  nodes_per_s: number | null;
  hop_ms: number | null;
  sched_peak_rss_mb: number;
  sched_cpu_s: number;
  workers_peak_rss_mb: number;
  workers_cpu_s: number;
  redis_peak_mb: number | null;
  redis_cpu_s: number | null;
  cpu_ms_per_node: number | null;
  process_s: number;
}

async function runOnce(shape: Shape, build: string, dist: string, file: string, root: string): Promise<Result> {
  const dir = mkdtempSync(join(root, `${shape}-${build}-`));
  const redis = await startRedis(dir);
  const t0 = performance.now();
  const cli = spawn(process.execPath, [...(args['node-args'] ?? '').split(' ').filter(Boolean), join(dist, 'cli/main.js'), 'run', file, '--json', '--quiet', '--redis-url', redis.url, '--prefix', 'fgscale', '--work-dir', join(dir, 'work'), '--n-procs', args['n-procs'] ?? '8'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  cli.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const sched: ProcStat = { hwmKb: 0, rssKb: 0, cpuS: 0 };
  // With --rss-trace FILE: the scheduler's VmRSS every 100 ms ("seconds MB" lines), to see which phase peaks.
  const trace: string[] = [];
  const workers = new Map<number, ProcStat>();
  const sample = (): void => {
    const pid = cli.pid;
    if (pid === undefined) return;
    // A process that has exited (a zombie) shows no VmHWM: keep the last figures read.
    const s = procStat(pid);
    if (s !== undefined && s.hwmKb > 0) {
      Object.assign(sched, s);
      if (args['rss-trace'] !== undefined) trace.push(`${((performance.now() - t0) / 1000).toFixed(1)} ${Math.round(s.rssKb / 1024)}`);
    }
    for (const w of childrenOf(pid)) {
      const ws = procStat(w);
      if (ws !== undefined && ws.hwmKb > 0) workers.set(w, ws);
    }
  };
  const timer = setInterval(sample, 100);
  const killer = setTimeout(() => cli.kill('SIGKILL'), Number(args['timeout-s']) * 1000);
  // 'close', not 'exit': a large summary is still being read from stdout when the process exits.
  const code = await new Promise<number | null>((done) => cli.on('close', (c) => done(c)));
  clearInterval(timer);
  clearTimeout(killer);
  if (args['rss-trace'] !== undefined) writeFileSync(`${args['rss-trace']}.${shape}-${build}`, `${trace.join('\n')}\n`);
  const processS = (performance.now() - t0) / 1000;
  let redisPeakMb: number | null = null;
  let redisCpuS: number | null = null;
  const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  try {
    const info = await r.info('memory');
    redisPeakMb = Number(/used_memory_peak:(\d+)/.exec(info)?.[1] ?? NaN) / 1e6;
    const cpu = await r.info('cpu');
    redisCpuS = Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1] ?? NaN) + Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1] ?? NaN);
  } finally {
    r.disconnect();
    redis.child.kill('SIGKILL');
  }
  let summary: { status?: string; wall_s?: number } = {};
  try {
    summary = JSON.parse(stdout) as typeof summary;
  } catch {
    process.stderr.write(`${shape} ${build}: no summary (exit ${String(code)}):\n${stderr}\n`);
  }
  rmSync(dir, { recursive: true, force: true });
  const ws = [...workers.values()];
  const wall = summary.wall_s ?? null;
  const workersCpuS = ws.reduce((a, w) => a + w.cpuS, 0);
  return {
    shape: `${shape}-${NODES}`,
    build,
    nodes: NODES,
    status: summary.status ?? `exit ${String(code)}`,
    wall_s: wall,
    nodes_per_s: wall !== null ? Math.round(NODES / wall) : null,
    hop_ms: wall !== null ? Math.round((wall / NODES) * 1e5) / 100 : null,
    sched_peak_rss_mb: Math.round(sched.hwmKb / 1024),
    sched_cpu_s: Math.round(sched.cpuS * 10) / 10,
    workers_peak_rss_mb: Math.round(Math.max(0, ...ws.map((w) => w.hwmKb)) / 1024),
    workers_cpu_s: Math.round(workersCpuS * 10) / 10,
    redis_peak_mb: redisPeakMb === null ? null : Math.round(redisPeakMb),
    redis_cpu_s: redisCpuS === null ? null : Math.round(redisCpuS * 100) / 100,
    cpu_ms_per_node: redisCpuS === null ? null : Math.round(((sched.cpuS + workersCpuS + redisCpuS) / NODES) * 1e5) / 100,
    process_s: Math.round(processS * 10) / 10,
  };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(resolve(args['work-root'] ?? tmpdir()), 'fg-scale-run-'));
  const builds: Array<[string, string]> = [['after', resolve('dist')]];
  if (args.before !== undefined) builds.push(['before', resolve(args.before, 'dist')]);
  try {
    for (const shape of (args.shapes ?? '').split(',').filter(Boolean) as Shape[]) {
      if (!(shape in SHAPES)) throw new Error(`unknown shape "${shape}" (wide, layered, chain)`);
      const file = join(root, `${shape}.json`);
      writeFileSync(file, JSON.stringify(SHAPES[shape]()));
      for (let round = 0; round < Number(args.repeat); round++) {
        // Alternate which build goes first, so neither always runs right after the other.
        const order = round % 2 === 0 ? builds : [...builds].reverse();
        for (const [build, dist] of order) process.stdout.write(`${JSON.stringify(await runOnce(shape, build, dist, file, root))}\n`);
      }
    }
  } finally {
    // Leftovers of a killed run's worker fleet are in the run's own dir; the root goes last.
    for (const e of readdirSync(root)) rmSync(join(root, e), { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
