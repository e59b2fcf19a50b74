/**
 * Redis over TLS with a password, as a multi-host deployment puts in front
 * of Redis: a private redis-server with a TLS port only (certificates of a CA
 * made here), `flowgate run` with a `rediss://` URL — scheduler and workers
 * — and `flowgate status` read back over it; without the CA trusted, or with
 * a wrong password, the run is refused with exit 3 and a message saying what
 * to do, and nothing is written.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { answersPingAt, freePort } from '../helpers/private-redis.js';
import { needTool } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait-for.js';

const PASSWORD = 'tls-test-password';
const haveRedis = needTool('redis-server');
const haveOpenssl = needTool('openssl');

let dir = '';
let port = 0;
let server: ChildProcess | undefined;

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

function tlsClient(): Redis {
  return new Redis(`rediss://:${PASSWORD}@127.0.0.1:${port}`, {
    tls: { ca: readFileSync(join(dir, 'ca.crt')) },
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
}

beforeAll(async () => {
  if (!haveRedis || !haveOpenssl) return;
  dir = tempDir('fg-tls');
  // A CA, and a server certificate for 127.0.0.1 signed by it.
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=flowgate test CA']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeWorkflow(dir, 'san.ext', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext']);
  port = await freePort();
  server = spawn(
    'redis-server',
    ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key'),
     '--tls-ca-cert-file', join(dir, 'ca.crt'), '--tls-auth-clients', 'no', '--requirepass', PASSWORD, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  await waitFor(() => answersPingAt(`rediss://:${PASSWORD}@127.0.0.1:${port}`, { ca: readFileSync(join(dir, 'ca.crt')) }), 10_000, 'the TLS redis-server');
});

afterAll(async () => {
  if (server !== undefined && server.exitCode === null) {
    const exited = new Promise((resolve) => server?.once('exit', resolve));
    server.kill('SIGKILL');
    await exited;
  }
});

describe('Redis over TLS (rediss://) with a password', () => {
  const workflow = (): string =>
    writeWorkflow(dir, 'wf.json', { name: 'tls', nodes: [{ id: 'a', command: ['sh', '-c', 'echo a > a.txt'] }, { id: 'b', command: ['cat', '../a/a.txt'], needs: ['a'] }] });

  it('runs a workflow, scheduler and workers, and reads its status back over TLS', async () => {
    const url = `rediss://:${PASSWORD}@127.0.0.1:${port}`;
    const env = { NODE_EXTRA_CA_CERTS: join(dir, 'ca.crt'), REDIS_URL: url, FLOWGATE_PREFIX: 'fgtls' };
    const r = await runCli(['run', workflow(), '--work-dir', join(dir, 'work'), '--workers', '2', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(r.stderr).toContain(`on rediss://:***@127.0.0.1:${port}`);
    expect(r.stderr).not.toContain(PASSWORD);
    const status = await runCli(['status', summary.run_id, '--json'], { env });
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { status: string }).status).toBe('succeeded');
    const c = tlsClient();
    await c.connect();
    try {
      expect((await c.keys('fgtls:*')).length).toBeGreaterThan(0);
      await c.flushall();
    } finally {
      c.disconnect();
    }
  });

  it('without the CA trusted, or with a wrong password, refuses with exit 3, says what to do, and writes nothing', async () => {
    const wf = workflow();
    const untrusted = await runCli(['run', wf, '--work-dir', join(dir, 'untrusted'), '--redis-url', `rediss://:${PASSWORD}@127.0.0.1:${port}`], { env: { FLOWGATE_PREFIX: 'fgtls' } });
    expect(untrusted.code).toBe(3);
    expect(untrusted.stderr).toContain('TLS failed');
    expect(untrusted.stderr).toContain('NODE_EXTRA_CA_CERTS');
    const wrong = await runCli(['run', wf, '--work-dir', join(dir, 'wrong'), '--redis-url', `rediss://:not-it@127.0.0.1:${port}`], {
      env: { NODE_EXTRA_CA_CERTS: join(dir, 'ca.crt'), FLOWGATE_PREFIX: 'fgtls' },
    });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain('refused the credentials');
    expect(wrong.stderr).not.toContain('not-it');
    const plain = await runCli(['run', wf, '--work-dir', join(dir, 'plain'), '--redis-url', `redis://:${PASSWORD}@127.0.0.1:${port}`], { env: { FLOWGATE_PREFIX: 'fgtls' } });
    expect(plain.code).toBe(3);
    expect(plain.stderr).toContain('use a rediss:// URL');
    for (const d of ['untrusted', 'wrong', 'plain']) expect(existsSync(join(dir, d))).toBe(false);
    const c = tlsClient();
    await c.connect();
    try {
      expect(await c.dbsize()).toBe(0);
    } finally {
      c.disconnect();
    }
  });
});
