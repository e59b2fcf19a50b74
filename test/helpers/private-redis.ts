/**
 * A redis-server of a test's own, on a free port with AOF on (fsync on every
 * write) in its own directory, so a test can stop and restart it without
 * disturbing the shared Redis. Used by the Redis-outage tests and the chaos
 * suite; imports nothing from vitest, so plain scripts can use it too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
import { waitFor } from './wait-for.js';

const REDIS_SERVER = '/usr/bin/redis-server';

/** A port nothing listens on right now, chosen by the OS. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether a Redis answers PING on `port` of this host (false while it is down or still loading). */
export function answersPing(port: number): Promise<boolean> {
  return answersPingAt(`redis://127.0.0.1:${port}`);
}

/** Whether the Redis at `url` answers PING within a second (`tls`: e.g. the CA of a TLS server). */
export async function answersPingAt(url: string, tls?: ConnectionOptions): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, ...(tls !== undefined ? { tls } : {}) });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** A private redis-server: AOF on, in directory `dir`. */
export class PrivateRedis {
  readonly url: string;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  /** A server on a free port keeping its files in `dir` (not started). */
  static async create(dir: string): Promise<PrivateRedis> {
    return new PrivateRedis(await freePort(), dir);
  }

  /** Whether the server process is running. */
  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts redis-server (reloading the AOF in `dir` if there is one; `extraArgs` win over the defaults) and waits until it answers PING. */
  async start(extraArgs: readonly string[] = []): Promise<void> {
    const proc = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'always',
       '--dir', this.dir, '--save', '', '--daemonize', 'no', '--maxmemory-policy', 'noeviction', ...extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    await waitFor(
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`redis-server exited:\n${this.output}`);
        return answersPing(this.port);
      },
      10_000,
      `redis-server on port ${this.port} to answer PING`,
    );
  }

  /**
   * The Redis-outage fault: stops redis-server with `signal`, keeps it down
   * for `ms` (the planned length of the outage, not a wait for anything) and
   * starts it again.
   */
  async downFor(ms: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await new Promise((resolve) => setTimeout(resolve, ms));
    await this.start();
  }

  /** Stops redis-server and waits for it to exit (SIGTERM: it syncs the AOF first). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await this.exited;
  }
}
