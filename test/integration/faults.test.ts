/**
 * Faults that must end in a definite state: killed workers, timeouts with
 * process trees, retries, a node's own crash. The built CLI runs as a process
 * against the real Redis.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, startCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { nodeOf as node, isAlive as alive } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});



/** Fast lost-worker detection for tests. */
const FAST_LOSS = ['--lock-duration-ms', '1500', '--stalled-interval-ms', '500', '--reconcile-interval-ms', '1000'];

async function runWith(wf: object, flags: string[]): Promise<{ code: number | null; summary: RunSummary; dir: string }> {
  const dir = tempDir('fg-fault');
  const prefix = uniquePrefix('fault');
  prefixes.push(prefix);
  const path = writeWorkflow(dir, 'wf.json', wf);
  const res = await runCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work'), ...flags], {
    env: { REDIS_URL: redisUrl() },
  });
  if (res.stdout.trim() === '') throw new Error(`no summary (exit ${String(res.code)}):\n${res.stderr}`);
  return { code: res.code, summary: JSON.parse(res.stdout) as RunSummary, dir };
}

/** Starts a run whose `victim` node records its worker's pid, then kills that worker with SIGKILL. */
async function killWorkerDuringRun(extraFlags: string[]): Promise<{ code: number | null; summary: RunSummary; dir: string; grandchild: number }> {
  const dir = tempDir('fg-kill');
  const prefix = uniquePrefix('kill');
  prefixes.push(prefix);
  const marker = join(dir, 'killed-once');
  const wf = {
    name: 'killworker',
    nodes: [
      {
        id: 'victim',
        // First run: record the worker (our parent) and a sleeping grandchild, then wait.
        // Second run (after the kill was noticed): finish quickly.
        command: `if [ -e ${marker} ]; then exit 0; fi; sleep 60 & echo $! > grandchild; echo $FLOWGATE_WORKER_PID > worker; wait`,
      },
      { id: 'after', command: ['true'], needs: ['victim'] },
      // Runs on the other worker (each has concurrency 1) while the victim's worker is killed.
      { id: 'independent', command: ['sleep', '2'] },
    ],
  };
  const path = writeWorkflow(dir, 'wf.json', wf);
  const p = startCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '2', '--memory-gb', '2', '--workers', '2', ...FAST_LOSS, ...extraFlags], {
    env: { REDIS_URL: redisUrl() },
  });
  const nodeDir = join(dir, 'work', 'killworker', 'victim');
  await waitFor(() => existsSync(join(nodeDir, 'worker')) && readFileSync(join(nodeDir, 'worker'), 'utf8').trim() !== '', 20_000, 'victim to start');
  const workerPid = Number(readFileSync(join(nodeDir, 'worker'), 'utf8').trim());
  const grandchild = Number(readFileSync(join(nodeDir, 'grandchild'), 'utf8').trim());
  writeWorkflow(dir, 'killed-once', '1');
  process.kill(workerPid, 'SIGKILL');
  const res = await p.done;
  return { code: res.code, summary: JSON.parse(res.stdout) as RunSummary, dir, grandchild };
}

describe('a worker killed with SIGKILL mid-node', () => {
  // The launcher kills its dead worker's node groups; with Node's spawn the fleet does.
  it.each(['launcher', 'node'])('is detected, its orphans are killed (%s spawner), and the node runs again on another worker', async (spawner) => {
    const { code, summary, grandchild } = await killWorkerDuringRun(['--spawner', spawner]);
    expect(code).toBe(0);
    expect(node(summary, 'victim')).toMatchObject({ status: 'succeeded', stalls: 1, attempts: 2 });
    // The killed execution is in the node's history.
    expect(node(summary, 'victim').attempt_history.map((a) => [a.status, a.reason])).toEqual([
      ['killed', 'killed: worker lost'],
      ['succeeded', null],
    ]);
    expect(node(summary, 'after').status).toBe('succeeded');
    expect(node(summary, 'independent').status).toBe('succeeded');
    expect(alive(grandchild)).toBe(false);
  });

  it('past its allowed stalls fails as "worker lost" with a crash record', async () => {
    const { code, summary } = await killWorkerDuringRun(['--max-stalled-count', '0']);
    expect(code).toBe(1);
    const victim = node(summary, 'victim');
    expect(victim.status).toBe('failed');
    expect(victim.reason).toMatch(/^worker lost/);
    expect(victim.crash_file).not.toBeNull();
    expect(readFileSync(victim.crash_file as string, 'utf8')).toContain('worker lost');
    expect(node(summary, 'after')).toMatchObject({ status: 'skipped', skipped_because: 'victim' });
    expect(node(summary, 'independent').status).toBe('succeeded');
  });
});

describe('timeouts, retries and process trees', () => {
  it('kills a timed-out node with its whole process tree and reports the timeout', async () => {
    const wf = {
      name: 'timeout',
      nodes: [
        // The grandchild ignores SIGTERM: only the group-wide SIGKILL stops it.
        { id: 'slow', timeout_s: 0.5, command: ['sh', '-c', "sh -c 'trap \"\" TERM; echo $$ > grandchild; sleep 60' & wait"] },
        { id: 'after', command: ['true'], needs: ['slow'] },
      ],
    };
    const { code, summary, dir } = await runWith(wf, ['--n-procs', '1', '--memory-gb', '1']);
    expect(code).toBe(1);
    expect(node(summary, 'slow')).toMatchObject({ status: 'failed', reason: 'timed out after 0.5 s' });
    expect(node(summary, 'after').status).toBe('skipped');
    const grandchild = Number(readFileSync(join(dir, 'work', 'timeout', 'slow', 'grandchild'), 'utf8').trim());
    await waitFor(() => !alive(grandchild), 10_000, 'the grandchild to be killed');
    expect(readdirSync(join(dir, 'work', '_crashes')).filter((f) => f.endsWith('.json'))).toHaveLength(1);
  });

  it('retries a failing node, keeping its resources, and records every attempt', async () => {
    const wf = {
      name: 'retry',
      defaults: { retry_delay_s: 0.1 },
      nodes: [
        { id: 'flaky', retries: 2, n_procs: 2, command: 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ]' },
        { id: 'hopeless', retries: 1, command: 'echo nope >&2; exit 4' },
        { id: 'after', command: ['true'], needs: ['flaky'] },
      ],
    };
    const { code, summary } = await runWith(wf, ['--n-procs', '3', '--memory-gb', '2']);
    expect(code).toBe(1);
    const flaky = node(summary, 'flaky');
    expect(flaky).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(flaky.attempt_history.map((a) => a.status)).toEqual(['failed', 'failed', 'succeeded']);
    // The hold was taken once and released once, around all three attempts.
    expect(flaky.admitted_ms).toBeLessThanOrEqual(flaky.attempt_history[0]?.start_ms as number);
    expect(flaky.released_ms).toBeGreaterThanOrEqual(flaky.attempt_history[2]?.end_ms as number);
    const hopeless = node(summary, 'hopeless');
    expect(hopeless).toMatchObject({ status: 'failed', attempts: 2, reason: 'exit code 4' });
    expect(readFileSync(hopeless.crash_file as string, 'utf8')).toContain('"attempt": 2');
    expect(node(summary, 'after').status).toBe('succeeded');
  });

  it('reports a node killed by a signal and one writing megabytes of output', async () => {
    const wf = {
      name: 'misc',
      nodes: [
        { id: 'killed', command: ['sh', '-c', 'kill -9 $$'] },
        { id: 'chatty', command: ['sh', '-c', 'head -c 5000000 /dev/zero | tr "\\0" x; head -c 3000000 /dev/zero | tr "\\0" y >&2; exit 2'] },
      ],
    };
    const { code, summary, dir } = await runWith(wf, ['--n-procs', '2', '--memory-gb', '2']);
    expect(code).toBe(1);
    expect(node(summary, 'killed')).toMatchObject({ status: 'failed', reason: 'killed by signal SIGKILL', signal: 'SIGKILL', exit_code: null });
    expect(node(summary, 'chatty')).toMatchObject({ status: 'failed', reason: 'exit code 2' });
    // Logs are kept whole on disk; only a tail travels through Redis.
    const chattyDir = join(dir, 'work', 'misc', 'chatty');
    expect(readFileSync(join(chattyDir, 'stdout.log')).length).toBe(5_000_000);
    expect(readFileSync(join(chattyDir, 'stderr.log')).length).toBe(3_000_000);
    const crash = JSON.parse(readFileSync(node(summary, 'chatty').crash_file as string, 'utf8')) as { stderr_tail: string };
    expect(crash.stderr_tail.length).toBeLessThanOrEqual(4096);
    expect(crash.stderr_tail).toMatch(/^y+$/);
  });
});

describe('measured resources', () => {
  const hog = { id: 'hog', mem_gb: 0.1, command: [process.execPath, '-e', 'const b = Buffer.alloc(300e6, 1); setTimeout(() => b.length, 1500)'] };
  const spin = { id: 'spin', command: [process.execPath, '-e', 'const end = Date.now() + 1200; while (Date.now() < end);'] };

  it('records CPU seconds and peak RSS per node, flags nodes above their declaration, writes resource_monitor.json', async () => {
    const { code, summary, dir } = await runWith({ name: 'measure', nodes: [hog, spin] }, ['--n-procs', '2', '--memory-gb', '2', '--sample-interval-ms', '100']);
    expect(code).toBe(0);
    const h = node(summary, 'hog');
    expect(h.peak_rss_mb).toBeGreaterThan(250);
    expect(node(summary, 'spin').cpu_s).toBeGreaterThan(0.5);
    expect(summary.memory_warnings.map((w) => w.node)).toEqual(['hog']);
    expect(summary.memory_warnings[0]?.measured_gb).toBeGreaterThan(0.25);
    const monitor = JSON.parse(readFileSync(join(dir, 'work', '_runs', `${summary.run_id}.resource_monitor.json`), 'utf8')) as Record<string, unknown[]>;
    expect(Object.keys(monitor).sort()).toEqual(['cpus', 'interface', 'mapnode', 'name', 'params', 'rss_GiB', 'time', 'vms_GiB']);
    expect(monitor['name']).toContain('measure.hog');
    expect(monitor['name']).toContain('measure.spin');
    expect(new Set(Object.values(monitor).map((a) => a.length)).size).toBe(1);
  });

  it('with --enforce-memory kills a node that exceeds its grant and says so', async () => {
    const { code, summary } = await runWith({ name: 'enforce', nodes: [hog, { id: 'after', command: ['true'], needs: ['hog'] }] }, [
      '--n-procs', '2', '--memory-gb', '2', '--sample-interval-ms', '100', '--enforce-memory=0.5',
    ]);
    expect(code).toBe(1);
    const h = node(summary, 'hog');
    expect(h.status).toBe('failed');
    expect(h.reason).toMatch(/^exceeded memory grant \(declared 0\.1 GB, measured 0\.\d+ GB\)$/);
    expect(node(summary, 'after').status).toBe('skipped');
  });
});
