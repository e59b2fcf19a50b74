/**
 * Gives the integration and browser tests a Redis, in this order:
 * `REDIS_URL` when set; else a private `redis-server` from PATH on a free
 * loopback port (no persistence, stopped at the end); else a Redis container
 * through testcontainers where a Docker engine runs. Without any of them the
 * run fails with what to install (`scripts/setup.sh`).
 *
 * Every test prefix of this run starts with `fgtest-<token>-`; at the end the
 * run fails (exit code 1) if any key under it is left in Redis (after deleting
 * them): test-hygiene.ts cleans up after each file, so these were written
 * later, by a process nobody stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { answersPingAt, freePort } from './private-redis.js';
import { onPath } from './tools.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** Token in every test prefix of this run (see uniquePrefix). */
    testRunToken: string;
  }
}

const releases: Array<() => Promise<unknown>> = [];
let url = '';
const token = randomBytes(3).toString('hex');

/** Starts `redis-server` on a free loopback port in a temporary directory; resolves with its URL. */
async function startPrivateRedis(binary: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'fgtest-redis-'));
  const port = await freePort();
  const proc: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  releases.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  const privateUrl = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`${binary} exited with code ${proc.exitCode} before answering on port ${port}`);
    if (await answersPingAt(privateUrl)) return privateUrl;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${binary} did not answer PING on port ${port} within 10 s`);
}

export async function setup(project: TestProject): Promise<void> {
  const given = process.env['REDIS_URL'];
  const server = onPath('redis-server');
  if (given !== undefined && given !== '') {
    url = given;
  } else if (server !== undefined) {
    url = await startPrivateRedis(server);
    process.stderr.write(`tests: REDIS_URL is not set; started a private redis-server on ${url}\n`);
  } else if (onPath('docker') !== undefined) {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7.4-alpine').start();
    url = container.getConnectionUrl();
    releases.push(() => container.stop());
  } else {
    throw new Error('the integration and browser tests need Redis: set REDIS_URL, or install redis-server (scripts/setup.sh does; or apt-get install redis-server / brew install redis). `npm run test:unit` needs none.');
  }
  project.provide('redisUrl', url);
  project.provide('testRunToken', token);
}

/** Keys of this run still in Redis, deleted; returns them. */
async function leftoverKeys(): Promise<string[]> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `fgtest-${token}-*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
    return keys;
  } finally {
    client.disconnect();
  }
}

export async function teardown(): Promise<void> {
  let leaked: string[] = [];
  try {
    if (url !== '') leaked = await leftoverKeys();
  } finally {
    for (const release of releases.splice(0).reverse()) await release();
  }
  if (leaked.length > 0) {
    const byPrefix = new Map<string, number>();
    for (const k of leaked) {
      const p = k.split(':')[0] ?? k;
      byPrefix.set(p, (byPrefix.get(p) ?? 0) + 1);
    }
    const list = [...byPrefix].map(([p, n]) => `!!   ${p}: ${n} keys`).join('\n');
    // Written after their test file ended, by a process nobody stopped: the run fails.
    process.stderr.write(`\n!! FAILED: tests left ${leaked.length} Redis keys behind (now deleted):\n${list}\n`);
    process.exitCode = 1;
  }
}
