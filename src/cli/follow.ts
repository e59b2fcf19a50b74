/**
 * Following a run driven by the scheduler service (`submit --wait`): the end
 * is announced on the control channel and backed by the run's stored status;
 * progress on stderr is read from the run's state in Redis once a second.
 */
import type { Redis } from 'ioredis';
import type { RunProgress } from '../scheduler/scheduler.js';
import type { RunSummary } from '../scheduler/summary.js';
import { subscribeControl } from '../shared/control.js';
import { Keys } from '../shared/keys.js';
import { createRedis } from '../shared/redis.js';
import { listWorkers } from '../shared/worker-registry.js';
import { ProgressReporter } from './progress.js';

/** How a followed run ended. */
export type FollowResult = { summary: RunSummary } | { error: string };

/** Reads a progress picture of a run from Redis. */
async function readProgress(redis: Redis, prefix: string, runId: string, ids: readonly string[]): Promise<RunProgress> {
  const keys = new Keys(prefix);
  const [states, waitingRaw, workers] = await Promise.all([
    redis.hgetall(keys.runStates(runId)),
    redis.get(keys.runWaiting(runId)),
    listWorkers(redis, prefix),
  ]);
  const counts: Record<string, number> = {};
  const running: string[] = [];
  for (const [index, state] of Object.entries(states)) {
    counts[state] = (counts[state] ?? 0) + 1;
    if (state === 'running') running.push(ids[Number(index)] ?? index);
  }
  if (Object.keys(states).length === 0) counts['waiting'] = ids.length;
  const snapshot = waitingRaw === null ? undefined : (JSON.parse(waitingRaw) as Pick<RunProgress, 'budget' | 'free' | 'waiting'>);
  const lost = workers.filter((w) => w.status === 'lost').length;
  return {
    counts,
    running,
    budget: snapshot?.budget ?? { n_procs: 0, mem_gb: 0 },
    free: snapshot?.free ?? { n_procs: 0, mem_gb: 0 },
    waiting: snapshot?.waiting ?? [],
    workers: { alive: workers.length - lost, lost },
  };
}

/** Waits for a submitted run to end; prints progress unless `quiet`. */
export async function followRun(redisUrl: string, prefix: string, runId: string, nodeIds: readonly string[], quiet: boolean): Promise<FollowResult> {
  const keys = new Keys(prefix);
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: null });
  let sub: Redis | undefined;
  redis.on('error', () => undefined);
  let latest: RunProgress | undefined;
  const startedAt = Date.now();
  const reporter = quiet ? undefined : new ProgressReporter(() => latest ?? { counts: { waiting: nodeIds.length }, running: [], budget: { n_procs: 0, mem_gb: 0 }, free: { n_procs: 0, mem_gb: 0 }, waiting: [], workers: { alive: 0, lost: 0 } }, nodeIds.length, startedAt);
  let timer: NodeJS.Timeout | undefined;
  try {
    await redis.connect();
    return await new Promise<FollowResult>((resolve, reject) => {
      let settled = false;
      const check = async (): Promise<void> => {
        if (settled) return;
        const [status, summary, error] = await redis.hmget(keys.runMeta(runId), 'status', 'summary', 'error');
        if (status === 'submitted' || status === 'running' || status === null) {
          if (!quiet && status === 'running') latest = await readProgress(redis, prefix, runId, nodeIds);
          return;
        }
        settled = true;
        if (summary !== null && summary !== undefined) {
          const final = JSON.parse(summary) as RunSummary;
          const budget = { n_procs: final.budget.n_procs, mem_gb: final.budget.memory_gb };
          latest = { counts: { ...final.counts }, running: [], budget, free: budget, waiting: [], workers: latest?.workers ?? { alive: 0, lost: 0 } };
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
