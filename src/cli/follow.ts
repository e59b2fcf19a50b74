/**
 * Following a run driven by the scheduler service (`submit --wait`): the end
 * is announced on the control channel and backed by the run's stored status;
 * progress on stderr is read from the run's state in Redis once a second.
 */
import type { Redis } from 'ioredis';
import type { RunProgress } from '../scheduler/scheduler.js';
import type { RunSummary } from '../scheduler/summary.js';
import { loadRunSummary } from '../scheduler/summary-load.js';
import { subscribeControl } from '../shared/control.js';
import { Keys } from '../shared/keys.js';
import { createRedis } from '../shared/redis.js';
import { readRunProgress } from '../shared/run-reader.js';
import { parseWaiting } from '../shared/run-view.js';
import { listWorkers } from '../shared/worker-registry.js';
import { ProgressReporter } from './progress.js';

/** How a followed run ended. */
export type FollowResult = { summary: RunSummary } | { error: string };

/** A progress picture and the run's node count (map elements included). */
interface ProgressRead {
  progress: RunProgress;
  total: number;
}

/**
 * Reads a progress picture of a run from Redis, through the same reader as
 * `flowgate status` and the board (a node is running from the moment its
 * worker claims it). The budget comes from the scheduler's snapshot, else
 * from the run's stored budget (0 when no scheduler has taken the run yet).
 */
async function readProgress(redis: Redis, prefix: string, runId: string): Promise<ProgressRead | undefined> {
  const keys = new Keys(prefix);
  const [read, waitingRaw, workers] = await Promise.all([readRunProgress(redis, prefix, runId), redis.get(keys.runWaiting(runId)), listWorkers(redis, prefix)]);
  if (read === undefined) return undefined;
  const snapshot = parseWaiting(waitingRaw);
  const stored = { n_procs: read.item.budget.n_procs, mem_gb: read.item.budget.memory_gb };
  const lost = workers.filter((w) => w.status === 'lost').length;
  return {
    progress: {
      counts: { ...read.item.counts },
      running: read.running,
      budget: snapshot?.budget ?? stored,
      free: snapshot?.free ?? stored,
      waiting: snapshot?.waiting ?? [],
      workers: { alive: workers.length - lost, lost },
    },
    total: read.item.total,
  };
}

/** Waits for a submitted run to end; prints progress unless `quiet`. */
export async function followRun(redisUrl: string, prefix: string, runId: string, nodeIds: readonly string[], quiet: boolean): Promise<FollowResult> {
  const keys = new Keys(prefix);
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: null });
  let sub: Redis | undefined;
  redis.on('error', () => undefined);
  let latest: RunProgress = { counts: { waiting: nodeIds.length }, running: [], budget: { n_procs: 0, mem_gb: 0 }, free: { n_procs: 0, mem_gb: 0 }, waiting: [], workers: { alive: 0, lost: 0 } };
  let total = nodeIds.length;
  const startedAt = Date.now();
  const reporter = quiet ? undefined : new ProgressReporter(() => latest, () => total, startedAt);
  const update = async (): Promise<void> => {
    const read = await readProgress(redis, prefix, runId);
    if (read === undefined) return;
    latest = read.progress;
    total = read.total;
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await redis.connect();
    // The first line shows the run as stored, not a blank picture.
    if (!quiet) await update().catch(() => undefined);
    return await new Promise<FollowResult>((resolve, reject) => {
      let settled = false;
      const check = async (): Promise<void> => {
        if (settled) return;
        const [status, summary, error] = await redis.hmget(keys.runMeta(runId), 'status', 'summary', 'error');
        if (status === 'submitted' || status === 'running' || status === null) {
          if (!quiet) await update();
          return;
        }
        const final = await loadRunSummary(redis, prefix, runId, summary);
        if (settled) return;
        settled = true;
        if (final !== undefined) {
          const budget = { n_procs: final.budget.n_procs, mem_gb: final.budget.memory_gb };
          latest = { counts: { ...final.counts }, running: [], budget, free: budget, waiting: [], workers: latest.workers };
          total = final.nodes.length;
          resolve({ summary: final });
        }
        else resolve({ error: error ?? `run ended ${status ?? 'unknown'} without a summary` });
      };
      const guarded = (): void => {
        check().catch((err: unknown) => {
          // Redis blips are retried on the next tick; only give up on bad data.
          if (err instanceof SyntaxError) reject(err);
        });
      };
      subscribeControl(
        redisUrl,
        prefix,
        (msg) => {
          if (msg.type === 'finished' && msg.run_id === runId) guarded();
        },
        () => undefined,
      )
        .then((subscriber) => {
          sub = subscriber;
          reporter?.start();
          guarded();
          timer = setInterval(guarded, 1000);
        })
        .catch(reject);
    });
  } finally {
    if (timer !== undefined) clearInterval(timer);
    reporter?.stop();
    sub?.disconnect();
    redis.disconnect();
  }
}
