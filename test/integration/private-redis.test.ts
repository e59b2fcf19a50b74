/**
 * No Redis configured and none on the default address: `flowgate run` starts
 * a private redis-server on a Unix socket in the work dir (with an
 * append-only file) and stops it when the run ends; `status`, `logs` and
 * `resume` find it again. Each command runs in a network namespace of its
 * own, where nothing listens on 127.0.0.1:6379 (the shared test Redis stays
 * out of reach), so the private server is the only Redis there is.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { CLI, runCli, tempDir, writeWorkflow, type CliProcess, type CliResult } from '../helpers/cli.js';
import { isAlive } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

const canIsolate = process.getuid?.() === 0 && existsSync('/usr/bin/unshare') && existsSync('/usr/sbin/ip');
if (!canIsolate) console.warn('SKIPPED private-redis tests: they need root, unshare and ip to run commands where no Redis answers on 127.0.0.1:6379');

const started: CliProcess[] = [];
const servers: number[] = [];
afterEach(() => {
  for (const p of started.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const pid of servers.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  // Whatever a failed test left: private servers of these tests' work dirs.
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('/fg-private-')) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // Gone.
    }
  }
});

/** Environment without a Redis URL. */
function noRedisEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FLOWGATE_LOG_LEVEL: 'warn', ...extra };
  delete env['REDIS_URL'];
  return env;
}

/** `flowgate ...args` in a fresh network namespace (loopback up, nothing listening). */
function isolated(args: readonly string[], env: NodeJS.ProcessEnv = noRedisEnv()): CliProcess {
  const child = spawn('/usr/bin/unshare', ['-n', '/bin/sh', '-c', '/usr/sbin/ip link set lo up && exec "$0" "$@"', process.execPath, CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  const p = { child, stdout: () => stdout, stderr: () => stderr, done };
  started.push(p);
  return p;
}

function serverPid(work: string): number {
  return Number(readFileSync(join(work, '.flowgate-redis', 'redis.pid'), 'utf8').trim());
}

describe.skipIf(!canIsolate)('a private Redis when none is configured', () => {
  it('flowgate run starts one in the work dir and stops it at the end; status and logs start it again to read the run', async () => {
    const dir = tempDir('fg-private');
    const work = join(dir, 'work');
    const wf = writeWorkflow(dir, 'wf.yaml', 'name: p\nnodes:\n  - id: a\n    command: echo hello-from-a\n  - id: b\n    command: "true"\n    needs: [a]\n');
    const run = await isolated(['run', wf, '--work-dir', work, '--json']).done;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`on a private Redis (unix:${join(work, '.flowgate-redis', 'redis.sock')}, started for this command)`);
    const summary = JSON.parse(run.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    // Stopped when the run ended (the server removes its socket and pid file); its data stayed.
    const socket = join(work, '.flowgate-redis', 'redis.sock');
    await waitFor(() => !existsSync(socket) && !existsSync(join(work, '.flowgate-redis', 'redis.pid')), 10_000, 'the private Redis to stop');
    expect(existsSync(join(work, '.flowgate-redis', 'appendonlydir'))).toBe(true);

    const status = await isolated(['status', summary.run_id, '--work-dir', work, '--json']).done;
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { status: string }).status).toBe('succeeded');
    const logs = await isolated(['logs', summary.run_id, 'a', '--work-dir', work, '--stream', 'stdout']).done;
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('hello-from-a');
    await waitFor(() => !existsSync(socket), 10_000, 'the private Redis started by logs to stop');
  });

  it('survives a killed flowgate run: resume finds it running and finishes the run, then stops it', async () => {
    const dir = tempDir('fg-private');
    const work = join(dir, 'work');
    const gate = join(dir, 'gate');
    const runs = join(dir, 'runs');
    const wf = writeWorkflow(dir, 'wf.json', {
      name: 'k',
      nodes: [
        { id: 'first', command: `echo first >> ${runs}` },
        { id: 'slow', needs: ['first'], command: `echo slow >> ${runs}; while [ ! -e ${gate} ]; do sleep 0.05; done` },
      ],
    });
    const runId = 'private-kill';
    const run = isolated(['run', wf, '--work-dir', work, '--quiet', '--run-id', runId]);
    await waitFor(() => existsSync(runs) && readFileSync(runs, 'utf8').includes('slow'), 30_000, 'slow to start');
    run.child.kill('SIGKILL');
    // Its fleet's worker finishes `slow` gracefully (and keeps the pipes open until then).
    await waitFor(() => run.child.signalCode !== null, 10_000, 'flowgate run to die');
    const pid = serverPid(work);
    servers.push(pid);
    expect(isAlive(pid)).toBe(true);
    writeWorkflow(dir, 'gate', '1');
    const resumed = await isolated(['resume', runId, '--work-dir', work, '--json']).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('on a private Redis');
    expect((JSON.parse(resumed.stdout) as RunSummary).status).toBe('succeeded');
    // `first` ran once; the rest of the run was driven through the same private Redis.
    expect(readFileSync(runs, 'utf8').split('\n').filter((l) => l === 'first')).toHaveLength(1);
    await waitFor(() => !isAlive(pid), 10_000, 'the private Redis to stop after resume');
  });

  it('without redis-server on PATH says how to install it or where to point flowgate (exit 3), and writes nothing', async () => {
    const dir = tempDir('fg-private');
    const work = join(dir, 'work');
    const wf = writeWorkflow(dir, 'wf.yaml', 'name: p\nnodes:\n  - id: a\n    command: "true"\n');
    const res = await isolated(['run', wf, '--work-dir', work], noRedisEnv({ PATH: '/nonexistent' })).done;
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/redis-server is not on PATH/);
    expect(res.stderr).toMatch(/apt-get install redis-server/);
    expect(res.stderr).toMatch(/brew install redis/);
    expect(res.stderr).toMatch(/--redis-url or REDIS_URL/);
    expect(existsSync(join(work, '.flowgate-redis'))).toBe(false);
  });
});

describe('an empty REDIS_URL', () => {
  it('is an error naming the variable (exit 2), not a silent fallback', async () => {
    const dir = tempDir('fg-private');
    const wf = writeWorkflow(dir, 'wf.yaml', 'name: p\nnodes:\n  - id: a\n    command: "true"\n');
    const res = await runCli(['run', wf, '--work-dir', join(dir, 'work')], { env: { REDIS_URL: '' } });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('env REDIS_URL');
    expect(res.stderr).toContain('is set but empty');
  });
});
