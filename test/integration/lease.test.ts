/**
 * The lease module (src/shared/lease.ts) against the real Redis: taking,
 * renewing, losing and giving up a lease, and what happens to renewals while
 * the holder cannot reach Redis. The outage is a TCP proxy between the
 * holder's client and Redis that the test cuts and restores, so the shared
 * Redis keeps running (and the lease expires there meanwhile).
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Lease, readLease, type LeaseEvents } from '../../src/shared/lease.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

/** A TCP proxy to Redis that can be cut (every connection dropped, new ones refused) and restored. */
class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private down = false;

  private constructor(private readonly server: Server) {}

  static async start(): Promise<CuttableProxy> {
    const target = new URL(redisUrl());
    const server = createServer();
    const proxy = new CuttableProxy(server);
    server.on('connection', (client) => {
      if (proxy.down) {
        client.destroy();
        return;
      }
      const upstream = connect(Number(target.port || 6379), target.hostname);
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        proxy.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          proxy.sockets.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A client of the shared Redis (through `proxy` when given), closed after the test. */
function client(proxy?: CuttableProxy): Redis {
  const redis = proxy === undefined ? new Redis(redisUrl()) : new Redis({ host: '127.0.0.1', port: proxy.port, maxRetriesPerRequest: null, retryStrategy: () => 50 });
  redis.on('error', () => undefined);
  cleanups.push(() => redis.disconnect());
  return redis;
}

/** A lease key under a prefix of this test's own (removed after it). */
function leaseKey(): string {
  const prefix = uniquePrefix('lease');
  cleanups.push(() => deletePrefix(prefix));
  return `${prefix}:fg:run:r1:lease`;
}

/** Collects a lease's events. */
function record(lease: Lease): Array<{ event: keyof LeaseEvents; holder?: string }> {
  const seen: Array<{ event: keyof LeaseEvents; holder?: string }> = [];
  lease.on('lease:retaken', () => seen.push({ event: 'lease:retaken' }));
  lease.on('lease:lost', ({ holder }) => seen.push({ event: 'lease:lost', holder }));
  lease.on('lease:unreachable', () => seen.push({ event: 'lease:unreachable' }));
  return seen;
}

/**
 * Every command Redis runs, to `onCommand` as its arguments, through
 * `redis-cli monitor`: ioredis's own monitor() can take a monitored line that
 * arrives with MONITOR's OK for a reply and throw "Command queue state error"
 * (redis/ioredis#1981) when other clients are busy on the same Redis.
 * Resolves once monitoring has begun.
 */
async function monitorCommands(onCommand: (args: string[]) => void): Promise<void> {
  const child = spawn('redis-cli', ['-u', redisUrl(), 'monitor'], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(async () => {
    child.kill();
    if (child.exitCode === null && child.signalCode === null) await new Promise((done) => child.once('exit', done));
  });
  let buffered = '';
  let started: () => void = () => undefined;
  const begun = new Promise<void>((done) => (started = done));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === 'OK') started();
      // `1796625910.302791 [0 127.0.0.1:34282] "eval" "..." ...`: the quoted arguments, unescaped.
      else onCommand([...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] ?? '').replace(/\\(.)/g, '$1')));
    }
  });
  await begun;
}

describe('Lease', () => {
  it('is taken when free or already its holder\'s; another holder learns who has it and for how long', async () => {
    const redis = client();
    const key = leaseKey();
    const a = new Lease(redis, key, { ttlMs: 5000, holder: 'host-a:1', renewEveryMs: 0 });
    const b = new Lease(redis, key, { ttlMs: 5000, holder: 'host-b:2', renewEveryMs: 0 });
    expect(await a.acquire()).toEqual({ held: true });
    const refused = await b.acquire();
    expect(refused).toMatchObject({ held: false, holder: 'host-a:1' });
    expect(refused.held === false && refused.ttlLeftMs > 0 && refused.ttlLeftMs <= 5000).toBe(true);
    // Taken again by its own holder: its time to live starts over.
    await redis.pexpire(key, 1000);
    expect(await a.acquire()).toEqual({ held: true });
    expect(await redis.pttl(key)).toBeGreaterThan(1000);
    expect(await readLease(redis, key)).toMatchObject({ holder: 'host-a:1' });
  });

  it('displaces a holder that is a dead process on this host at once', async () => {
    const redis = client();
    const key = leaseKey();
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    const pid = child.pid as number;
    await new Promise((resolve) => child.once('exit', resolve));
    await redis.set(key, `${hostname()}:${pid}`, 'PX', 60_000);
    const live = new Lease(redis, key, { ttlMs: 5000, holder: `${hostname()}:${process.pid}`, renewEveryMs: 0 });
    expect(await live.acquire()).toEqual({ held: true });
    expect(await redis.get(key)).toBe(`${hostname()}:${process.pid}`);
    // A live holder on this host is not displaced.
    const other = new Lease(redis, key, { ttlMs: 5000, holder: `${hostname()}:${pid}`, renewEveryMs: 0 });
    expect(await other.acquire()).toMatchObject({ held: false, holder: `${hostname()}:${process.pid}` });
  });

  it('renews while it is its holder\'s, takes it back when it expired and nobody took it, and is lost (untouched) to another holder', async () => {
    const redis = client();
    const key = leaseKey();
    const a = new Lease(redis, key, { ttlMs: 5000, holder: 'host-a:1', renewEveryMs: 0 });
    await a.acquire();
    await redis.pexpire(key, 500);
    expect(await a.renew()).toEqual({ outcome: 'renewed' });
    expect(await redis.pttl(key)).toBeGreaterThan(500);
    await redis.del(key); // as if it expired
    expect(await a.renew()).toEqual({ outcome: 'retaken' });
    expect(await redis.get(key)).toBe('host-a:1');
    await redis.set(key, 'host-b:2', 'PX', 60_000);
    expect(await a.renew()).toEqual({ outcome: 'lost', holder: 'host-b:2' });
    expect(await redis.get(key)).toBe('host-b:2');
    expect(await redis.pttl(key)).toBeGreaterThan(5000);
  });

  it('is released only by its holder (compare and delete)', async () => {
    const redis = client();
    const key = leaseKey();
    const a = new Lease(redis, key, { ttlMs: 5000, holder: 'host-a:1' });
    const b = new Lease(redis, key, { ttlMs: 5000, holder: 'host-b:2' });
    await a.acquire();
    expect(a.isRenewing).toBe(true);
    expect(await b.release()).toBe(false);
    expect(await redis.get(key)).toBe('host-a:1');
    expect(await a.release()).toBe(true);
    expect(a.isRenewing).toBe(false);
    expect(await redis.exists(key)).toBe(0);
    expect(await a.release()).toBe(false);
  });

  it('never runs two renewals at once: renewals asked for during an outage share the one in flight', async () => {
    const proxy = await CuttableProxy.start();
    cleanups.push(() => proxy.close());
    const direct = client();
    const holderSide = client(proxy);
    const key = leaseKey();
    const lease = new Lease(holderSide, key, { ttlMs: 5000, holder: 'host-a:1', renewEveryMs: 0 });
    await lease.acquire();
    const commands: string[][] = [];
    await monitorCommands((args) => {
      if (args.some((a) => a.startsWith(key))) commands.push(args);
    });

    proxy.cut();
    await waitFor(() => holderSide.status !== 'ready', 5000, 'the holder to see the outage');
    const renewals = Array.from({ length: 5 }, () => lease.renew());
    expect(new Set(renewals).size).toBe(1);
    proxy.restore();
    expect(await Promise.all(renewals)).toEqual(Array.from({ length: 5 }, () => ({ outcome: 'renewed' })));
    // Everything sent before the marker has reached the monitor once the marker has.
    await direct.get(`${key}:marker`);
    await waitFor(() => commands.some((c) => c.includes(`${key}:marker`)), 5000, 'the marker to be monitored');
    expect(commands.filter((c) => /^eval/i.test(c[0] ?? ''))).toHaveLength(1);
  });

  it('keeps its own lease through an outage longer than the lease: taken back, not lost', async () => {
    const proxy = await CuttableProxy.start();
    cleanups.push(() => proxy.close());
    const direct = client();
    const key = leaseKey();
    const lease = new Lease(client(proxy), key, { ttlMs: 600, holder: 'host-a:1', renewEveryMs: 100 });
    cleanups.push(() => lease.stopRenewing());
    const events = record(lease);
    await lease.acquire();
    proxy.cut();
    // Renewal ticks keep coming while the lease expires in Redis.
    await waitFor(async () => (await direct.exists(key)) === 0, 5000, 'the lease to expire during the outage');
    proxy.restore();
    await waitFor(() => events.some((e) => e.event === 'lease:retaken'), 10_000, 'the lease to be taken back');
    expect(events.filter((e) => e.event === 'lease:lost')).toEqual([]);
    expect(await direct.get(key)).toBe('host-a:1');
    expect(lease.isRenewing).toBe(true);
  });

  it('reports a lease another holder took during an outage as lost, stops renewing and leaves it alone', async () => {
    const proxy = await CuttableProxy.start();
    cleanups.push(() => proxy.close());
    const direct = client();
    const key = leaseKey();
    const lease = new Lease(client(proxy), key, { ttlMs: 600, holder: 'host-a:1', renewEveryMs: 100 });
    cleanups.push(() => lease.stopRenewing());
    const events = record(lease);
    await lease.acquire();
    proxy.cut();
    await waitFor(async () => (await direct.exists(key)) === 0, 5000, 'the lease to expire during the outage');
    const other = new Lease(direct, key, { ttlMs: 60_000, holder: 'host-b:2', renewEveryMs: 0 });
    expect(await other.acquire()).toEqual({ held: true });
    proxy.restore();
    await waitFor(() => events.some((e) => e.event === 'lease:lost'), 10_000, 'the loss to be reported');
    expect(events.filter((e) => e.event !== 'lease:unreachable')).toEqual([{ event: 'lease:lost', holder: 'host-b:2' }]);
    expect(lease.isRenewing).toBe(false);
    expect(await direct.get(key)).toBe('host-b:2');
    expect(await lease.release()).toBe(false);
    expect(await direct.get(key)).toBe('host-b:2');
  });
});
