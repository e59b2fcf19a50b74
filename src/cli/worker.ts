/**
 * `flowgate worker`: a long-lived worker process.
 */
import { hostname } from 'node:os';
import { availableCpus } from '../shared/capacity.js';
import { PREFIX_PATTERN, readEnv } from '../shared/config.js';
import { ExitCode, ValidationError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { checkRedis } from '../shared/redis.js';
import { NodeWorker } from '../worker/node-worker.js';
import { Flags, parseArgs } from './args.js';
import { WORKER_FLAGS } from './worker-flags.js';
import type { FleetMessage, WorkerMessage } from './fleet.js';


/** Resolves true on a `go` message, false on `stop` or a lost parent. */
function waitForGo(): Promise<boolean> {
  return new Promise((resolve) => {
    const onMessage = (msg: FleetMessage): void => {
      if (msg.type === 'go' || msg.type === 'stop') {
        process.off('message', onMessage);
        resolve(msg.type === 'go');
      }
    };
    process.on('message', onMessage);
    process.once('disconnect', () => resolve(false));
    process.send?.({ type: 'loaded', pid: process.pid } satisfies WorkerMessage);
  });
}

/** Runs a worker until signalled; returns the exit code. */
export async function workerCommand(argv: readonly string[]): Promise<number> {
  const flags = new Flags(parseArgs(argv, WORKER_FLAGS));
  if (flags.positionals.length > 0) {
    throw new ValidationError('OPTIONS_INVALID', [{ message: `unexpected argument "${flags.positionals[0] ?? ''}"` }]);
  }
  const env = readEnv();
  const prefix = flags.str('prefix') ?? env.prefix;
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new ValidationError('OPTIONS_INVALID', [{ field: '--prefix', message: `must be 1-64 letters, digits, ".", "_" or "-", received "${prefix}"` }]);
  }
  const redisUrl = flags.str('redis-url') ?? env.redisUrl;
  const logger = createLogger(env.logLevel).child({ component: 'worker' });
  // Started by `flowgate run` before it has validated its input: load
  // everything, but touch Redis only once the run says go.
  if (flags.bool('wait-for-go', false) && !(await waitForGo())) return ExitCode.ok;
  await checkRedis(redisUrl);
  const options = {
    redisUrl,
    prefix,
    concurrency: flags.num('concurrency') ?? availableCpus(),
    name: flags.str('name') ?? `${hostname()}:${process.pid}`,
    maxTasksPerChild: flags.num('max-tasks-per-child') ?? 10,
    logger,
  };
  const lock = flags.num('lock-duration-ms');
  const stalled = flags.num('stalled-interval-ms');
  const worker = new NodeWorker({
    ...options,
    ...(lock !== undefined ? { lockDurationMs: lock } : {}),
    ...(stalled !== undefined ? { stalledIntervalMs: stalled } : {}),
  });
  await worker.start();
  process.send?.({ type: 'ready', name: worker.id, pid: process.pid } satisfies WorkerMessage);

  return new Promise<number>((resolve) => {
    let stops = 0;
    const stop = (force: boolean): void => {
      stops++;
      const forced = force || stops > 1;
      worker.close(forced).then(
        () => resolve(ExitCode.ok),
        (err: unknown) => {
          logger.error({ err }, 'worker close failed');
          resolve(ExitCode.infrastructure);
        },
      );
    };
    process.on('SIGTERM', () => stop(false));
    process.on('SIGINT', () => stop(false));
    process.on('message', (msg: FleetMessage) => {
      if (msg.type === 'stop') stop(msg.force);
    });
    // Started by `flowgate run`: if that process dies, stop at once.
    process.on('disconnect', () => stop(true));
  });
}
