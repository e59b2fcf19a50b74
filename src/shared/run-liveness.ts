/**
 * Who drives the runs, as Redis says it now: the run leases, the scheduler
 * service's leader lease and whether the node queue is paused. Read in one
 * pipeline, for the run views (see `effectiveRunStatus` in effective-state.ts).
 */
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';

/** What the views need to tell a driven run from an orphaned one. */
export interface Liveness {
  /** Holder (`host:pid`) of the scheduler service's leader lease; null when no service leads. */
  leader: string | null;
  /** Whether the node queue is paused (BullMQ's `paused` flag). */
  queuePaused: boolean;
  /** Run id -> holder of its run lease, null when the lease is absent (expired). */
  leases: Map<string, string | null>;
}

/** Reads the leader, the queue's paused flag and the leases of `runIds`, in one round trip. */
export async function readLiveness(redis: Redis, prefix: string, runIds: readonly string[]): Promise<Liveness> {
  const keys = new Keys(prefix);
  const pipe = redis.pipeline().get(keys.leader()).hexists(keys.nodeQueueMeta(), 'paused');
  for (const id of runIds) pipe.get(keys.runLease(id));
  const replies = (await pipe.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  const leases = new Map<string, string | null>();
  runIds.forEach((id, i) => leases.set(id, (replies[i + 2]?.[1] as string | null | undefined) ?? null));
  return {
    leader: (replies[0]?.[1] as string | null | undefined) ?? null,
    queuePaused: replies[1]?.[1] === 1,
    leases,
  };
}
