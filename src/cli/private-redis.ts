/**
 * A private Redis for a work dir, for when no Redis was configured and none
 * answers on the default address: `redis-server` (found on PATH) listening
 * only on a Unix socket in `<work dir>/.flowgate-redis/` (mode 0700), with an
 * append-only file there, so that `flowgate resume` continues a run after a
 * crash, and `status`, `logs` and `cancel` find the runs again. `flowgate run`
 * starts it and stops it when the run ends; a run killed on the way leaves it
 * running for `resume`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { DEFAULT_REDIS_URL } from '../shared/config.js';
import { FlowgateError } from '../shared/errors.js';
import { checkRedis, createRedis, redactUrl } from '../shared/redis.js';
import { resolve } from 'node:path';
import type { Flags } from './args.js';
import { connectionFrom, type Connection } from './connection.js';


/** Unix socket paths are limited to 108 bytes; longer ones move to the temp dir. */
const MAX_SOCKET_PATH = 100;
/** How long a starting redis-server may take to answer. */
const START_TIMEOUT_MS = 10_000;

/** How to install redis-server, for the error when it is missing. */
const INSTALL_HINT =
  'install it (Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`), ' +
  'or point flowgate at a running server with --redis-url or REDIS_URL';

/** Where a work dir's private Redis lives. */
export function privateRedisPlace(workDir: string): { dir: string; socket: string; url: string } {
  const dir = join(workDir, '.flowgate-redis');
  let socket = join(dir, 'redis.sock');
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) socket = join(tmpdir(), `flowgate-redis-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.sock`);
  return { dir, socket, url: `unix:${socket}` };
}

/** `redis-server` on PATH, or undefined. */
function findRedisServer(): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

async function answers(url: string, timeoutMs: number): Promise<boolean> {
  try {
    await checkRedis(url, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

/** A work dir's private Redis server. */
export class PrivateRedis {
  readonly dir: string;
  readonly url: string;

  /** `started`: this process started it (and stops it when done). */
  private constructor(
    workDir: string,
    readonly started: boolean,
  ) {
    const place = privateRedisPlace(workDir);
    this.dir = place.dir;
    this.url = place.url;
  }

  /** The work dir's private Redis if it is running. */
  static async running(workDir: string): Promise<PrivateRedis | undefined> {
    const r = new PrivateRedis(workDir, false);
    return (await answers(r.url, 1000)) ? r : undefined;
  }

  /** Whether the work dir has a private Redis's data (it ran there before). */
  static hasData(workDir: string): boolean {
    return existsSync(join(privateRedisPlace(workDir).dir, 'appendonlydir'));
  }

  /** Starts the work dir's private Redis (its data, if any, is loaded from the append-only file). */
  static async start(workDir: string): Promise<PrivateRedis> {
    const server = findRedisServer();
    if (server === undefined) {
      throw new FlowgateError('REDIS_UNREACHABLE', `no Redis: nothing answers at ${DEFAULT_REDIS_URL}, and redis-server is not on PATH to start a private one; ${INSTALL_HINT}`);
    }
    const r = new PrivateRedis(workDir, true);
    const { socket } = privateRedisPlace(workDir);
    mkdirSync(r.dir, { recursive: true, mode: 0o700 });
    // Its own session: it outlives a `flowgate run` killed on the way, for `resume`.
    const child = spawn(
      server,
      [
        '--port', '0',
        '--unixsocket', socket,
        '--unixsocketperm', '700',
        '--dir', r.dir,
        '--appendonly', 'yes',
        '--appendfsync', 'everysec',
        '--save', '',
        '--pidfile', join(r.dir, 'redis.pid'),
        '--logfile', join(r.dir, 'redis.log'),
        '--daemonize', 'no',
      ],
      { detached: true, stdio: 'ignore' },
    );
    let exited: string | undefined;
    child.on('exit', (code, signal) => (exited = signal ?? `exit code ${String(code)}`));
    child.on('error', (err) => (exited = err.message));
    child.unref();
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await answers(r.url, 500))) {
      if (exited !== undefined || Date.now() > deadline) {
        if (exited === undefined) child.kill('SIGKILL');
        throw new FlowgateError('REDIS_UNREACHABLE', `the private Redis for ${workDir} did not start (${exited ?? `no answer within ${START_TIMEOUT_MS / 1000} s`}); see ${join(r.dir, 'redis.log')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return r;
  }

  /**
   * Stops the server (its append-only file is flushed first) unless another
   * scheduler still drives a run in it. Never throws: a server left running
   * is found again by the next command.
   */
  async stopIfIdle(): Promise<void> {
    const client = createRedis(this.url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const [, leases] = await client.scan('0', 'MATCH', '*:fg:run:*:lease', 'COUNT', 10_000);
      if (leases.length > 0) return;
      await client.call('SHUTDOWN').catch(() => undefined);
    } catch {
      // Gone already, or busy: left as it is.
    } finally {
      client.disconnect();
    }
  }

  /** Stops the server if this process started it (and nobody drives a run in it). */
  async releaseIfStarted(): Promise<void> {
    if (this.started) await this.stopIfIdle();
  }

  /** For the progress header. */
  describe(): string {
    return `a private Redis (${redactUrl(this.url)}${this.started ? ', started for this command' : ''})`;
  }
}

/** The Redis a command uses, and the private server behind it if there is one. */
export interface RedisChoice {
  url: string;
  private?: PrivateRedis;
  /** For headers: which Redis. */
  label: string;
}

/**
 * Decides which Redis a command uses: the configured one (`--redis-url`,
 * `REDIS_URL`) if any; else the default address if something answers there;
 * else the work dir's private Redis — reused if it runs, started if `mode`
 * is `start` (a run) or if it has data (a run's state to read or resume).
 * Throws REDIS_UNREACHABLE (exit 3) with what to do when none is found.
 */
export async function chooseRedis(conn: Connection, workDir: string, mode: 'start' | 'find'): Promise<RedisChoice> {
  if (conn.explicit) {
    await checkRedis(conn.redisUrl);
    return { url: conn.redisUrl, label: redactUrl(conn.redisUrl) };
  }
  if (await answers(DEFAULT_REDIS_URL, 1000)) return { url: DEFAULT_REDIS_URL, label: DEFAULT_REDIS_URL };
  const running = await PrivateRedis.running(workDir);
  const found = running ?? (mode === 'start' || PrivateRedis.hasData(workDir) ? await PrivateRedis.start(workDir) : undefined);
  if (found === undefined) {
    throw new FlowgateError(
      'REDIS_UNREACHABLE',
      `no Redis: nothing answers at ${DEFAULT_REDIS_URL}, and work dir ${workDir} has no private Redis (flowgate run starts one there); give --work-dir, or --redis-url / REDIS_URL`,
    );
  }
  return { url: found.url, private: found, label: found.describe() };
}

/** The Redis of a command that reads or continues runs (`status`, `logs`, `cancel`, `resume`), with its connection settings. */
export async function redisForCommand(flags: Flags): Promise<RedisChoice & { conn: Connection }> {
  const conn = connectionFrom(flags);
  return { ...(await chooseRedis(conn, resolve(flags.str('work-dir') ?? 'flowgate-work'), 'find')), conn };
}
