// `npm run demo`: runs examples/demo.yaml with the built CLI. Redis: REDIS_URL
// when set; else the default redis://127.0.0.1:6379 when it answers; else a
// private redis-server from PATH on a free loopback port (no persistence),
// stopped when the demo ends. Without any of them it says what to install.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli', 'main.js');

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

async function answers(url) {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
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

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a private redis-server; resolves with its URL and a stop function. */
async function privateRedis(binary) {
  const dir = mkdtempSync(join(tmpdir(), 'flowgate-demo-redis-'));
  const port = await freePort();
  const proc = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) break;
    if (await answers(url)) return { url, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`${binary} did not answer on port ${port}`);
}

let url = process.env.REDIS_URL;
let stop = async () => undefined;
if (url === undefined || url === '') {
  const fallback = 'redis://127.0.0.1:6379';
  const server = onPath('redis-server');
  if (await answers(fallback)) url = fallback;
  else if (server !== undefined) {
    ({ url, stop } = await privateRedis(server));
    process.stderr.write(`demo: no Redis at ${fallback}; started a private redis-server on ${url} for this demo (its run state goes with it; the summary stays in flowgate-work/_runs/)\n`);
  } else {
    process.stderr.write(`demo: no Redis answers at ${fallback} and redis-server is not installed.\n  Run scripts/setup.sh (installs redis-server), or start a Redis 7 and set REDIS_URL.\n`);
    process.exit(1);
  }
}

const child = spawn(process.execPath, [cli, 'run', join(root, 'examples', 'demo.yaml'), ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, REDIS_URL: url } });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
const code = await new Promise((resolve) => child.once('exit', (c, s) => resolve(c ?? (s === null ? 1 : 128))));
await stop();
process.exit(code);
