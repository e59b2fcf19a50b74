/**
 * Scheduler service throughput: many small runs submitted at once to one
 * `flowgate scheduler` process sharing one budget, executed by `flowgate
 * worker` processes (or, with --noop, by an in-process BullMQ worker that
 * completes each job at once, to separate the service's own cost from process
 * spawning). Prints one JSON line: nodes/s over the whole batch and per-run
 * latency (submission -> run finished).
 *
 *   npx tsx bench/service.ts [--runs 50] [--workload diamond-500] [--workers 2] [--noop]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { storeSubmission, submissionMeta } from '../src/cli/submit.js';
import { parseControlMessage } from '../src/shared/control.js';
import { Keys } from '../src/shared/keys.js';
import { NODE_QUEUE, type NodeOutcome } from '../src/shared/payloads.js';
import { loadWorkflowFile } from '../src/shared/workflow/parse.js';
import { deletePrefix } from './redis-keys.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '50' },
    workload: { type: 'string', default: 'diamond-500' },
    workers: { type: 'string', default: '2' },
    'n-procs': { type: 'string', default: '8' },
    'memory-gb': { type: 'string', default: '16' },
    noop: { type: 'boolean', default: false },
    dir: { type: 'string', default: resolve(import.meta.dirname, '../../shared/workloads') },
  },
});

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const CLI = resolve(import.meta.dirname, '../dist/cli/main.js');
const runs = Number(args.runs);
const nProcs = Number(args['n-procs']);
const memoryGb = Number(args['memory-gb']);
const workerCount = Number(args.workers);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? NaN;
}

async function main(): Promise<void> {
  const prefix = `fgbench-svc-${process.pid}-${Date.now()}`;
  const keys = new Keys(prefix);
  const work = mkdtempSync(join(tmpdir(), 'fgbench-svc-'));
  const env = { ...process.env, REDIS_URL: url, FLOWGATE_PREFIX: prefix, FLOWGATE_LOG_LEVEL: 'warn' };
  const procs: ChildProcess[] = [];
  const redis = new Redis(url);
  const sub = new Redis(url);
  let noopWorker: Worker | undefined;
  try {
    procs.push(spawn(process.execPath, [...(process.env['FG_PROF'] ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []), CLI, 'scheduler', '--n-procs', String(nProcs), '--memory-gb', String(memoryGb), '--work-dir', work], { env, stdio: 'ignore' }));
    if (args.noop) {
      noopWorker = new Worker<unknown, NodeOutcome>(
        NODE_QUEUE,
        async () => {
          const now = Date.now();
          return { ok: true, exit_code: 0, signal: null, start_ms: now, end_ms: now, worker: 'in-process', host: 'bench', pid: null, reason: null, failure: null, stderr_tail: '', stdout_path: '', stderr_path: '', cpu_s: null, peak_rss_mb: null };
        },
        { connection: { url, maxRetriesPerRequest: null }, prefix, concurrency: nProcs },
      );
    } else {
      const concurrency = Math.ceil(nProcs / workerCount);
      for (let i = 0; i < workerCount; i++) {
        procs.push(spawn(process.execPath, [CLI, 'worker', '--concurrency', String(concurrency), '--name', `bench-${i}`], { env, stdio: 'ignore' }));
      }
    }
    // The service leads once its hash appears.
    for (let i = 0; (await redis.hget(keys.service(), 'holder')) === null; i++) {
      if (i > 300) throw new Error('the scheduler service did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const workflow = loadWorkflowFile(resolve(args.dir, `${args.workload}.json`));
    const finished = new Map<string, number>();
    let allDone: () => void = () => undefined;
    const done = new Promise<void>((r) => (allDone = r));
    sub.on('message', (_c: string, raw: string) => {
      const msg = parseControlMessage(raw);
      if (msg?.type === 'finished' && !finished.has(msg.run_id)) {
        finished.set(msg.run_id, Date.now());
        if (finished.size === runs) allDone();
      }
    });
    await sub.subscribe(keys.control());
    const t0 = Date.now();
    const ids = Array.from({ length: runs }, (_, i) => `bench-${String(i).padStart(3, '0')}`);
    const submittedAt = new Map<string, number>();
    for (const runId of ids) {
      const now = Date.now();
      submittedAt.set(runId, now);
      const meta = submissionMeta(
        { runId, workflow, budget: { n_procs: nProcs, mem_gb: memoryGb }, order: 'tsort', raiseInsufficient: true, stopOnFirstCrash: false, workDir: '', crashdumpDir: '', memoryMargin: null },
        now,
      );
      await storeSubmission(redis, prefix, runId, meta, now);
    }
    const submitS = (Date.now() - t0) / 1000;
    await done;
    const wallS = (Date.now() - t0) / 1000;
    const statuses = await Promise.all(ids.map((id) => redis.hmget(keys.runMeta(id), 'status', 'started_ms')));
    const latencies = ids.map((id) => ((finished.get(id) ?? NaN) - (submittedAt.get(id) ?? NaN)) / 1000).sort((a, b) => a - b);
    const startDelays = ids.map((id, i) => (Number(statuses[i]?.[1]) - (submittedAt.get(id) ?? NaN)) / 1000).sort((a, b) => a - b);
    const nodes = runs * workflow.nodes.length;
    process.stdout.write(
      `${JSON.stringify({
        bench: 'service',
        workload: args.workload,
        runs,
        nodes,
        workers: args.noop ? 'in-process no-op' : `${workerCount} x flowgate worker`,
        budget: { n_procs: nProcs, memory_gb: memoryGb },
        all_succeeded: statuses.every(([s]) => s === 'succeeded'),
        submit_s: Math.round(submitS * 1000) / 1000,
        wall_s: Math.round(wallS * 100) / 100,
        nodes_per_s: Math.round(nodes / wallS),
        run_latency_s: { min: pct(latencies, 0), p50: pct(latencies, 0.5), p95: pct(latencies, 0.95), max: pct(latencies, 1) },
        run_start_delay_s: { p50: pct(startDelays, 0.5), max: pct(startDelays, 1) },
      })}\n`,
    );
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
    await noopWorker?.close();
    await deletePrefix(redis, prefix);
    sub.disconnect();
    redis.disconnect();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
