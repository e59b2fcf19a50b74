/**
 * Redis connections. One place decides connection options: blocking clients
 * never give up on a request; producers and the start-up check fail fast.
 */
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { FlowgateError } from './errors.js';

/**
 * BullMQ connection options for `url`. Blocking clients (workers, queue
 * events) never give up on a request; producers fail after a few retries.
 */
export function bullConnection(url: string, blocking: boolean): ConnectionOptions {
  return { url, maxRetriesPerRequest: blocking ? null : 3, enableReadyCheck: true };
}

/** Redacts the password of a Redis URL for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** Creates a client for `url`. */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { lazyConnect: true, ...options });
}

/**
 * Connects and pings within `timeoutMs`, or throws REDIS_UNREACHABLE with the
 * reason. Used before anything is written, so a bad URL fails fast and clean.
 */
export async function checkRedis(url: string, timeoutMs = 4000): Promise<void> {
  let client: Redis;
  try {
    client = createRedis(url, {
      connectTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
  } catch (err) {
    throw new FlowgateError('REDIS_UNREACHABLE', `invalid Redis URL ${redactUrl(url)}: ${String(err)}`, { cause: err });
  }
  let lastError: unknown;
  client.on('error', (err: unknown) => {
    lastError = err;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        await client.connect();
        await client.ping();
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const detail = lastError instanceof Error && !why.includes(lastError.message) ? ` (${lastError.message})` : '';
    throw new FlowgateError('REDIS_UNREACHABLE', `cannot reach Redis at ${redactUrl(url)}: ${why}${detail}`, { cause: err });
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    client.disconnect();
  }
}
