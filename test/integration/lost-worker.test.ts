/**
 * Lost workers are found from their heartbeats, with default settings: a
 * standalone worker killed with SIGKILL mid-node has its node requeued (or
 * failed as "worker lost") well before BullMQ's 30 s job lock could expire,
 * and the processes it left behind are killed whatever the spawner, before
 * the node runs again.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { isAlive, nodeOf } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

const prefixes: string[] = [];
const started: CliProcess[] = [];
const strays: number[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const pid of strays.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

/** BullMQ's default job lock: a rerun sooner than this was started by the heartbeat check. */
const BULLMQ_LOCK_MS = 30_000;

interface Killed {
  summary: RunSummary;
  killedAtMs: number;
  /** Start stamps (epoch ms) of the victim's executions, in order. */
  starts: number[];
  /** The first execution's shell and its sleeping grandchild. */
  orphans: number[];
  /** When the submitted run's result arrived. */
  endedAtMs: number;
}

/**
 * A scheduler service and two standalone workers (defaults, concurrency 1);
 * the victim's worker is killed with SIGKILL while the victim runs.
 */
async function killWorkerUnderService(workerFlags: string[]): Promise<Killed> {
  const dir = tempDir('fg-lost');
  const prefix = uniquePrefix('lost');
  prefixes.push(prefix);
  const env = { REDIS_URL: redisUrl(), FLOWGATE_PREFIX: prefix };
  const starts = join(dir, 'starts');
  const path = writeWorkflow(dir, 'wf.json', {
    name: 'lost',
    nodes: [
      {
        id: 'victim',
        // First execution: record worker, shell and a sleeping grandchild, then wait.
        command: `date +%s%3N >> ${starts}; if [ -e ${join(dir, 'killed')} ]; then exit 0; fi; sleep 120 & echo "$FLOWGATE_WORKER_PID $$ $!" > ${join(dir, 'pids')}; wait`,
      },
      { id: 'after', command: ['true'], needs: ['victim'] },
    ],
  });
  const scheduler = startCli(['scheduler', '--work-dir', join(dir, 'work'), '--n-procs', '2', '--memory-gb', '2'], { env });
  started.push(scheduler);
  await waitFor(() => scheduler.stderr().includes('leading as'), 20_000, 'the scheduler to lead');
  for (const name of ['w1', 'w2']) started.push(startCli(['worker', '--name', name, '--concurrency', '1', ...workerFlags], { env }));
  const submitted = startCli(['submit', path, '--wait', '--json'], { env });
  started.push(submitted);
  const pids = join(dir, 'pids');
  await waitFor(() => existsSync(pids) && readFileSync(pids, 'utf8').trim().split(' ').length === 3, 30_000, 'the victim to start');
  const [worker, shell, grandchild] = readFileSync(pids, 'utf8').trim().split(' ').map(Number) as [number, number, number];
  strays.push(shell, grandchild);
  writeWorkflow(dir, 'killed', '1');
  const killedAtMs = Date.now();
  process.kill(worker, 'SIGKILL');
  const res = await submitted.done;
  const endedAtMs = Date.now();
  expect(res.code, res.stderr).not.toBeNull();
  return {
    endedAtMs,
    summary: JSON.parse(res.stdout) as RunSummary,
    killedAtMs,
    starts: readFileSync(starts, 'utf8').trim().split('\n').map(Number),
    orphans: [shell, grandchild],
  };
}

describe('a standalone worker killed with SIGKILL, default settings', () => {
  it.each(['node', 'launcher'])('its node is requeued from heartbeats and its orphans are killed first (%s spawner)', async (spawner) => {
    const { summary, killedAtMs, starts, orphans } = await killWorkerUnderService(['--spawner', spawner]);
    expect(summary.status).toBe('succeeded');
    expect(starts).toHaveLength(2);
    // Found from heartbeats (three missed beats of 2 s), not from the job lock.
    expect((starts[1] as number) - killedAtMs).toBeLessThan(BULLMQ_LOCK_MS / 2);
    for (const pid of orphans) expect(isAlive(pid)).toBe(false);
    const victim = nodeOf(summary, 'victim');
    expect(victim).toMatchObject({ status: 'succeeded', stalls: 1, attempts: 2 });
    expect(victim.attempt_history.map((a) => [a.status, a.reason])).toEqual([
      ['killed', 'killed: worker lost'],
      ['succeeded', null],
    ]);
    expect(nodeOf(summary, 'after').status).toBe('succeeded');
  });

  it('fails the node as "worker lost" when its worker allows no rerun, and kills its orphans', async () => {
    const { summary, killedAtMs, endedAtMs, starts, orphans } = await killWorkerUnderService(['--spawner', 'node', '--max-stalled-count', '0']);
    expect(summary.status).toBe('failed');
    expect(starts).toHaveLength(1);
    const victim = nodeOf(summary, 'victim');
    expect(victim.status).toBe('failed');
    expect(victim.reason).toMatch(/^worker lost: worker w[12] stopped beating/);
    expect(endedAtMs - killedAtMs).toBeLessThan(BULLMQ_LOCK_MS / 2);
    expect(nodeOf(summary, 'after')).toMatchObject({ status: 'skipped', skipped_because: 'victim' });
    for (const pid of orphans) expect(isAlive(pid)).toBe(false);
  });
});

describe('a worker of the same host', () => {
  it('kills the processes a lost worker of its host left running (for a scheduler on another host)', async () => {
    const prefix = uniquePrefix('reap');
    prefixes.push(prefix);
    const instance = 'deadbeef00112233';
    // What a worker killed with SIGKILL leaves: its registration, beating no more, and a node.
    const orphan = spawn('sh', ['-c', 'sleep 120 & wait'], { detached: true, stdio: 'ignore', env: { ...process.env, FLOWGATE_WORKER_INSTANCE: instance } });
    orphan.unref();
    strays.push(orphan.pid as number);
    const redis = new Redis(redisUrl());
    try {
      const beat = Date.now() - 60_000;
      const info = { name: 'gone', instance, host: hostname(), pid: 999_999, concurrency: 1, max_tasks_per_child: 10, started_ms: beat, heartbeat_ms: beat, heartbeat_interval_ms: 2000, nodes_done: 0, current: [] };
      await redis.multi().set(`${prefix}:fg:worker:gone`, JSON.stringify(info), 'PX', 60_000).zadd(`${prefix}:fg:workers`, beat, 'gone').exec();
    } finally {
      redis.disconnect();
    }
    expect(isAlive(orphan.pid as number)).toBe(true);
    const worker = startCli(['worker', '--name', 'alive', '--concurrency', '1', '--heartbeat-ms', '200'], { env: { REDIS_URL: redisUrl(), FLOWGATE_PREFIX: prefix } });
    started.push(worker);
    await waitFor(() => !isAlive(orphan.pid as number), 20_000, 'the lost worker\'s orphan to be killed');
    worker.child.kill('SIGTERM');
    await worker.done;
  });
});
