/**
 * `flowgate worker`: a long-lived worker process.
 */
import { ExitCode, ValidationError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { checkRedis } from '../shared/redis.js';
import { NodeWorker } from '../worker/node-worker.js';
import { Flags, parseArgs } from './args.js';
import { connectionFrom } from './connection.js';
import { WORKER_FLAGS, workerSettings } from './worker-flags.js';
import type { FleetMessage, WorkerMessage } from './fleet.js';
import type { CompiledWorkerOptions } from '../shared/options/worker.js';
import { describeCapacity } from '../shared/host-capacity.js';


/** Resolves with the Redis URL of a `go` message, undefined on `stop` or a lost parent. */
function waitForGo(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const onMessage = (msg: FleetMessage): void => {
      if (msg.type === 'go' || msg.type === 'stop') {
        process.off('message', onMessage);
        resolve(msg.type === 'go' ? msg.redisUrl : undefined);
      }
    };
    process.on('message', onMessage);
    process.once('disconnect', () => resolve(undefined));
    sendToParent({ type: 'loaded', pid: process.pid });
  });
}

/** Runs a worker until signalled; returns the exit code. */
export async function workerCommand(argv: readonly string[]): Promise<number> {
  const parsed = new Flags(parseArgs(argv, WORKER_FLAGS));
  // Under `flowgate run` every setting comes from the parent as flags.
  const standalone = !parsed.bool('wait-for-go', false);
  // zod (for the environment) loads only for a standalone worker: under
  // `flowgate run` it would only slow every worker's start.
  const settings = standalone ? await import('./settings.js') : undefined;
  const flags = settings !== undefined ? settings.withEnv(parsed, workerSettings()) : parsed;
  if (flags.positionals.length > 0) {
    throw new ValidationError('OPTIONS_INVALID', [{ message: `unexpected argument "${flags.positionals[0] ?? ''}"` }]);
  }
  const connection = connectionFrom(flags);
  const { prefix, logLevel } = connection;
  let redisUrl = connection.redisUrl;
  const logger = createLogger(logLevel).child({ component: 'worker' });
  // Started by `flowgate run` before it has validated its input: load
  // everything, but touch Redis only once the run says go. The run's Redis
  // URL comes with that message (kept off the command line: it may hold a password).
  if (!standalone) {
    const url = await waitForGo();
    if (url === undefined) return ExitCode.ok;
    redisUrl = url;
  }
  await checkRedis(redisUrl);
  // A standalone worker compiles its options through the worker schema (zod
  // is loaded for its variables anyway) and prints them; one under `flowgate
  // run` takes the settings its run passed (always --concurrency, --name and
  // --max-tasks-per-child), and NodeWorker's defaults (the same WORKER_DEFAULTS) for the rest.
  const o: Partial<CompiledWorkerOptions> = settings !== undefined ? (await import('../shared/options/worker.js')).compileWorkerOptions(flags.options()) : flags.options();
  const options = {
    redisUrl,
    prefix,
    concurrency: given(o.concurrency, 'concurrency'),
    name: given(o.name, 'name'),
    ...(o.host_id !== undefined ? { hostId: o.host_id } : {}),
    ...(o.capacity !== undefined ? { capacity: o.capacity } : {}),
    ...(o.label !== undefined ? { labels: o.label } : {}),
    maxTasksPerChild: given(o.max_tasks_per_child, 'max-tasks-per-child'),
    logger,
  };
  const optional = {
    lockDurationMs: o.lock_duration_ms,
    stalledIntervalMs: o.stalled_interval_ms,
    maxStalledCount: o.max_stalled_count,
    heartbeatMs: o.heartbeat_ms,
    sampleIntervalMs: o.sample_interval_ms,
    spawner: o.spawner,
    cleanEnv: o.clean_env === true ? true : undefined,
  };
  if (settings !== undefined) {
    process.stderr.write(
      `${settings.describeConfig('worker', { redis_url: redisUrl, prefix, name: options.name, host_id: o.host_id ?? '', capacity: o.capacity !== undefined ? describeCapacity(o.capacity) : '', labels: Object.entries(o.label ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || 'none', concurrency: options.concurrency, max_tasks_per_child: options.maxTasksPerChild, ...Object.fromEntries(Object.entries(optional).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v ?? false])), shutdown_deadline_ms: o.shutdown_deadline_ms ?? 'none' })}\n`,
    );
  }
  const ipc = typeof process.send === 'function';
  const worker = new NodeWorker({
    ...options,
    ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
    // Under `flowgate run` with Node's spawn, the fleet learns every node
    // pid, so it can kill what a worker that died leaves behind. (The
    // launcher does that itself when its worker's pipe closes.)
    ...(ipc ? { onNodeProcess: (event: 'spawned' | 'exited', pid: number) => tracked && sendToParent({ type: 'node', event, pid }) } : {}),
  });
  const tracked = worker.spawner.kind === 'node';
  const deadline = o.shutdown_deadline_ms;

  // Signal handlers go in before the worker takes its first job.
  let stops = 0;
  let settle: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    settle = resolve;
  });
  const stop = (force: boolean, why: string): void => {
    stops++;
    const forced = force || stops > 1;
    logger.info({ why, forced }, forced ? 'worker:stopping (killing running nodes, requeueing their jobs)' : 'worker:stopping (finishing running nodes)');
    if (!forced && deadline !== undefined) setTimeout(() => stop(true, 'shutdown deadline'), deadline).unref();
    // A forced stop must end the process even when Redis is unreachable and
    // nothing can be said to it any more.
    if (forced) setTimeout(() => settle(ExitCode.ok), FORCED_EXIT_MS).unref();
    worker.close(forced).then(
      () => settle(ExitCode.ok),
      (err: unknown) => {
        logger.error({ err }, 'worker close failed');
        settle(ExitCode.infrastructure);
      },
    );
  };
  process.on('SIGTERM', () => stop(false, 'SIGTERM'));
  process.on('SIGINT', () => stop(false, 'SIGINT'));
  process.on('message', (msg: FleetMessage) => {
    if (msg.type === 'stop') stop(msg.force, 'asked by the fleet');
  });
  // Started by `flowgate run` and that process died: finish what is running
  // (its results stay in Redis for `flowgate resume`), take nothing new.
  let parentGone = false;
  const onParentGone = (): void => {
    if (parentGone) return;
    parentGone = true;
    stop(false, 'parent process gone');
    // Its running nodes finish (their results reach Redis for `flowgate resume`); after that
    // the process ends even if closing cannot complete (its Redis may be gone with its parent).
    const idle = setInterval(() => {
      if (worker.runningCount > 0) return;
      clearInterval(idle);
      setTimeout(() => settle(ExitCode.ok), FORCED_EXIT_MS).unref();
    }, 200);
    idle.unref();
  };
  process.on('disconnect', onParentGone);
  // It may have died already, while this worker was being set up: the event was missed.
  if (!standalone && !process.connected) onParentGone();

  await worker.start();
  if (!standalone && !process.connected) onParentGone();
  sendToParent({ type: 'ready', name: worker.id, pid: process.pid });
  return finished;
}

/** A setting every worker has once compiled: under `flowgate run` its run passes it. */
function given<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new ValidationError('OPTIONS_INVALID', [{ field: `--${flag}`, message: 'is needed with --wait-for-go (given by flowgate run)' }]);
  return value;
}

/** After a forced stop, the process exits within this long whatever happens. */
const FORCED_EXIT_MS = 5000;

function sendToParent(msg: WorkerMessage): void {
  if (process.connected) process.send?.(msg, () => undefined);
}
