/**
 * Redis connections. One place decides connection options: blocking clients
 * never give up on a request; producers and the start-up check fail fast.
 */
import type { ConnectionOptions } from 'bullmq';
import type { RedisOptions } from 'ioredis';
import { requireCjs } from './cjs.js';
import { FlowgateError } from './errors.js';
import { redactUrl } from './config.js';

export { redactUrl };

const { Redis } = requireCjs('ioredis') as typeof import('ioredis');
type Redis = InstanceType<typeof Redis>;

/**
 * BullMQ connection options for `url`. Clients never give up on a request: while Redis is away (a restart), commands wait and are sent on
 * reconnection. How long an outage may last is decided by the caller (the
 * scheduler's outage deadline), not by a retry count.
 */
export function bullConnection(url: string, name?: string): ConnectionOptions {
  // BullMQ's own default backs off up to 20 s between reconnection attempts: after an outage
  // of more than ~10 s a worker would find the restarted Redis up to 20 s late, and its
  // running jobs' locks could expire meanwhile. Every connection reconnects within 1 s.
  return { url, maxRetriesPerRequest: null, enableReadyCheck: true, retryStrategy: reconnectDelay, ...(name !== undefined ? { connectionName: name } : {}) };
}

/**
 * The client name (CLIENT SETNAME) of one of flowgate's connections:
 * `flowgate:<prefix>:<role>`, so `CLIENT LIST` tells who holds what.
 */
export function connectionName(prefix: string, role: string): string {
  return `flowgate:${prefix}:${role}`.replace(/[^\w:.-]/g, '_');
}

/** How long a QUIT may take before the connection is just dropped. */
const QUIT_MS = 2000;

/**
 * Closes a client: says goodbye (QUIT) when it is connected and Redis is
 * reachable, then drops the connection either way, so nothing lingers.
 */
export async function closeRedis(client: Redis, redisDown = false): Promise<void> {
  try {
    if (!redisDown && client.status === 'ready') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([client.quit(), new Promise((resolve) => (timer = setTimeout(resolve, QUIT_MS)))]).finally(() => clearTimeout(timer));
    }
  } finally {
    // Not disconnect() on a client that quit: see dropConnection.
    dropConnection(client);
  }
}

/** Reconnection delay: quick at first, at most 1 s, so a restarted Redis is found fast. */
export function reconnectDelay(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 5), 1000);
}

/**
 * Drops the client's connection unless it is closed already. ioredis's
 * `disconnect()` ends the socket and arms a 2 s timer (not unref'd) that is
 * cleared by the socket's `close` event; on a client whose socket has closed
 * already (after `quit()`, say) that event has fired before, so the timer
 * runs its full 2 s and keeps the process alive that long.
 */
export function dropConnection(client: Pick<Redis, 'status' | 'disconnect'> | undefined): void {
  if (client !== undefined && client.status !== 'end') client.disconnect();
}

/** Creates a client for `url`; its commands are written a batch per turn of the event loop (see {@link coalesceWrites}). */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return coalesceWrites(new Redis(url, { lazyConnect: true, retryStrategy: reconnectDelay, ...options }));
}

/** A socket that writes what one turn of the event loop wrote in one system call. */
type Coalescing = import('node:net').Socket & { [COALESCING]?: true };
const COALESCING = Symbol('flowgate.coalescing');

/**
 * Makes `client` send the commands issued in one turn of the event loop in
 * one system call. ioredis writes every command to its socket on its own (a
 * pipeline, one write for all of its commands); a scheduler step issues
 * several commands together on one connection (its state, the directory
 * locks, the admissions and the jobs), and on a virtual machine each write
 * to a socket costs more CPU than building the command. The socket is corked
 * at the first write of a turn and uncorked once the turn's callbacks and
 * promises have run (setImmediate), so they leave as one `writev`, in order.
 * Applied to every socket the client opens (reconnections make new ones).
 * Returns the client.
 */
export function coalesceWrites<C extends Redis>(client: C): C {
  const apply = (): void => {
    const socket = (client as unknown as { stream?: Coalescing }).stream;
    if (socket === undefined || socket[COALESCING] === true) return;
    socket[COALESCING] = true;
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    let corked = false;
    const uncork = (): void => {
      corked = false;
      socket.uncork();
    };
    socket.write = ((...args: unknown[]): boolean => {
      if (!corked) {
        corked = true;
        socket.cork();
        setImmediate(uncork);
      }
      return write(...args);
    }) as typeof socket.write;
  };
  client.on('connect', apply);
  apply();
  return client;
}

/** What to do about a refused password or an untrusted TLS certificate, for the error message. */
export function connectHint(text: string, url: string): string {
  if (/WRONGPASS|NOAUTH|invalid password|AUTH.*without any password/i.test(text)) {
    return '; the server refused the credentials: give them in the URL (redis://:PASSWORD@host:port, or redis://USER:PASSWORD@host:port for an ACL user)';
  }
  if (/certificate|self[- ]signed|unable to verify|ERR_TLS|SSL routines|wrong version number/i.test(text)) {
    return "; TLS failed: for a server certificate of your own CA, point NODE_EXTRA_CA_CERTS at the CA's PEM file (on every flowgate process); use rediss:// only for a TLS port";
  }
  if (/protected mode/i.test(text)) return '; that server accepts clients of other hosts only with a password: set requirepass (or an ACL user) on it and give the password in the URL';
  if (url.startsWith('redis://') && /ECONNRESET/.test(text)) return '; if that port speaks TLS, use a rediss:// URL';
  return '';
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
    // The socket's own error (connect ECONNREFUSED …) says more than the client's `Connection is closed.`.
    throw new FlowgateError('REDIS_UNREACHABLE', `cannot reach Redis at ${redactUrl(url)}: ${why}${detail}${connectHint(`${why} ${detail}`, url)}`, {
      cause: lastError instanceof Error ? lastError : err,
    });
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    client.disconnect();
  }
}
