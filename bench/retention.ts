/**
 * Redis memory of a long-lived scheduler service under retention: runs of a
 * 50-node workflow (`true` nodes) submitted one after another to one
 * `flowgate scheduler` process with `flowgate worker` processes; Redis
 * `used_memory` (INFO memory) and the prefix's own footprint (MEMORY USAGE of
 * every key under it) are sampled every `--every` runs. Each run has its own
 * work dir, so no node is taken from a cache: every run enqueues 50 jobs. Prints one JSON line;
 * the goal is memory after the last run within 2x of memory after the first
 * 100, with the default retention.
 *
 *   npx tsx bench/retention.ts [--runs 1000] [--nodes 50] [--every 100] [--workers 2] [--retain-runs N] [--retain-for D]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { storeSubmission, submissionMeta } from '../src/cli/submit.js';
import { parseControlMessage } from '../src/shared/control.js';
import { Keys } from '../src/shared/keys.js';
import { validateWorkflow } from '../src/shared/workflow/parse.js';
import { deletePrefix } from './redis-keys.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    nodes: { type: 'string', default: '50' },
    every: { type: 'string', default: '100' },
    workers: { type: 'string', default: '2' },
    'n-procs': { type: 'string', default: '8' },
    'retain-runs': { type: 'string' },
    'retain-for': { type: 'string' },
  },
});

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const CLI = resolve(import.meta.dirname, '../dist/cli/main.js');
const runs = Number(args.runs);
const width = Number(args.nodes) - 2;
const every = Number(args.every);
const nProcs = Number(args['n-procs']);
const workerCount = Number(args.workers);

/** Redis `used_memory` in bytes. */
async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

/** Keys under the prefix and the sum of their MEMORY USAGE, in bytes. */
async function footprint(redis: Redis, prefix: string): Promise<{ keys: number; bytes: number }> {
  let cursor = '0';
  let keys = 0;
  let bytes = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (batch.length === 0) continue;
    const pipe = redis.pipeline();
    for (const k of batch) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
    for (const [, n] of (await pipe.exec()) ?? []) bytes += Number(n ?? 0);
    keys += batch.length;
  } while (cursor !== '0');
  return { keys, bytes };
}

async function main(): Promise<void> {
  const prefix = `fgbench-ret-${process.pid}-${Date.now()}`;
  const keys = new Keys(prefix);
  const work = mkdtempSync(join(tmpdir(), 'fgbench-ret-'));
  const retention = [...(args['retain-runs'] !== undefined ? ['--retain-runs', args['retain-runs']] : []), ...(args['retain-for'] !== undefined ? ['--retain-for', args['retain-for']] : [])];
  const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: url, FLOWGATE_PREFIX: prefix, FLOWGATE_LOG_LEVEL: 'warn' };
  delete env['FLOWGATE_RETAIN_RUNS'];
  delete env['FLOWGATE_RETAIN_FOR'];
  const procs: ChildProcess[] = [];
  const redis = new Redis(url);
  const sub = new Redis(url);
  try {
    procs.push(spawn(process.execPath, [CLI, 'scheduler', '--n-procs', String(nProcs), '--memory-gb', '16', '--work-dir', work, ...retention], { env, stdio: 'ignore' }));
    const concurrency = Math.ceil(nProcs / workerCount);
    for (let i = 0; i < workerCount; i++) procs.push(spawn(process.execPath, [CLI, 'worker', '--concurrency', String(concurrency), '--name', `bench-${i}`], { env, stdio: 'ignore' }));
    for (let i = 0; (await redis.hget(keys.service(), 'holder')) === null; i++) {
      if (i > 300) throw new Error('the scheduler service did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const nodes = [{ id: 'root', command: ['true'] }, ...Array.from({ length: width }, (_, i) => ({ id: `n${i}`, command: ['true'], needs: ['root'] })), { id: 'join', command: ['true'], needs: Array.from({ length: width }, (_, i) => `n${i}`) }];
    const workflow = validateWorkflow({ name: 'retention', nodes }, { file: 'retention.json' });
    const waiting = new Map<string, (status: string) => void>();
    sub.on('message', (_c: string, raw: string) => {
      const msg = parseControlMessage(raw);
      if (msg?.type === 'finished') waiting.get(msg.run_id)?.(msg.status);
    });
    await sub.subscribe(keys.control());
    const samples: Array<{ runs: number; used_memory: number; prefix_keys: number; prefix_bytes: number; runs_listed: number; elapsed_s: number }> = [];
    const t0 = Date.now();
    let failed = 0;
    for (let i = 1; i <= runs; i++) {
      const runId = `ret-${String(i).padStart(5, '0')}`;
      const finished = new Promise<string>((r) => waiting.set(runId, r));
      const now = Date.now();
      const meta = submissionMeta({ runId, workflow, budget: { n_procs: nProcs, mem_gb: 16 }, order: 'tsort', raiseInsufficient: true, stopOnFirstCrash: false, workDir: join(work, runId), crashdumpDir: '', memoryMargin: null }, now);
      await storeSubmission(redis, prefix, runId, meta, now);
      if ((await finished) !== 'succeeded') failed++;
      waiting.delete(runId);
      if (i % every === 0 || i === runs) {
        const fp = await footprint(redis, prefix);
        samples.push({ runs: i, used_memory: await usedMemory(redis), prefix_keys: fp.keys, prefix_bytes: fp.bytes, runs_listed: await redis.zcard(keys.runs()), elapsed_s: Math.round((Date.now() - t0) / 100) / 10 });
        process.stderr.write(`${JSON.stringify(samples.at(-1))}\n`);
      }
    }
    const first = samples.find((s) => s.runs >= 100) ?? samples[0];
    const last = samples.at(-1);
    process.stdout.write(
      `${JSON.stringify({
        bench: 'retention',
        runs,
        nodes_per_run: nodes.length,
        retention: retention.length === 0 ? 'default' : retention.join(' '),
        failed_runs: failed,
        wall_s: Math.round((Date.now() - t0) / 100) / 10,
        used_memory_ratio: first !== undefined && last !== undefined ? Math.round((last.used_memory / first.used_memory) * 1000) / 1000 : null,
        prefix_bytes_ratio: first !== undefined && last !== undefined ? Math.round((last.prefix_bytes / first.prefix_bytes) * 1000) / 1000 : null,
        samples,
      })}\n`,
    );
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
    await deletePrefix(redis, prefix);
    sub.disconnect();
    redis.disconnect();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
