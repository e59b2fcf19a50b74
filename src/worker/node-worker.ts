/**
 * A worker process's BullMQ side: takes node jobs from the queue and runs each
 * in its own process group. The event loop only spawns and waits, so lock
 * renewal never starves. Its parts: the BullMQ workers of its queues
 * (queue-workers.ts), the claims on the attempts it runs (attempt-claims.ts),
 * an attempt's files in its node directory (attempt-files.ts), its options
 * (node-worker-types.ts).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { closeRedis, createRedis } from '../shared/redis.js';
import { registerOpen, unregisterOpen } from '../shared/open-components.js';
import { Releasers } from '../shared/releasers.js';
import type { NodeJobRef, NodeOutcome } from '../shared/payloads.js';
import { DIR_LOCK_TTL_MS, lockDirs, type DirLock } from '../shared/dir-lock.js';
import { keepAttemptLogs } from '../shared/attempt-logs.js';
import { parseControlMessage } from '../shared/control.js';
import { Keys } from '../shared/keys.js';
import { AttemptClaims, HOST } from './attempt-claims.js';
import { prepareAttemptFiles, writeResultFiles } from './attempt-files.js';
import { WorkerHeartbeat, type CurrentNode } from './heartbeat.js';
import { ExecutorPool } from './executor-pool.js';
import { killGroup, runCommand } from './run-command.js';
import { runFunction } from './run-function.js';
import { createSpawner, type Spawner } from './launcher.js';
import { nodeBaseEnv } from './node-env.js';
import { requireCjs } from '../shared/cjs.js';
import { WORKER_INSTANCE_ENV } from '../shared/orphan-reaper.js';
import { WORKER_DEFAULTS } from '../shared/options/defaults.js';
import { parseCapacity, type HostCapacity } from '../shared/host-capacity.js';
import { FlowgateError } from '../shared/errors.js';
import type { NodeWorkerOptions } from './node-worker-types.js';
import { makeQueueWorkers, type QueueWorker } from './queue-workers.js';
import { WorkDirGate } from './work-dir-gate.js';

export type { NodeWorkerOptions } from './node-worker-types.js';

const { WaitingError } = requireCjs('bullmq') as typeof import('bullmq');

type WorkerState = 'new' | 'running' | 'closing' | 'closed';

/** Thrown from the processor when a node fails; its message is the reason. */
export class NodeFailedError extends Error {
  constructor(readonly outcome: NodeOutcome) {
    super(outcome.reason ?? 'failed');
    this.name = 'NodeFailedError';
  }
}

interface Running {
  controller: AbortController;
  current: CurrentNode;
  /** The node directory's lock, renewed while the node runs. */
  lock?: DirLock;
  /** Set when the node's run was cancelled: the node fails as cancelled, it is not requeued. */
  cancelled?: string;
}

/** Runs node jobs from the queue with a fixed concurrency. */
export class NodeWorker {
  readonly id: string;
  /** This process's instance id, in its registration and its claims. */
  private readonly instance = randomBytes(8).toString('hex');
  private state: WorkerState = 'new';
  private worker: QueueWorker | undefined;
  /** The worker of this host's own queue (per-host placement). */
  private hostWorker: QueueWorker | undefined;
  /** The host this worker belongs to (`--host-id`; default this host name). */
  readonly hostId: string;
  private redis: Redis | undefined;
  private subscriber: Redis | undefined;
  private heartbeat: WorkerHeartbeat | undefined;
  /** What the host offers, as declared or this host's own. */
  private readonly capacity: HostCapacity;
  private closing: Promise<void> | undefined;
  private forced = false;
  /** What the worker acquired, released in reverse order on close. */
  private readonly releasers = new Releasers();
  private readonly running = new Map<string, Running>();
  private completed = 0;
  /** Child processes that run function nodes, recycled after maxTasksPerChild nodes. */
  private readonly executors: ExecutorPool;
  /** Starts command nodes' processes. */
  readonly spawner: Spawner;
  /** The environment every node starts from, before its own variables. */
  private readonly baseEnv: Record<string, string | undefined>;
  /** The shared work dir check (at start, and before claiming a node of a run not checked yet). */
  private readonly workDirs: WorkDirGate;
  /** Claims the attempts of jobs taken, and records how they ended. */
  private readonly claims: AttemptClaims;

  constructor(private readonly options: NodeWorkerOptions) {
    this.id = options.name ?? `${hostname()}:${process.pid}`;
    this.capacity = options.capacity ?? parseCapacity('');
    this.hostId = options.hostId ?? HOST;
    this.workDirs = new WorkDirGate(() => this.redis as Redis, options.prefix, { name: this.id, hostId: this.hostId });
    const maxLost = options.maxStalledCount ?? WORKER_DEFAULTS.max_stalled_count;
    this.claims = new AttemptClaims(() => this.redis as Redis, options.prefix, { name: this.id, instance: this.instance, hostId: this.hostId, maxLost }, this.workDirs, options.logger);
    // Copied once: copying process.env is slow, and it does not change.
    // The instance id marks every process this worker starts, so that they can
    // be found and killed if the worker dies without killing them (orphan-reaper.ts).
    this.baseEnv = { ...nodeBaseEnv(process.env, options.cleanEnv === true), [WORKER_INSTANCE_ENV]: this.instance };
    this.executors = new ExecutorPool(options.maxTasksPerChild, options.logger, this.baseEnv);
    this.spawner = createSpawner(options.spawner ?? WORKER_DEFAULTS.spawner, (problem) =>
      options.logger.warn({ problem }, `the process launcher cannot be used (${problem}); starting nodes with Node's spawn, slower per node`),
    );
  }


  private starting: Promise<void> | undefined;

  /** Starts taking jobs and beating. Idempotent; close() waits for a start under way. */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'running';
    const o = this.options;
    const rel = this.releasers;
    registerOpen(this, `node worker ${this.id}`);
    this.redis = createRedis(o.redisUrl, { maxRetriesPerRequest: null });
    this.redis.on('error', (err: unknown) => o.logger.warn({ err }, 'redis error'));
    const redis = this.redis;
    rel.add('the worker connection', () => closeRedis(redis));
    this.heartbeat = new WorkerHeartbeat(
      redis,
      o.prefix,
      () => ({
        name: this.id,
        instance: this.instance,
        host_id: this.hostId,
        capacity: this.capacity,
        labels: o.labels ?? {},
        concurrency: o.concurrency,
        max_tasks_per_child: o.maxTasksPerChild,
        nodes_done: this.completed,
        current: [...this.running.values()].map((r) => r.current),
      }),
      o.heartbeatMs ?? WORKER_DEFAULTS.heartbeat_ms,
      o.logger,
    );
    const heartbeat = this.heartbeat;
    rel.add('the heartbeat', () => heartbeat.stop(this.id));
    this.subscriber = createRedis(o.redisUrl, { maxRetriesPerRequest: null });
    this.subscriber.on('error', (err: unknown) => o.logger.warn({ err }, 'redis subscriber error'));
    this.subscriber.on('message', (_channel: string, raw: string) => {
      const msg = parseControlMessage(raw);
      if (msg?.type === 'abort') this.abortRun(msg.run_id, msg.reason);
    });
    const subscriber = this.subscriber;
    rel.add('the control subscriber', () => closeRedis(subscriber));
    rel.add('the node launcher', () => this.spawner.close());
    rel.add('the function executors', () => this.executors.close());
    const lockRenewal = setInterval(() => void this.renewLocks(), DIR_LOCK_TTL_MS / 3);
    lockRenewal.unref();
    rel.add('the node directory lock renewal', () => clearInterval(lockRenewal));
    // Two queues, the shared one and this host's own (queue-workers.ts).
    const { worker, hostWorker } = makeQueueWorkers(o, this.id, this.hostId, (job, token) => this.process(job, token), rel);
    this.worker = worker;
    this.hostWorker = hostWorker;
    // The connections come up together; jobs are taken only once the worker
    // is registered and hears abort messages. A worker that does not see the
    // leading service's work dir does not register at all.
    const up = await Promise.allSettled([
      (async () => {
        await redis.connect();
        const problem = await this.workDirs.checkService();
        if (problem !== undefined) throw new FlowgateError('WORK_DIR_NOT_SHARED', problem);
        await heartbeat.start();
      })(),
      (async () => {
        await subscriber.connect();
        await subscriber.subscribe(new Keys(o.prefix).control());
      })(),
      worker.waitUntilReady(),
      hostWorker.waitUntilReady(),
    ]);
    const failed = up.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      // Nothing was taken: what was opened is released, and start() rejects.
      this.state = 'closing';
      await rel.release('errors while closing the worker').catch((err: unknown) => o.logger.warn({ err }, 'errors while releasing after a failed start'));
      this.state = 'closed';
      unregisterOpen(this);
      throw failed.reason;
    }
    void hostWorker.run().catch((err: unknown) => o.logger.error({ err }, 'host queue worker stopped with an error'));
    void worker.run().catch((err: unknown) => o.logger.error({ err }, 'worker stopped with an error'));
    o.logger.info({ worker: this.id, concurrency: o.concurrency, spawner: this.spawner.kind }, 'worker:started');
  }

  /** How many nodes this worker is running now. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Renews the node directory locks of running nodes: a node's directory stays its run's while its processes run. */
  private async renewLocks(): Promise<void> {
    const byRun = new Map<string, DirLock[]>();
    for (const r of this.running.values()) {
      if (r.lock === undefined) continue;
      const list = byRun.get(r.current.run_id) ?? [];
      list.push(r.lock);
      byRun.set(r.current.run_id, list);
    }
    for (const [runId, locks] of byRun) {
      try {
        const held = await lockDirs(this.redis as Redis, runId, locks, 'renew');
        held.forEach((h, i) => {
          if (h !== '') this.options.logger.warn({ runId, lock: locks[i]?.value, holder: h }, 'worker:lost a node directory lock while the node runs');
        });
      } catch (err) {
        this.options.logger.warn({ err }, 'worker:cannot renew node directory locks');
      }
    }
  }

  private async process(job: Job<NodeJobRef, NodeOutcome>, token: string | undefined): Promise<NodeOutcome> {
    const { ref, data, lock, earlier } = await this.claims.claim(job, token);
    const jobId = job.id ?? '';
    const entry: Running = {
      controller: new AbortController(),
      current: { job_id: jobId, run_id: data.run_id, node_id: data.node_id, pid: null, since_ms: Date.now() },
      ...(lock !== undefined ? { lock } : {}),
    };
    this.running.set(jobId, entry);
    let pid: number | null = null;
    try {
      const common = {
        worker: this.id,
        spawner: this.spawner,
        baseEnv: this.baseEnv,
        signal: entry.controller.signal,
        timeoutMs: data.timeout_s === null ? null : Math.round(data.timeout_s * 1000),
        ...(this.options.sampleIntervalMs !== undefined ? { sampleIntervalMs: this.options.sampleIntervalMs } : {}),
        onSpawn: (p: number) => {
          pid = p;
          entry.current.pid = p;
          this.options.onNodeProcess?.('spawned', p);
        },
      };
      const dirReady = prepareAttemptFiles(data);
      const outcome = data.function !== null ? await runFunction(data, { ...common, pool: this.executors }) : await runCommand(data, { ...common, dirReady });
      if (earlier.length > 0) outcome.earlier = earlier;
      if (data.logs_dir !== undefined) {
        const kept = keepAttemptLogs(data.node_dir, data.logs_dir, data.node_id, data.attempt);
        if (kept.stdout !== undefined) outcome.stdout_path = kept.stdout;
        if (kept.stderr !== undefined) outcome.stderr_path = kept.stderr;
      }
      if (entry.cancelled !== undefined && outcome.failure === 'stopped') {
        outcome.reason = `cancelled: ${entry.cancelled}`;
      } else if (outcome.failure === 'stopped' && this.forced) {
        // Killed by a forced shutdown of this worker, not by its own fault:
        // the job goes back to the queue for another worker.
        await this.claims.endClaim(ref, { state: 'requeued', why: 'killed: shutdown' }, lock);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      this.completed++;
      // Redis is away: the outcome is kept on disk too, for a scheduler that
      // resumes the run after this worker gave up waiting (attempt-logs.ts).
      if (data.logs_dir !== undefined && this.redis?.status !== 'ready') this.claims.keepPending(data, outcome);
      if (!outcome.ok) {
        // The run store and the job's data (where the scheduler reads the structured outcome) together.
        await Promise.all([this.claims.endClaim(ref, { state: 'failed', outcome }, lock), job.updateData({ ...ref, outcome })]);
        throw new NodeFailedError(outcome);
      }
      writeResultFiles(data, outcome, this.options.logger);
      // Sent before the job completes, on another connection, and not waited
      // for: the completion reaches the scheduler as fast as before, and a job
      // removed meanwhile still leaves its outcome in the run store.
      void this.claims.endClaim(ref, { state: 'succeeded', outcome }, lock);
      return outcome;
    } finally {
      this.running.delete(jobId);
      if (pid !== null) this.options.onNodeProcess?.('exited', pid);
    }
  }

  /** Kills the running nodes of one run (its run was cancelled); they fail as cancelled. */
  abortRun(runId: string, reason: string): number {
    let n = 0;
    for (const r of this.running.values()) {
      if (r.current.run_id === runId) {
        r.cancelled = reason;
        r.controller.abort();
        n++;
      }
    }
    if (n > 0) this.options.logger.info({ runId, nodes: n, reason }, 'worker:aborting nodes of a cancelled run');
    return n;
  }

  /**
   * Stops taking jobs. Graceful: running nodes finish. Forced: their process
   * groups are killed and their jobs go back to the queue for another worker.
   * Idempotent; a forced call after a graceful one escalates it.
   */
  close(force = false): Promise<void> {
    if (force) {
      this.forced = true;
      for (const { controller, current } of this.running.values()) {
        controller.abort();
        if (current.pid !== null) killGroup(current.pid, 'SIGKILL');
      }
      this.executors.close();
      this.spawner.close();
      // Do not wait for in-flight jobs to report: BullMQ lets them come back
      // after their lock expires if the requeue above could not be written.
      if (this.closing !== undefined) {
        void this.worker?.close(true).catch(() => undefined);
        void this.hostWorker?.close(true).catch(() => undefined);
      }
    }
    if (this.closing !== undefined) return this.closing;
    this.state = 'closing';
    this.closing = (async () => {
      // A stop that arrives while the worker is still connecting waits for
      // the connection, so nothing is left running behind it.
      await this.starting?.catch(() => undefined);
      // Never started: what the constructor made is released all the same.
      if (this.state === 'closing' && this.releasers.size === 0) {
        this.releasers.add('the node launcher', () => this.spawner.close());
        this.releasers.add('the function executors', () => this.executors.close());
      }
      try {
        await this.releasers.release('errors while closing the worker');
      } catch (err) {
        // A failed close can be tried again.
        this.closing = undefined;
        throw err;
      }
      this.state = 'closed';
      unregisterOpen(this);
      this.options.logger.info({ worker: this.id }, 'worker:closed');
    })();
    return this.closing;
  }
}
