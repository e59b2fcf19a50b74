/**
 * The Redis side of one run's scheduler, opened and closed as a unit: the
 * run-state connection with its outage watch, the queue channel (its own or
 * the service's), the run store and lease, and the control subscriber.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { subscribeControl, type ControlMessage } from '../shared/control.js';
import { FlowgateError, ValidationError } from '../shared/errors.js';
import { Keys } from '../shared/keys.js';
import { Lease } from '../shared/lease.js';
import type { Logger } from '../shared/logger.js';
import type { NodeJobRef } from '../shared/payloads.js';
import { closeRedis, connectionName, createRedis, redactUrl } from '../shared/redis.js';
import { SingleFlight } from '../shared/lifecycle.js';
import { registerOpen, unregisterOpen } from '../shared/open-components.js';
import { Releasers, withReleasers } from '../shared/releasers.js';
import type { Incoming } from './incoming.js';
import { JobChannel } from './job-channel.js';
import { OutageWatch } from './outage-watch.js';
import { RunStore } from './run-store.js';
import { CLOSE_STEP_MS } from './scheduler-support.js';
import { RUN_DEFAULTS } from '../shared/options/defaults.js';

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

/**
 * The open connections of a run. Everything is opened by {@link openRunConnections}
 * and released, in reverse order, by {@link close}.
 */
export class RunConnections {
  private readonly closing = new SingleFlight(true);

  constructor(
    readonly redis: Redis,
    readonly outage: OutageWatch,
    readonly jobs: JobChannel,
    readonly queue: Queue<NodeJobRef>,
    readonly store: RunStore,
    /** The run's lease: one scheduler drives a run at a time (taken by {@link takeRunLease}). */
    readonly lease: Lease,
    readonly subscriber: Redis,
    private readonly releasers: Releasers,
  ) {}

  /**
   * Closes everything, the last opened first, each step bounded: with Redis
   * gone there is nobody to say goodbye to, so connections are just dropped.
   * A shared channel belongs to the service and is left open. Throws one
   * `AggregateError`; a failed close can be called again (it retries the
   * steps that failed).
   */
  close(): Promise<void> {
    return this.closing.run(async () => {
      await this.releasers.release(`errors while closing the connections of run ${this.store.runId}`);
      unregisterOpen(this);
    });
  }
}

/**
 * Opens everything a run's scheduler talks to. If a step fails, what was
 * opened before it is closed again before the error is thrown.
 */
export async function openRunConnections(o: ConnectionOptions, h: ConnectionHandlers, log: Logger): Promise<RunConnections> {
  const r = new Releasers(CLOSE_STEP_MS);
  return withReleasers(r, async () => {
    // Run state has its own connection: BullMQ defines its Lua scripts on the
    // queue's connection, and every MULTI on such a client copies them all.
    const redis = createRedis(o.redisUrl, { maxRetriesPerRequest: null, connectionName: connectionName(o.prefix, 'run') });
    redis.on('error', (err: unknown) => log.debug({ err }, 'redis error'));
    const limit = o.redisOutageMs ?? RUN_DEFAULTS.redis_outage_ms;
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
    const down = (): boolean => outage.isDown;
    r.add('the run-state connection', () => closeRedis(redis, down()));
    r.add('the outage watch', () => outage.stop());
    await redis.connect();
    const jobs = o.channel ?? new JobChannel(o.redisUrl, o.prefix, log);
    // A shared channel belongs to the service.
    if (o.channel === undefined) r.add('the queue channel', () => jobs.close(down()));
    jobs.subscribe(o.runId, { incoming: h.incoming, settled: h.settled, ...(h.pausedChanged !== undefined ? { pausedChanged: h.pausedChanged } : {}) });
    r.add('the queue events subscription', () => jobs.unsubscribe(o.runId));
    const queue = await jobs.open(redis);
    const store = new RunStore(redis, o.prefix, o.runId);
    const lease = new Lease(redis, new Keys(o.prefix).runLease(o.runId), { ttlMs: o.leaseTtlMs ?? 15_000 }, (err, event) => log.error({ err, event }, 'listener failed'));
    lease.on('lease:lost', ({ holder }) =>
      h.fatal(new FlowgateError('LEASE_LOST', `run ${o.runId} is now driven by ${holder}: this scheduler lost its lease (Redis was out of reach for too long) and stops`)),
    );
    lease.on('lease:retaken', () => log.warn({ runId: o.runId }, 'the run lease expired while Redis was unreachable; nobody took it, taken back'));
    lease.on('lease:unreachable', ({ err }) => log.debug({ err, runId: o.runId }, 'cannot renew the run lease; trying again'));
    // Whether or not it can be released now, the lease is no longer renewed:
    // a renewal after Redis returned would keep a closed run leased.
    r.add('the run lease', () => {
      lease.stopRenewing();
      return down() ? undefined : lease.release();
    });
    const subscriber = await subscribeControl(o.redisUrl, o.prefix, h.control, (err) => log.warn({ err }, 'redis subscriber error'));
    r.add('the control subscriber', () => closeRedis(subscriber, down()));
    const c = new RunConnections(redis, outage, jobs, queue, store, lease, subscriber, r);
    registerOpen(c, `connections of run ${o.runId}`);
    return c;
  });
}

/**
 * Takes the run's lease (renewed from then on until the connections close),
 * or refuses: `RUN_CONFLICT`, naming the live scheduler that holds it (a
 * holder that is a dead process on this host is displaced).
 */
export async function takeRunLease(lease: Lease, runId: string, resume: boolean): Promise<void> {
  const taken = await lease.acquire();
  if (taken.held) return;
  if (resume) throw new FlowgateError('RUN_CONFLICT', `run ${runId} is still being scheduled by ${taken.holder}; refusing to resume it twice`);
  throw new ValidationError('RUN_CONFLICT', [{ field: '--run-id', message: `a run with id "${runId}" already exists under this prefix (driven by ${taken.holder})` }]);
}
