/**
 * Orchestration throughput without process costs: the real scheduler (admission,
 * ledger, durable state, events) drives fanout-2000 and chain-100 through the
 * real queue, but an in-process BullMQ worker completes each job at once
 * instead of spawning the node. Separates flowgate's own per-node cost from
 * the cost of starting processes. One JSON line per workload on stdout.
 *
 *   npx tsx bench/orchestration.ts
 */
import { resolve } from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { deletePrefix } from './redis-keys.js';
import { RunScheduler } from '../src/scheduler/scheduler.js';
import { silentLogger } from '../src/shared/logger.js';
import type { NodeOutcome } from '../src/shared/payloads.js';
import { loadWorkflowFile } from '../src/shared/workflow/parse.js';

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const workloads = resolve(import.meta.dirname, '../../shared/workloads');

async function one(name: string): Promise<void> {
  const prefix = `fgbench-orch-${process.pid}-${Date.now()}`;
  const worker = new Worker<unknown, NodeOutcome>(
    'nodes',
    async () => {
      const now = Date.now();
      return { ok: true, exit_code: 0, signal: null, start_ms: now, end_ms: now, worker: 'in-process', host: 'bench', pid: null, reason: null, failure: null, stderr_tail: '', stdout_path: '', stderr_path: '', cpu_s: null, peak_rss_mb: null };
    },
    { connection: { url, maxRetriesPerRequest: null }, prefix, concurrency: 8 },
  );
  const workflow = loadWorkflowFile(resolve(workloads, `${name}.json`));
  const scheduler = new RunScheduler({
    runId: 'orchestration',
    workflow,
    budget: { n_procs: 8, mem_gb: 16 },
    order: 'tsort',
    raiseInsufficient: true,
    stopOnFirstCrash: false,
    workDir: `/tmp/${prefix}`,
    crashdumpDir: `/tmp/${prefix}/crashes`,
    memoryMargin: null,
    redisUrl: url,
    prefix,
    logger: silentLogger(),
  });
  const cpu0 = process.cpuUsage();
  await scheduler.start();
  const summary = await scheduler.whenFinished();
  const cpu = process.cpuUsage(cpu0);
  await scheduler.close();
  await worker.close();
  const redis = new Redis(url);
  await deletePrefix(redis, prefix);
  redis.disconnect();
  const n = workflow.nodes.length;
  process.stdout.write(
    `${JSON.stringify({ bench: 'orchestration', workflow: name, nodes: n, status: summary.status, run_wall_s: summary.wall_s, nodes_per_s: Math.round(n / summary.wall_s), ms_per_node: Math.round((summary.wall_s * 1000 * 100) / n) / 100, cpu_ms_per_node_scheduler_and_worker: Math.round(((cpu.user + cpu.system) / 1000 / n) * 100) / 100 })}\n`,
  );
}

for (const name of ['fanout-2000', 'chain-100', 'diamond-500']) await one(name);
