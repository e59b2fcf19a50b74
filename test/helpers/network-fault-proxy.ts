/**
 * A TCP proxy in front of a private Redis, on localhost only, through which
 * every flowgate process of a chaos episode talks to Redis. It can delay
 * every chunk in both directions, stall all traffic (connections stay open,
 * bytes wait), cut every open connection, or refuse new ones — the network
 * faults a Redis client meets between hosts. Its timers are the faults
 * themselves (a chunk held for the added latency, a stall of a planned
 * length), not waits for something to happen.
 */
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';

/** A chunk waiting to be forwarded, due at `dueMs`. */
interface Pending {
  chunk: Buffer;
  dueMs: number;
}

/**
 * One direction of one connection: chunks are forwarded in order, each no
 * earlier than `delayMs` after it arrived and not while the proxy stalls.
 */
class Pipe {
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly proxy: NetworkFaultProxy,
    private readonly to: Socket,
  ) {}

  push(chunk: Buffer): void {
    const last = this.queue[this.queue.length - 1];
    const dueMs = Math.max(Date.now() + this.proxy.delayMs, last?.dueMs ?? 0);
    this.queue.push({ chunk, dueMs });
    this.drain();
  }

  drain(): void {
    if (this.timer !== undefined) return;
    if (this.proxy.stalled) return;
    const now = Date.now();
    while (this.queue.length > 0 && (this.queue[0]?.dueMs ?? 0) <= now) {
      const item = this.queue.shift();
      if (item !== undefined && !this.to.destroyed) this.to.write(item.chunk);
    }
    const next = this.queue[0];
    if (next !== undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.drain();
      }, next.dueMs - now);
    }
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

/** The planned length of a fault. */
const lasting = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A localhost TCP proxy to `127.0.0.1:targetPort` with injectable network faults. */
export class NetworkFaultProxy {
  /** Added latency per chunk, both directions (0: none). */
  delayMs = 0;
  /** While true, no byte is forwarded (they are kept, in order). */
  stalled = false;
  /** While true, new connections are closed at once. */
  refusing = false;
  private readonly pipes = new Set<Pipe>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private listenPort = 0;

  constructor(private readonly targetPort: number) {}

  /** The URL clients use instead of the Redis's own. */
  get url(): string {
    return `redis://127.0.0.1:${this.listenPort}`;
  }

  /** Listens on a free localhost port. */
  async start(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.listenPort = (server.address() as AddressInfo).port;
  }

  private accept(client: Socket): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    const up = new Pipe(this, upstream);
    const down = new Pipe(this, client);
    this.pipes.add(up).add(down);
    this.sockets.add(client).add(upstream);
    const closeBoth = (): void => {
      up.close();
      down.close();
      this.pipes.delete(up);
      this.pipes.delete(down);
      this.sockets.delete(client);
      this.sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', closeBoth);
      s.on('close', closeBoth);
    }
    client.on('data', (d: Buffer) => up.push(d));
    upstream.on('data', (d: Buffer) => down.push(d));
    upstream.connect(this.targetPort, '127.0.0.1');
  }

  /** Holds every byte until {@link resume}. */
  stall(): void {
    this.stalled = true;
  }

  /** Ends a stall: held bytes flow again, in order. */
  resume(): void {
    this.stalled = false;
    for (const pipe of this.pipes) pipe.drain();
  }

  /** Closes every open connection (clients see a reset and reconnect). */
  cut(): void {
    for (const s of [...this.sockets]) s.destroy();
  }

  /** Back to a transparent proxy. */
  heal(): void {
    this.delayMs = 0;
    this.refusing = false;
    this.resume();
  }

  /** Stalls all traffic for `ms`, then lets the held bytes flow again. */
  async stallFor(ms: number): Promise<void> {
    this.stall();
    await lasting(ms);
    this.resume();
  }

  /** Adds `delayMs` to every chunk for `ms`, then heals. */
  async delayFor(delayMs: number, ms: number): Promise<void> {
    this.delayMs = delayMs;
    await lasting(ms);
    this.heal();
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    this.cut();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
