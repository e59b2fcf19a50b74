/**
 * The BullMQ workers of a node worker, one per queue: the shared node queue
 * (one budget for every worker) and this host's own (per-host placement puts
 * a node's job there, so that only this host's workers take it). The
 * scheduler fills one or the other.
 */
import type { Job } from 'bullmq';
import { requireCjs } from '../shared/cjs.js';
import { WORKER_DEFAULTS } from '../shared/options/defaults.js';
import { hostQueue, NODE_QUEUE, type NodeJobRef, type NodeOutcome } from '../shared/payloads.js';
import { bullConnection, coalesceWrites } from '../shared/redis.js';
import type { Releasers } from '../shared/releasers.js';
import type { NodeWorkerOptions } from './node-worker-types.js';

const { Worker } = requireCjs('bullmq') as typeof import('bullmq');
/** A BullMQ worker of node jobs. */
export type QueueWorker = import('bullmq').Worker<NodeJobRef, NodeOutcome>;

/**
 * Makes the workers of the node queue and of the host's own queue, not yet
 * running; each closes gracefully with `releasers`, waiting for its running
 * nodes (a forced close cuts it short).
 */
export function makeQueueWorkers(
  o: NodeWorkerOptions,
  name: string,
  hostId: string,
  processor: (job: Job<NodeJobRef, NodeOutcome>, token: string | undefined) => Promise<NodeOutcome>,
  releasers: Releasers,
): { worker: QueueWorker; hostWorker: QueueWorker } {
  const makeWorker = (queue: string): QueueWorker => {
    const w = new Worker<NodeJobRef, NodeOutcome>(queue, processor, {
      connection: bullConnection(o.redisUrl),
      prefix: o.prefix,
      concurrency: o.concurrency,
      lockDuration: o.lockDurationMs ?? WORKER_DEFAULTS.lock_duration_ms,
      stalledInterval: o.stalledIntervalMs ?? WORKER_DEFAULTS.stalled_interval_ms,
      maxStalledCount: o.maxStalledCount ?? WORKER_DEFAULTS.max_stalled_count,
      name,
      autorun: false,
    });
    // Graceful: waits for running nodes to finish (a forced close cuts it short).
    releasers.add(`the queue worker (${queue})`, () => w.close(), Infinity);
    w.on('error', (err) => o.logger.error({ err, queue }, 'worker error'));
    // Its commands of one turn in one write, as the worker's own connections (see coalesceWrites).
    void w
      .getBackend()
      .client.then((client) => coalesceWrites(client as unknown as Parameters<typeof coalesceWrites>[0]))
      .catch(() => undefined);
    return w;
  };
  return { worker: makeWorker(NODE_QUEUE), hostWorker: makeWorker(hostQueue(hostId)) };
}
