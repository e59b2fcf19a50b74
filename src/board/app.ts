/**
 * The board: an Express app serving the JSON API, Prometheus metrics, Bull
 * Board for the node queue and the static dashboard page.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../shared/logger.js';
import { NODE_QUEUE } from '../shared/payloads.js';
import { createRedis, reconnectDelay } from '../shared/redis.js';
import { maskEnvDeep } from '../shared/secrets.js';
import { apiRouter } from './api.js';
import { basicAuth, type BasicCredentials } from './auth.js';
import { BoardMetrics } from './metrics.js';
import { BODY_LIMIT, bodyError, bullBoardCsp, sameOriginWrites, securityHeaders } from './security.js';

/** What the board needs. */
export interface BoardOptions {
  redisUrl: string;
  prefix: string;
  /** Allow Bull Board's write actions (retry, clean, remove, ...) and cancelling runs; callers require `auth` with it. */
  writable: boolean;
  /** HTTP Basic credentials for everything but `/healthz`; none: open. */
  auth?: BasicCredentials;
  logger: Logger;
  /** Directory of the dashboard's static files; default `./public/` beside this module. */
  publicDir?: string;
}

/** The app and how to release its connections. */
export interface BoardApp {
  app: Express;
  /** Closes the Redis connections (the HTTP server is the caller's). */
  close(): Promise<void>;
}

/** A listening board. */
export interface RunningBoard {
  server: Server;
  /** The port actually bound (useful with port 0). */
  port: number;
  host: string;
  /** Stops listening, drops open connections and closes Redis. */
  close(): Promise<void>;
}

const HEALTH_TIMEOUT_MS = 2000;
const CLOSE_TIMEOUT_MS = 2000;

/** An error that came from Redis or the connection to it. */
function isRedisError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return err.name === 'ReplyError' || err.name === 'MaxRetriesPerRequestError' || /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EPIPE/.test(code) || /Connection is closed|Stream isn't writeable|Command timed out/.test(err.message);
}

/** How often the board looks for host queues that appeared (per-host placement). */
const HOST_QUEUE_SCAN_MS = 10_000;

/** Builds the board app; its Redis clients connect on first use. */
export function createBoardApp(options: BoardOptions): BoardApp {
  const { logger: log, prefix, redisUrl } = options;
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 5000, commandTimeout: 10_000 });
  redis.on('error', (err: unknown) => log.debug({ err }, 'board redis error'));
  const queue = new Queue(NODE_QUEUE, { connection: { url: redisUrl, maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: reconnectDelay }, prefix, skipMetasUpdate: true });
  queue.on('error', (err: unknown) => log.debug({ err }, 'board queue error'));
  const metrics = new BoardMetrics(redis, prefix, queue);

  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders());

  app.get('/healthz', async (_req: Request, res: Response) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        redis.ping(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), HEALTH_TIMEOUT_MS);
        }),
      ]);
      res.json({ ok: true, redis: 'up' });
    } catch {
      res.status(503).json({ ok: false, redis: 'down' });
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  });

  if (options.auth !== undefined) app.use(basicAuth(options.auth));
  // Before any body is read: a cross-site write is refused unparsed.
  app.use(sameOriginWrites());
  // The one body parser for the board and Bull Board (whose own parser then skips the parsed body).
  app.use(express.json({ limit: BODY_LIMIT }));

  const bull = new ExpressAdapter();
  bull.setBasePath('/queues');
  const adapterOf = (q: Queue): BullMQAdapter => {
    const a = new BullMQAdapter(q, { readOnlyMode: !options.writable });
    // Job data carries the node's env (also inside its cache key's parts): shown with secret-looking values masked.
    a.setFormatter('data', (data: unknown) => maskEnvDeep(data));
    a.setFormatter('returnValue', (value: unknown) => maskEnvDeep(value));
    return a;
  };
  const board = createBullBoard({
    queues: [adapterOf(queue)],
    serverAdapter: bull,
    options: { uiConfig: { boardTitle: `flowgate ${prefix}` } },
  });
  // Host queues (`nodes@<host id>`, per-host placement) are shown as they appear.
  const hostQueues = new Map<string, Queue>();
  const findHostQueues = async (): Promise<void> => {
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:${NODE_QUEUE}@*:meta`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) {
          const name = key.slice(prefix.length + 1, -':meta'.length);
          if (hostQueues.has(name) || name.includes(':')) continue;
          const q = new Queue(name, { connection: { url: redisUrl, maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: reconnectDelay }, prefix, skipMetasUpdate: true });
          q.on('error', (err: unknown) => log.debug({ err }, 'board queue error'));
          hostQueues.set(name, q);
          board.addQueue(adapterOf(q));
        }
      } while (cursor !== '0');
    } catch (err) {
      log.debug({ err }, 'board: cannot look for host queues');
    }
  };
  void findHostQueues();
  const hostQueueTimer = setInterval(() => void findHostQueues(), HOST_QUEUE_SCAN_MS);
  hostQueueTimer.unref();
  // Bull Board's own body format (its UI reads it; its statuses stop at 500), never a stack.
  bull.setErrorHandler((err: Error) => {
    const redisDown = isRedisError(err);
    if (!redisDown) log.error({ err }, 'board: bull board request failed');
    return { status: 500, body: { error: { key: 'ERRORS.INTERNAL_SERVER_ERROR' }, message: redisDown ? 'redis unavailable' : 'internal error' } };
  });
  const bullApp = bull.getRouter() as Express;
  // Bull Board is an Express app of its own, with its own default settings.
  bullApp.disable('x-powered-by');
  app.use('/queues', bullBoardCsp(), bullApp);

  app.use('/api', apiRouter(redis, prefix, { writable: options.writable, authenticated: options.auth !== undefined, log }));

  app.get('/metrics', async (_req: Request, res: Response) => {
    const text = await metrics.text();
    res.set('Content-Type', metrics.registry.contentType).send(text);
  });

  const publicDir = options.publicDir ?? fileURLToPath(new URL('./public/', import.meta.url));
  app.use(express.static(publicDir, { index: 'index.html', fallthrough: true }));

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });
  // Express recognises error handlers by their four parameters.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const body = bodyError(err);
    if (body !== undefined) {
      res.status(body.status).json({ error: body.message });
      return;
    }
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 0;
    if (status >= 400 && status < 500) {
      res.status(status).json({ error: err instanceof Error && err.message !== '' ? err.message : 'bad request' });
      return;
    }
    if (isRedisError(err)) {
      log.warn({ err, path: req.path }, 'board: redis unavailable');
      res.status(503).json({ error: 'redis unavailable' });
      return;
    }
    log.error({ err, path: req.path }, 'board: request failed');
    res.status(500).json({ error: 'internal error' });
  });

  // Polite when Redis answers; bounded when it does not.
  const close = async (): Promise<void> => {
    clearInterval(hostQueueTimer);
    let timer: NodeJS.Timeout | undefined;
    const hosts = [...hostQueues.values()];
    await Promise.race([
      Promise.all([queue.close().catch(() => undefined), ...hosts.map((q) => q.close().catch(() => undefined)), redis.quit().catch(() => undefined)]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    redis.disconnect();
    await Promise.all([queue, ...hosts].map((q) => q.disconnect().catch(() => undefined)));
  };
  return { app, close };
}

/** Starts the board on `host:port` (port 0: any free port). */
export async function startBoard(options: BoardOptions & { host: string; port: number }): Promise<RunningBoard> {
  const board = createBoardApp(options);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = board.app.listen(options.port, options.host);
    s.once('listening', () => resolve(s));
    s.once('error', (err) => {
      void board.close();
      reject(err);
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await board.close();
    })());
  return { server, port, host: options.host, close };
}
