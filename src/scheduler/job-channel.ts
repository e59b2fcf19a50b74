/**
 * The scheduler's side of the queue: adding node jobs, and hearing about
 * them through BullMQ's queue events stream, read from a position fixed
 * before any job of the run exists so that nothing of the run is missed.
 */
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { NODE_QUEUE, parseNodeJobId, queueOf, type NodeJobRef, type NodeOutcome } from '../shared/payloads.js';
import { bullConnection, coalesceWrites, connectionName, createRedis } from '../shared/redis.js';
import type { Incoming } from './incoming.js';
import { EVENTS_MAX_LEN, type queueEntry } from './node-job.js';
import { requireCjs } from '../shared/cjs.js';
import { parseJsonOrUndefined } from '../shared/json.js';

const { Queue } = requireCjs('bullmq') as typeof import('bullmq');
type Queue<D> = import('bullmq').Queue<D>;

/** How long one blocking read of the events stream waits before it is issued again. */
const EVENTS_BLOCK_MS = 5000;
/** Pause after a failed read that was not a lost connection (those wait for the reconnection). */
const EVENTS_RETRY_MS = 1000;

/** A run's side of the channel: where its events go, and when it has applied them. */
export interface ChannelListener {
  incoming(ev: Incoming): void;
  /** Resolves once the events handed over so far have been applied (admissions written, jobs added). */
  settled?(): Promise<void>;
  /** The node queue was paused or resumed (BullMQ's `Queue.pause()` / `resume()`). */
  pausedChanged?(paused: boolean): void;
}

/** Jobs per `addBulk` (one pipeline of that many script calls). */
const ADD_CHUNK = 500;
/** Up to this many jobs of a step are added one `add` each rather than by `addBulk`. */
const SINGLE_ADDS = 32;

/** A job to add: its queue entry, and the host it was placed on (absent: the shared queue). */
export type ChannelEntry = ReturnType<typeof queueEntry> & { host?: string };

/**
 * The queue and its events, shared by the runs of one scheduler process:
 * events are routed to the run whose job they concern, so a service with many
 * runs reads the events stream once.
 */
export class JobChannel {
  private queue: Queue<NodeJobRef> | undefined;
  /** The blocking connections that read the events streams, one per queue. */
  private readonly events: Redis[] = [];
  /** Host queues (per-host placement) by queue name, each opened once, its events read from before its first job. */
  private readonly hostQueues = new Map<string, Promise<Queue<NodeJobRef>>>();
  private redis: Redis | undefined;
  private closing = false;
  private readonly listeners = new Map<string, ChannelListener>();
  private pausedNow = false;

  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  /** Routes events about the jobs of `runId` to `listener`. */
  subscribe(runId: string, listener: ChannelListener): void {
    this.listeners.set(runId, listener);
  }

  /**
   * Whether the node queue is paused: no worker takes a job from it, so
   * admitted nodes stay queued. Read when the channel opens, then followed
   * through the queue's `paused`/`resumed` events.
   */
  get paused(): boolean {
    return this.pausedNow;
  }

  unsubscribe(runId: string): void {
    this.listeners.delete(runId);
  }

  /** Opens the queue and starts listening from the events stream's current end. */
  async open(redis: Redis): Promise<Queue<NodeJobRef>> {
    if (this.queue !== undefined) return this.queue;
    this.queue = this.openQueue(NODE_QUEUE);
    const key = this.queue.keys['events'] ?? `${this.prefix}:${NODE_QUEUE}:events`;
    const last = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
    // Read after the stream position: a pause or resume after it is seen as an event.
    this.pausedNow = (await redis.hexists(this.queue.keys['meta'] ?? `${this.prefix}:${NODE_QUEUE}:meta`, 'paused')) === 1;
    this.redis = redis;
    await this.listen(key, last[0]?.[0] ?? '0-0', true);
    return this.queue;
  }

  /** A queue to add jobs to: a step's jobs go out in one write (see coalesceWrites). */
  private openQueue(name: string): Queue<NodeJobRef> {
    const queue = new Queue<NodeJobRef>(name, { connection: bullConnection(this.redisUrl, connectionName(this.prefix, 'queue')), prefix: this.prefix, streams: { events: { maxLen: EVENTS_MAX_LEN } } });
    queue.on('error', (err) => this.log.warn({ err, queue: name }, 'queue error'));
    void queue
      .getBackend()
      .client.then((client) => coalesceWrites(client as unknown as Redis))
      .catch(() => undefined);
    return queue;
  }

  /** Starts reading an events stream from `from` on a blocking connection of its own. */
  private async listen(key: string, from: string, shared = false): Promise<void> {
    const events = createRedis(this.redisUrl, { maxRetriesPerRequest: null, connectionName: connectionName(this.prefix, 'events') });
    events.on('error', (err: unknown) => this.log.debug({ err }, 'queue events connection error'));
    this.events.push(events);
    await events.connect();
    void this.readEvents(events, key, from, shared);
  }

  /**
   * The queue of a host (per-host placement), opened on first use: its
   * events stream is read from its end as it was before any job of this
   * channel was added to it, so none of their events is missed.
   */
  hostQueue(host: string): Promise<Queue<NodeJobRef>> {
    const name = queueOf(host);
    let q = this.hostQueues.get(name);
    if (q === undefined) {
      q = (async () => {
        const queue = this.openQueue(name);
        const key = queue.keys['events'] ?? `${this.prefix}:${name}:events`;
        const redis = this.redis ?? ((await queue.getBackend().client) as unknown as Redis);
        const last = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
        await this.listen(key, last[0]?.[0] ?? '0-0');
        return queue;
      })();
      this.hostQueues.set(name, q);
      // A failed open is tried again next time.
      q.catch(() => this.hostQueues.delete(name));
    }
    return q;
  }

  /** The queue a job of `host` is on (the shared one without a host). */
  private async queueFor(host: string | undefined): Promise<Queue<NodeJobRef> | undefined> {
    return host === undefined || host === '' ? this.queue : this.hostQueue(host);
  }

  /**
   * Reads the events stream until closed. After handing a batch to its runs
   * it waits until they have applied it before reading again, so the events
   * their own admissions cause (BullMQ's "added", the workers' "active") are
   * read together with the next completions rather than each waking the
   * scheduler on its own.
   */
  private async readEvents(conn: Redis, key: string, from: string, shared: boolean): Promise<void> {
    let id = from;
    while (!this.closing) {
      let batch: Array<[string, string[]]> | undefined;
      try {
        const reply = await conn.xread('BLOCK', EVENTS_BLOCK_MS, 'STREAMS', key, id);
        batch = reply?.[0]?.[1];
      } catch (err) {
        if (this.closing) return;
        this.log.warn({ err }, 'cannot read the queue events; retrying');
        await new Promise((resolve) => setTimeout(resolve, EVENTS_RETRY_MS).unref());
        continue;
      }
      if (batch === undefined || batch.length === 0) continue;
      const touched = new Set<ChannelListener>();
      for (const [entryId, fields] of batch) {
        id = entryId;
        const listener = this.route(fields, shared);
        if (listener !== undefined) touched.add(listener);
      }
      await Promise.all([...touched].map((l) => l.settled?.().catch(() => undefined)));
    }
  }

  /** Hands one stream entry to the run it concerns; returns that run's listener. */
  private route(fields: string[], shared: boolean): ChannelListener | undefined {
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i] as string, fields[i + 1] as string);
    const event = f.get('event');
    if (event === 'paused' || event === 'resumed') {
      // `flowgate queue pause` pauses the shared queue; host queues follow their own.
      if (!shared) return undefined;
      this.pausedNow = event === 'paused';
      for (const l of this.listeners.values()) l.pausedChanged?.(this.pausedNow);
      return undefined;
    }
    const parsed = parseNodeJobId(f.get('jobId') ?? '');
    if (parsed === undefined) return undefined;
    const listener = this.listeners.get(parsed.runId);
    if (listener === undefined) return undefined;
    const index = parsed.nodeIndex;
    const attempt = parsed.attempt;
    switch (event) {
      case 'active':
        listener.incoming({ kind: 'active', index, attempt });
        return listener;
      case 'completed': {
        // An unreadable return value is left to the reconciliation sweep, which reads the job.
        const outcome = parseJsonOrUndefined(f.get('returnvalue')) as NodeOutcome | undefined;
        if (outcome === undefined) return undefined;
        listener.incoming({ kind: 'completed', index, attempt, outcome });
        return listener;
      }
      case 'stalled':
        listener.incoming({ kind: 'stalled', index, attempt });
        return listener;
      case 'failed':
        listener.incoming({ kind: 'failed', index, attempt, reason: f.get('failedReason') ?? '' });
        return listener;
      default:
        return undefined;
    }
  }

  /**
   * Adds jobs, each after its admission: `admissions` (hash key and fields)
   * is written on the queue's own connection just before the jobs, so Redis
   * applies it first (one connection's commands run in order) without a round
   * trip of its own.
   */
  async add(jobs: readonly ChannelEntry[], admissions?: { key: string; fields: Record<string, string> }): Promise<void> {
    const queue = this.queue;
    if (queue === undefined || jobs.length === 0) return;
    const shared: ChannelEntry[] = [];
    const byHost = new Map<string, ChannelEntry[]>();
    for (const j of jobs) {
      if (j.host === undefined || j.host === '') shared.push(j);
      else {
        const list = byHost.get(j.host);
        if (list === undefined) byHost.set(j.host, [j]);
        else list.push(j);
      }
    }
    let admitted: Promise<unknown> | undefined = admissions === undefined ? undefined : (await queue.getBackend().client).hset(admissions.key, admissions.fields);
    // A host queue has a connection of its own: the admissions must be in
    // Redis before its jobs, so they are waited for (one round trip).
    if (byHost.size > 0 && admitted !== undefined) {
      await admitted;
      admitted = undefined;
    }
    const added: Array<Promise<unknown>> = [];
    const addTo = (q: Queue<NodeJobRef>, list: readonly ChannelEntry[]): void => {
      // A few jobs go one script call each (they leave in one write all the
      // same: see coalesceWrites); addBulk builds an ioredis pipeline, which
      // copies every script BullMQ defines on its client (~40 µs a call).
      if (list.length <= SINGLE_ADDS) for (const { name, data, opts } of list) added.push(q.add(name, data, opts));
      // A wide budget admits thousands at once: one pipeline per bounded chunk, all sent together.
      else {
        const entries = list.map(({ name, data, opts }) => ({ name, data, opts }));
        for (let at = 0; at < entries.length; at += ADD_CHUNK) added.push(q.addBulk(entries.slice(at, at + ADD_CHUNK)));
      }
    };
    if (shared.length > 0) addTo(queue, shared);
    for (const [host, list] of byHost) addTo(await this.hostQueue(host), list);
    await Promise.all([admitted, ...added]);
  }

  /** A job by id, on its host's queue (the shared one without a host). */
  async getJob(jobId: string, host?: string): Promise<Job<NodeJobRef> | undefined> {
    return (await this.queueFor(host))?.getJob(jobId);
  }

  /** Removes a job that has not started; 1 if removed, 0 if it could not be (running, locked). */
  async remove(jobId: string, host?: string): Promise<number> {
    try {
      return (await (await this.queueFor(host))?.remove(jobId)) ?? 0;
    } catch {
      return 0;
    }
  }

  /** Closes politely, or just drops the connections when Redis is gone. */
  async close(redisDown: boolean): Promise<void> {
    // The reader is not waited for: it may be waiting for a run that is
    // closing this channel. Dropping the connection ends its blocking read.
    this.closing = true;
    for (const e of this.events) e.disconnect();
    const hosts = await Promise.all([...this.hostQueues.values()].map((q) => q.catch(() => undefined)));
    if (redisDown) {
      void this.queue?.disconnect().catch(() => undefined);
      for (const q of hosts) void q?.disconnect().catch(() => undefined);
      return;
    }
    await Promise.all([this.queue?.close(), ...hosts.map((q) => q?.close())]);
  }
}

