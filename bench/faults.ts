/**
 * Fault-tolerance benchmarks, one JSON line each on stdout:
 *
 *  - recycling: fanout-200 as function nodes (a no-op function) with
 *    --max-tasks-per-child 1, 10 and unlimited, plus the command-node
 *    fanout-200 for reference: wall time, nodes/s, executor processes used;
 *  - detect: time from SIGKILL of the worker running a node to the node's
 *    next start on a replacement worker, with the default lock settings
 *    (30 s lock, 30 s stalled check) and with fast ones (2 s / 0.5 s).
 *
 *   npx tsx bench/faults.ts [--only recycling|detect]
 *
 * Uses the built CLI (dist/cli/main.js) and REDIS_URL (default
 * redis://127.0.0.1:6379); every run has its own key prefix, deleted after.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { deletePrefix } from './redis-keys.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/cli/main.js');
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

interface Summary {
  wall_s: number;
  status: string;
  nodes: Array<{ id: string; start_ms: number | null; end_ms: number | null; outputs?: { pid?: number }; attempt_history: Array<{ start_ms: number | null }> }>;
}

async function cleanup(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    await deletePrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

function runFlowgate(args: string[], onStart?: (dir: string, kill: (pid: number) => void) => Promise<void>): Promise<{ summary: Summary; wallS: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'fgbench-faults-'));
  const prefix = `fgbench-faults-${process.pid}-${Date.now()}`;
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, 'run', ...args, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work')], {
      env: { ...process.env, REDIS_URL },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    if (onStart !== undefined) void onStart(dir, (pid) => process.kill(pid, 'SIGKILL')).catch(reject);
    child.on('close', () => {
      const wallS = (Date.now() - started) / 1000;
      void cleanup(prefix).then(() => {
        rmSync(dir, { recursive: true, force: true });
        try {
          resolvePromise({ summary: JSON.parse(out) as Summary, wallS });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
  });
}

async function recycling(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fgbench-wf-'));
  const fnWf = join(dir, 'fanout-200-fn.json');
  const nodes = Array.from({ length: 200 }, (_, i) => ({ id: `n${i}`, function: { module: join(ROOT, 'bench/fixtures/noop.mjs'), export: 'noop' } }));
  writeFileSync(fnWf, JSON.stringify({ name: 'fanout-200-fn', nodes }));
  const cmdWf = join(dir, 'fanout-200.json');
  writeFileSync(cmdWf, JSON.stringify({ name: 'fanout-200', nodes: Array.from({ length: 200 }, (_, i) => ({ id: `n${i}`, command: ['true'] })) }));
  const budget = ['--n-procs', '8', '--memory-gb', '16'];
  for (const [label, file, max] of [
    ['function nodes, max-tasks-per-child 1', fnWf, '1'],
    ['function nodes, max-tasks-per-child 10', fnWf, '10'],
    ['function nodes, unlimited', fnWf, '1000000'],
    ['command nodes (each its own process)', cmdWf, '10'],
  ] as const) {
    const { summary, wallS } = await runFlowgate([file, ...budget, '--max-tasks-per-child', max]);
    const pids = new Set(summary.nodes.map((n) => n.outputs?.pid).filter((p) => p !== undefined));
    process.stdout.write(
      `${JSON.stringify({ bench: 'recycling', case: label, status: summary.status, run_wall_s: summary.wall_s, process_wall_s: wallS, nodes_per_s: Math.round(200 / summary.wall_s), executor_processes: pids.size })}\n`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
}

async function detect(): Promise<void> {
  for (const [label, flags] of [
    ['fast settings (--lock-duration-ms 2000 --stalled-interval-ms 500)', ['--lock-duration-ms', '2000', '--stalled-interval-ms', '500']],
    ['defaults (30 s lock, 30 s stalled check)', []],
  ] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'fgbench-wf-'));
    const marker = join(dir, 'killed');
    const wf = join(dir, 'victim.json');
    writeFileSync(wf, JSON.stringify({ name: 'victim', nodes: [{ id: 'victim', command: `if [ -e ${marker} ]; then exit 0; fi; echo $FLOWGATE_WORKER_PID > worker; exec sleep 300` }] }));
    let killedAt = 0;
    const { summary } = await runFlowgate([wf, '--n-procs', '1', '--memory-gb', '1', ...flags], async (runDir) => {
      const pidFile = join(runDir, 'work', 'victim', 'victim', 'worker');
      const deadline = Date.now() + 60_000;
      while (!(existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '')) {
        if (Date.now() > deadline) throw new Error('victim never started');
        await new Promise((r) => setTimeout(r, 20));
      }
      writeFileSync(marker, '1');
      killedAt = Date.now();
      process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
    });
    const victim = summary.nodes[0];
    const restartedAt = victim?.start_ms ?? 0;
    process.stdout.write(
      `${JSON.stringify({ bench: 'detect-lost-worker', case: label, status: summary.status, kill_to_rerun_s: Math.round((restartedAt - killedAt) / 10) / 100 })}\n`,
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
if (only === undefined || only === 'recycling') await recycling();
if (only === undefined || only === 'detect') await detect();
