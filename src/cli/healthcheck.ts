/**
 * The container health check of a flowgate service:
 *
 *   node /app/dist/cli/healthcheck.js [scheduler|worker|board]
 *
 * Exit 0 = healthy, 1 = unhealthy, with one line saying why. Without an
 * argument the service is the container's own (`main.js <service>` as its
 * process 1 or a child of it), and a container running anything else — a
 * one-shot `submit` — is healthy.
 *
 * - worker: a worker of this host (named `<hostname>:<pid>`, the default)
 *   beat in Redis within the last {@link STALE_MS};
 * - scheduler: Redis answers and a scheduler service leads; when it is this
 *   host's, its service record beat within {@link STALE_MS} (a standby is
 *   healthy while another leads);
 * - board: `GET /healthz` on its port answers 200 (it checks Redis itself).
 *
 * Deliberately not a `flowgate` command: it must start fast and load little.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { readEnv } from '../shared/config.js';
import { Keys } from '../shared/keys.js';
import { createRedis, redactUrl } from '../shared/redis.js';

/** A heartbeat older than this is a dead or stuck service (workers beat every 2 s by default). */
export const STALE_MS = 15_000;
const SERVICES = ['scheduler', 'worker', 'board'] as const;
type Service = (typeof SERVICES)[number];

/** Healthy or not, and why. */
export interface Health {
  healthy: boolean;
  message: string;
}

/** The service this container runs: `main.js <service>` as process 1 or one of its children. */
export function containerService(procDir = '/proc'): string | undefined {
  for (const entry of readdirSync(procDir)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`${procDir}/${entry}/cmdline`, 'utf8').split('\0');
      const ppid = /^PPid:\s*(\d+)/m.exec(readFileSync(`${procDir}/${entry}/status`, 'utf8'))?.[1];
      const at = argv.findIndex((a) => a.endsWith('/cli/main.js'));
      if (at >= 0 && (entry === '1' || ppid === '1')) return argv[at + 1];
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return undefined;
}

/**
 * Whether this container's worker beat within {@link STALE_MS}: the worker
 * named `name` (FLOWGATE_WORKER_NAME) when given, else any worker named
 * `<this host>:<pid>` (the default name).
 */
export async function workerHealth(redis: Redis, prefix: string, name?: string, host = hostname(), now = Date.now()): Promise<Health> {
  const beats = await redis.zrangebyscore(new Keys(prefix).workers(), now - STALE_MS, '+inf');
  const mine = beats.filter((n) => (name !== undefined ? n === name : n.startsWith(`${host}:`)));
  return mine.length > 0
    ? { healthy: true, message: `worker ${mine.join(', ')} beating` }
    : { healthy: false, message: `no worker ${name !== undefined ? `named ${name}` : `of host ${host}`} beat in the last ${STALE_MS / 1000} s under prefix ${prefix}` };
}

/** Whether a scheduler service leads, and when it is this host's, whether it beats. */
export async function schedulerHealth(redis: Redis, prefix: string, host = hostname(), now = Date.now()): Promise<Health> {
  const keys = new Keys(prefix);
  const leader = await redis.get(keys.leader());
  if (leader === null) return { healthy: false, message: `no scheduler service leads under prefix ${prefix}` };
  if (!leader.startsWith(`${host}:`)) return { healthy: true, message: `standby; ${leader} leads` };
  const beat = Number(await redis.hget(keys.service(), 'heartbeat_ms'));
  const ttl = Number(await redis.hget(keys.service(), 'lease_ttl_ms'));
  const stale = Math.max(STALE_MS, Number.isFinite(ttl) ? 3 * ttl : 0);
  return Number.isFinite(beat) && now - beat <= stale
    ? { healthy: true, message: `leading as ${leader}` }
    : { healthy: false, message: `leads as ${leader} but its service record has not beat for ${Math.round((now - beat) / 1000)} s` };
}

async function boardHealth(env: NodeJS.ProcessEnv): Promise<Health> {
  const { boardSettings } = await import('../board/config.js');
  const port = boardSettings({}, env).settings.port;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) });
    return { healthy: res.ok, message: `GET /healthz on port ${port}: ${res.status}` };
  } catch (err) {
    return { healthy: false, message: `GET /healthz on port ${port}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Checks `service` (or the container's own); resolves with the verdict. */
export async function checkHealth(service: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Health> {
  const which = service ?? containerService();
  if (which === undefined || !(SERVICES as readonly string[]).includes(which)) return { healthy: true, message: `nothing to check for ${which ?? 'this container'}` };
  if (which === 'board') return boardHealth(env);
  const { redisUrl, prefix } = readEnv(env);
  const redis = createRedis(redisUrl, { connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const workerName = env['FLOWGATE_WORKER_NAME'];
    return (which as Service) === 'worker' ? await workerHealth(redis, prefix, workerName === '' ? undefined : workerName) : await schedulerHealth(redis, prefix);
  } catch (err) {
    return { healthy: false, message: `Redis at ${redactUrl(redisUrl)}: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    redis.disconnect();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const health = await checkHealth(process.argv[2]);
  process.stdout.write(`${health.healthy ? 'healthy' : 'unhealthy'}: ${health.message}\n`);
  process.exit(health.healthy ? 0 : 1);
}
