/**
 * A redis-server of one test's own, on a free port, for what the shared test
 * Redis must not be put through (a memory limit, a restart). Started with
 * `extraArgs` (e.g. `--maxmemory 8mb`), stopped and its directory removed
 * by {@link PrivateRedis.stop}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { tempDir } from './cli.js';
import { waitFor } from './wait-for.js';

/** The redis-server binary (the one .ci/run starts). */
export const REDIS_SERVER = '/usr/bin/redis-server';

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

/** A running redis-server of this test's own. */
export class PrivateRedis {
  readonly url: string;
  private output = '';
  private readonly exited: Promise<void>;

  private constructor(
    readonly port: number,
    private readonly proc: ChildProcess,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
  }

  /** Starts redis-server (no persistence) and waits until it answers PING. */
  static async start(extraArgs: readonly string[] = []): Promise<PrivateRedis> {
    const port = await freePort();
    const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tempDir('fg-redis'), '--daemonize', 'no', ...extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const redis = new PrivateRedis(port, proc);
    await waitFor(
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`redis-server exited:\n${redis.output}`);
        const client = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
        client.on('error', () => undefined);
        try {
          await client.connect();
          return (await client.ping()) === 'PONG';
        } catch {
          return false;
        } finally {
          client.disconnect();
        }
      },
      10_000,
      `redis-server on port ${port} to answer PING`,
    );
    return redis;
  }

  /** Stops redis-server and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    await this.exited;
  }
}
