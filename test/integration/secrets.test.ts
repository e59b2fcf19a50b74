/**
 * Secrets stay out of sight. A password-protected redis-server of this file's
 * own runs a workflow; while a node runs, no process the run started carries
 * the password on its command line (readable by every user of the host) or in
 * its environment, and afterwards it is in none of the logs, the summary, the
 * keys in Redis or `flowgate status`. Nodes get the worker's environment, or
 * with --clean-env only the documented variables.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';
import { needTool } from '../helpers/tools.js';

const PASSWORD = `pw-${Math.random().toString(36).slice(2, 12)}`;
let server: ChildProcess | undefined;
let url = '';
let port = 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port: p } = s.address() as AddressInfo;
      s.close(() => resolve(p));
    });
  });
}

function client(): Redis {
  return new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
}

const haveRedisServer = needTool('redis-server');

beforeAll(async () => {
  if (!haveRedisServer) return;
  port = await freePort();
  url = `redis://:${PASSWORD}@127.0.0.1:${port}`;
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--requirepass', PASSWORD, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitFor(
    async () => {
      const c = client();
      c.on('error', () => undefined);
      try {
        await c.connect();
        return (await c.ping()) === 'PONG';
      } finally {
        c.disconnect();
      }
    },
    10_000,
    'the private redis-server',
  );
});

afterAll(async () => {
  if (server !== undefined && server.exitCode === null) {
    const exited = new Promise((resolve) => server?.once('exit', resolve));
    server.kill('SIGKILL');
    await exited;
  }
});

/** Every process below `root` (by parent pid), with its argv and environment. */
function descendants(root: number): Array<{ pid: number; cmdline: string; environ: string }> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of stat is the parent pid; the command name (field 2) may hold spaces, so parse after ")".
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: Array<{ pid: number; cmdline: string; environ: string }> = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    queue.push(...(children.get(pid) ?? []));
    try {
      out.push({ pid, cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '), environ: readFileSync(`/proc/${pid}/environ`, 'utf8') });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Every value stored under `prefix`, as text. */
async function dumpPrefix(prefix: string): Promise<string> {
  const c = client();
  await c.connect();
  try {
    const keys = await c.keys(`${prefix}:*`);
    const parts: string[] = [];
    for (const key of keys) {
      const type = await c.type(key);
      if (type === 'string') parts.push(String(await c.get(key)));
      else if (type === 'hash') parts.push(JSON.stringify(await c.hgetall(key)));
      else if (type === 'list') parts.push(JSON.stringify(await c.lrange(key, 0, -1)));
      else if (type === 'set') parts.push(JSON.stringify(await c.smembers(key)));
      else if (type === 'zset') parts.push(JSON.stringify(await c.zrange(key, 0, -1)));
      else if (type === 'stream') parts.push(JSON.stringify(await c.xrange(key, '-', '+')));
    }
    expect(keys.length).toBeGreaterThan(0);
    return parts.join('\n');
  } finally {
    c.disconnect();
  }
}

/** Variables a node env dump (`env` output) defines. */
function envNames(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l))
    .map((l) => l.slice(0, l.indexOf('=')));
}

describe('the Redis password', () => {
  it('is on no command line nor in any environment of the run\'s processes, and in none of its outputs', async () => {
    const dir = tempDir('fg-secret');
    const work = join(dir, 'work');
    const prefix = uniquePrefix('secret');
    const path = writeWorkflow(dir, 'wf.json', {
      name: 'secret',
      nodes: [
        // Holds until the test has looked at every process.
        { id: 'hold', command: ['sh', '-c', 'touch started; while [ ! -e ../../release ]; do sleep 0.05; done'] },
        { id: 'env', command: ['env'], needs: ['hold'] },
        { id: 'fails', command: ['sh', '-c', 'exit 3'], needs: ['hold'], retries: 0 },
      ],
    });
    const run = startCli(['run', path, '--redis-url', url, '--prefix', prefix, '--work-dir', work, '--workers', '2', '--spawner', 'node', '--json'], {
      cwd: dir,
      env: { FLOWGATE_LOG_LEVEL: 'debug', FLOWGATE_TEST_MARKER: 'inherited' },
    });
    try {
      await waitFor(() => existsSync(join(work, 'secret', 'hold', 'started')), 30_000, 'the node to start');
      const procs = descendants(run.child.pid as number);
      // The workers and the node itself are among them.
      expect(procs.filter((p) => p.cmdline.includes(' worker ')).length).toBe(2);
      expect(procs.some((p) => p.cmdline.includes('touch started'))).toBe(true);
      for (const p of procs) {
        expect(p.cmdline, `cmdline of ${p.pid}: ${p.cmdline}`).not.toContain(PASSWORD);
        expect(p.environ.includes(PASSWORD), `environment of ${p.pid} (${p.cmdline})`).toBe(false);
      }
    } finally {
      writeFileSync(join(work, 'release'), '');
    }
    const res = await run.done;
    expect(res.code, res.stderr).toBe(1);
    const summary = JSON.parse(res.stdout) as { run_id: string; counts: Record<string, number>; failures: Array<{ crash_file: string }> };
    expect(summary.counts).toMatchObject({ succeeded: 2, failed: 1 });
    // Logs (debug level), the summary on stdout and on disk, the crash record, the keys in Redis, status.
    expect(res.stderr).toContain('redis://:***@127.0.0.1');
    expect(res.stderr).not.toContain(PASSWORD);
    expect(res.stdout).not.toContain(PASSWORD);
    expect(readFileSync(join(work, '_runs', `${summary.run_id}.json`), 'utf8')).not.toContain(PASSWORD);
    expect(readFileSync(summary.failures[0]?.crash_file ?? '', 'utf8')).not.toContain(PASSWORD);
    expect(await dumpPrefix(prefix)).not.toContain(PASSWORD);
    for (const args of [['status'], ['status', summary.run_id], ['status', summary.run_id, '--json']]) {
      const status = await runCli([...args, '--redis-url', url, '--prefix', prefix], { cwd: dir });
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toContain(summary.run_id);
      expect(status.stdout + status.stderr).not.toContain(PASSWORD);
    }
    // Without --clean-env a node gets the worker's environment.
    const env = readFileSync(join(work, 'secret', 'env', 'stdout.log'), 'utf8');
    expect(env).toContain('FLOWGATE_TEST_MARKER=inherited');
    expect(env).toContain(`FLOWGATE_NODE_ID=env`);
    expect(env).not.toContain(PASSWORD);
    const c = client();
    await c.connect();
    try {
      const keys = await c.keys(`${prefix}:*`);
      if (keys.length > 0) await c.del(...keys);
    } finally {
      c.disconnect();
    }
  });
});

describe('--clean-env', () => {
  it('gives command and function nodes only PATH, HOME, LANG, LC_*, TZ, TMPDIR, the node\'s FLOWGATE_*, OMP_NUM_THREADS and its env', async () => {
    const dir = tempDir('fg-cleanenv');
    const work = join(dir, 'work');
    const prefix = uniquePrefix('cleanenv');
    writeFileSync(join(dir, 'fn.mjs'), 'export function names() { return { names: Object.keys(process.env).sort() }; }\n');
    const path = writeWorkflow(dir, 'wf.json', {
      name: 'clean',
      nodes: [
        { id: 'env', command: ['env'], env: { MINE: 'yes' } },
        { id: 'fn', function: { module: './fn.mjs', export: 'names' } },
      ],
    });
    // The password comes through REDIS_URL this time: the user's own variable, which --clean-env keeps from nodes.
    const res = await runCli(['run', path, '--prefix', prefix, '--work-dir', work, '--clean-env', '--json', '--quiet'], {
      cwd: dir,
      env: { REDIS_URL: url, SECRET_TOKEN: 'do-not-leak', LC_ALL: 'C', TZ: 'UTC', FLOWGATE_BOARD_PASSWORD: 'board-secret' },
    });
    expect(res.code, res.stderr).toBe(0);
    const allowed = (name: string): boolean => ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'OMP_NUM_THREADS', 'MINE'].includes(name) || name.startsWith('LC_') || ['FLOWGATE_RUN_ID', 'FLOWGATE_NODE_ID', 'FLOWGATE_N_PROCS', 'FLOWGATE_MEM_GB', 'FLOWGATE_NODE_DIR', 'FLOWGATE_WORKER_PID', 'FLOWGATE_WORKER_INSTANCE'].includes(name);
    const names = envNames(readFileSync(join(work, 'clean', 'env', 'stdout.log'), 'utf8'));
    expect(names.filter((n) => !allowed(n))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['PATH', 'MINE', 'OMP_NUM_THREADS', 'FLOWGATE_NODE_ID', 'LC_ALL', 'TZ']));
    const summary = JSON.parse(res.stdout) as { nodes: Array<{ id: string; outputs?: { names: string[] } }> };
    const fnNames = summary.nodes.find((n) => n.id === 'fn')?.outputs?.names ?? [];
    expect(fnNames.length).toBeGreaterThan(0);
    expect(fnNames.filter((n) => !allowed(n) && n !== 'NODE_CHANNEL_FD' && n !== 'NODE_CHANNEL_SERIALIZATION_MODE')).toEqual([]);
    const c = client();
    await c.connect();
    try {
      const keys = await c.keys(`${prefix}:*`);
      if (keys.length > 0) await c.del(...keys);
    } finally {
      c.disconnect();
    }
  });
});
