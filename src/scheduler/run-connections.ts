/**
 * The Redis side of one run's scheduler, opened and closed as a unit: the
 * run-state connection with its outage watch, the queue channel (its own or
 * the service's), the run store and lease, and the control subscriber.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { subscribeControl, type ControlMessage } from '../shared/control.js';
import { FlowgateError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { NodeJobRef } from '../shared/payloads.js';
import { createRedis, dropConnection, redactUrl } from '../shared/redis.js';
import type { Incoming } from './incoming.js';
import { JobChannel } from './job-channel.js';
import { OutageWatch } from './outage-watch.js';
import { RunLease, RunStore } from './run-store.js';
import { CLOSE_STEP_MS, releaseInTurn } from './scheduler-support.js';

/** Where and how to connect. */
export interface ConnectionOptions {
  redisUrl: string;
  prefix: string;
  runId: string;
  channel?: JobChannel;
  leaseTtlMs?: number;
  redisOutageMs?: number;
}

/** What the connections report to their run. */
export interface ConnectionHandlers {
  incoming(ev: Incoming): void;
  /** Resolves once the events handed to `incoming` so far have been applied. */
  settled(): Promise<void>;
  control(msg: ControlMessage): void;
  /** Unrecoverable: Redis gone for too long, or the lease taken by another scheduler. */
  fatal(err: FlowgateError): void;
  /** Redis answers again after an outage. */
  reconnected(): void;
  /** The node queue was paused or resumed. */
  pausedChanged?(paused: boolean): void;
}

/** The open connections of a run. */
export interface RunConnections {
  redis: Redis;
  subscriber: Redis;
  outage: OutageWatch;
  jobs: JobChannel;
  queue: Queue<NodeJobRef>;
  store: RunStore;
  lease: RunLease;
}

/** Opens everything a run's scheduler talks to. */
export async function openRunConnections(o: ConnectionOptions, h: ConnectionHandlers, log: Logger): Promise<RunConnections> {
  // Run state has its own connection: BullMQ defines its Lua scripts on the
  // queue's connection, and every MULTI on such a client copies them all.
  const redis = createRedis(o.redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', (err: unknown) => log.debug({ err }, 'redis error'));
  const limit = o.redisOutageMs ?? 60_000;
  const outage = new OutageWatch(
    redis,
    limit,
    log,
    () =>
      h.fatal(
        new FlowgateError(
          'INFRASTRUCTURE',
          `Redis at ${redactUrl(o.redisUrl)} has been unreachable for ${limit / 1000} s; the run stops here (resume it with \`flowgate resume ${o.runId}\` once Redis is back)`,
        ),
      ),
    h.reconnected,
  );
  await redis.connect();
  const jobs = o.channel ?? new JobChannel(o.redisUrl, o.prefix, log);
  jobs.subscribe(o.runId, { incoming: h.incoming, settled: h.settled, ...(h.pausedChanged !== undefined ? { pausedChanged: h.pausedChanged } : {}) });
  const queue = await jobs.open(redis);
  const store = new RunStore(redis, o.prefix, o.runId);
  const lease = new RunLease(redis, o.prefix, o.runId, o.leaseTtlMs);
  lease.onLost = (holder) =>
    h.fatal(new FlowgateError('INFRASTRUCTURE', `run ${o.runId} is now driven by ${holder ?? 'nobody'}: this scheduler lost its lease (Redis was out of reach for too long) and stops`));
  const subscriber = await subscribeControl(o.redisUrl, o.prefix, h.control, (err) => log.warn({ err }, 'redis subscriber error'));
  return { redis, subscriber, outage, jobs, queue, store, lease };
}

/**
 * Closes a run's connections, each step bounded: with Redis gone there is
 * nobody to say goodbye to, so the connections are just dropped. A shared
 * channel belongs to the service and is left open. Returns the errors.
 */
export async function closeRunConnections(c: Partial<RunConnections>, runId: string, ownChannel: boolean): Promise<unknown[]> {
  const down = c.outage?.isDown === true;
  c.outage?.stop();
  c.jobs?.unsubscribe(runId);
  if (down && ownChannel) void c.jobs?.close(true);
  const steps = down
    ? []
    : [() => c.subscriber?.quit(), () => c.lease?.release(), () => (ownChannel ? c.jobs?.close(false) : undefined), () => c.redis?.quit()];
  const errors = await releaseInTurn(steps, CLOSE_STEP_MS);
  dropConnection(c.subscriber);
  dropConnection(c.redis);
  return errors;
}
