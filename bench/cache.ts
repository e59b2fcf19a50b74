/**
 * Cache check cost: runs a workload once into a fresh work dir, then again
 * unchanged (every node is a cache hit), with each hash method. Prints one
 * JSON line per method: the no-change rerun's run time, its cost per node and
 * the whole command's wall time (process start, fleet, Redis included).
 *
 *   npx tsx bench/cache.ts [--workload fanout-2000]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { RunSummary } from '../src/scheduler/summary.js';
import { deletePrefix } from './redis-keys.js';

const { values: args } = parseArgs({
  options: {
    workload: { type: 'string', default: 'fanout-2000' },
    dir: { type: 'string', default: resolve(import.meta.dirname, '../../shared/workloads') },
  },
});
const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const CLI = resolve(import.meta.dirname, '../dist/cli/main.js');

function run(file: string, workDir: string, prefix: string, method: string): { summary: RunSummary; wallS: number } {
  const t0 = performance.now();
  const res = spawnSync(process.execPath, [CLI, 'run', file, '--json', '--quiet', '--n-procs', '8', '--memory-gb', '16', '--work-dir', workDir, '--prefix', prefix, '--hash-method', method], {
    env: { ...process.env, REDIS_URL: url },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (res.status !== 0) throw new Error(`run failed (${String(res.status)}): ${res.stderr}`);
  return { summary: JSON.parse(res.stdout) as RunSummary, wallS: (performance.now() - t0) / 1000 };
}

const file = resolve(args.dir, `${args.workload}.json`);
const redis = new Redis(url);
for (const method of ['timestamp', 'content']) {
  const workDir = mkdtempSync(join(tmpdir(), 'fgbench-cache-'));
  const prefix = `fgbench-cache-${process.pid}-${method}`;
  try {
    const first = run(file, workDir, prefix, method);
    const again = run(file, workDir, prefix, method);
    const n = again.summary.nodes.length;
    process.stdout.write(
      `${JSON.stringify({
        bench: 'cache',
        workflow: args.workload,
        hash_method: method,
        nodes: n,
        first_run_s: first.summary.wall_s,
        rerun_cached: again.summary.counts.cached,
        rerun_run_s: again.summary.wall_s,
        rerun_ms_per_node: Math.round((again.summary.wall_s * 1000 * 1000) / n) / 1000,
        rerun_command_wall_s: Math.round(again.wallS * 100) / 100,
      })}\n`,
    );
  } finally {
    await deletePrefix(redis, prefix);
    rmSync(workDir, { recursive: true, force: true });
  }
}
redis.disconnect();
