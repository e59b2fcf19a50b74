/**
 * A worker on another host: a Linux network namespace of its own (and a host
 * name of its own) made by this test, reaching the test's private Redis over
 * a veth pair — the only route out of it. It runs the scheduler service's
 * nodes; when that host dies (every process in its namespace killed at
 * once) its running node is requeued from heartbeats and finished by a
 * worker of this host, and the summary says where each execution ran and how
 * it ended. Traffic stays between the test's own two addresses.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { CLI, type CliProcess, killGroup, startCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { leading } from '../helpers/fleet.js';
import { markLines } from '../helpers/marks.js';
import { answersPingAt, freePort } from '../helpers/private-redis.js';
import { nodeOf } from '../helpers/summary.js';
import { needRoot, needTool } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait-for.js';

const isRoot = needRoot('network namespaces and veth pairs');
const haveRedis = needTool('redis-server');

const tag = randomBytes(3).toString('hex');
const NS = `fgns-${tag}`;
const HOST_IF = `fgv${tag}a`;
const NS_IF = `fgv${tag}b`;
const NET = `10.213.${randomBytes(1)[0] ?? 7}`;
const HOST_ADDR = `${NET}.1`;
const NS_ADDR = `${NET}.2`;
const HOST_B = `fg-host-b-${tag}`;
/** Redis refuses clients of other hosts without a password (protected mode). */
const PASSWORD = `netns-${randomBytes(8).toString('hex')}`;

let redisPort = 0;
let redis: ChildProcess | undefined;
let made = false;

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

/** Pids of every process in the namespace. */
function pidsInNamespace(): number[] {
  const r = spawnSync('ip', ['netns', 'pids', NS], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l.trim() !== '').map(Number) : [];
}

function killNamespace(): void {
  for (const pid of pidsInNamespace()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

beforeAll(async () => {
  if (!isRoot || !haveRedis) return;
  ip('netns', 'add', NS);
  made = true;
  ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF);
  ip('link', 'set', NS_IF, 'netns', NS);
  ip('addr', 'add', `${HOST_ADDR}/30`, 'dev', HOST_IF);
  ip('link', 'set', HOST_IF, 'up');
  ip('netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_ADDR}/30`, 'dev', NS_IF);
  ip('netns', 'exec', NS, 'ip', 'link', 'set', NS_IF, 'up');
  ip('netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up');
  redisPort = await freePort();
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', HOST_ADDR, '--requirepass', PASSWORD, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  await waitFor(() => answersPingAt(`redis://:${PASSWORD}@${HOST_ADDR}:${redisPort}`), 10_000, 'the private redis-server on the veth address');
});

afterAll(async () => {
  if (made) {
    killNamespace();
    spawnSync('ip', ['link', 'del', HOST_IF]);
    spawnSync('ip', ['netns', 'del', NS]);
  }
  if (redis !== undefined && redis.exitCode === null) {
    const exited = new Promise((resolve) => redis?.once('exit', resolve));
    redis.kill('SIGKILL');
    await exited;
  }
});

const started: CliProcess[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) {
    // The whole group: a worker's node launcher goes with it.
    if (p.child.exitCode === null && p.child.signalCode === null) killGroup(p, 'SIGKILL');
    await p.done;
  }
  killNamespace();
});

/** The environment of a test's processes: the private Redis (over the veth pair from host B), under `prefix`. */
function envUnder(prefix: string): { REDIS_URL: string; FLOWGATE_PREFIX: string } {
  return { REDIS_URL: `redis://:${PASSWORD}@${HOST_ADDR}:${redisPort}`, FLOWGATE_PREFIX: prefix };
}

/**
 * A node's command: it records its host in `starts`; on the first host it
 * touches `waiting` and runs until that host dies, and once `host-died` is
 * there (written by {@link killHostB}) it ends at once.
 */
function runsUntilHostDies(dir: string, starts: string): string {
  return `cat /proc/sys/kernel/hostname >> ${starts}; if [ -e ${join(dir, 'host-died')} ]; then exit 0; fi; touch ${join(dir, 'waiting')}; sleep 120 & wait`;
}

/**
 * `flowgate worker ...args` on host B: in the namespace, under a host name of
 * its own, reaching Redis only over the veth pair. Returns its stderr so far.
 */
function startWorkerOnHostB(args: readonly string[], env: NodeJS.ProcessEnv): () => string {
  const worker = spawn('ip', ['netns', 'exec', NS, 'unshare', '--uts', 'sh', '-c', `hostname ${HOST_B} && exec "${process.execPath}" "${CLI}" worker ${args.join(' ')}`], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  worker.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return () => stderr;
}

/**
 * Starts a scheduler service (`schedulerArgs`), host B's worker
 * (`workerArgs`) and `flowgate submit --wait --json` of `workflow`; resolves
 * with the submission once the node of {@link runsUntilHostDies} runs on
 * host B.
 */
async function runOnHostB(dir: string, workflow: string, env: NodeJS.ProcessEnv, schedulerArgs: readonly string[], workerArgs: readonly string[], what: string): Promise<CliProcess> {
  const scheduler = startCli(['scheduler', '--work-dir', join(dir, 'work'), ...schedulerArgs], { env });
  started.push(scheduler);
  await leading(scheduler);
  const workerB = startWorkerOnHostB(workerArgs, env);
  const submitted = startCli(['submit', workflow, '--wait', '--json'], { env });
  started.push(submitted);
  await waitFor(() => existsSync(join(dir, 'waiting')), 30_000, `${what} (worker: ${workerB()})`);
  return submitted;
}

/** Host B dies: every process in its namespace at once, its node's next execution told to end. */
async function killHostB(dir: string, what: string): Promise<void> {
  writeWorkflow(dir, 'host-died', '1');
  killNamespace();
  await waitFor(() => pidsInNamespace().length === 0, 10_000, `${what} to be dead`);
}

async function flushPrivateRedis(url: string): Promise<void> {
  const c = new Redis(url);
  try {
    await c.flushall();
  } finally {
    c.disconnect();
  }
}

describe('a worker on another host (own network namespace, reached over a veth pair)', () => {
  it('runs the service nodes; when its host dies, its node is requeued and finished here', async () => {
    const dir = tempDir('fg-netns');
    const env = envUnder('fgnetns');
    const starts = join(dir, 'starts');
    const path = writeWorkflow(dir, 'wf.json', {
      name: 'netns',
      nodes: [
        { id: 'where', command: 'cat /proc/sys/kernel/hostname > host.txt; readlink /proc/self/ns/net > netns.txt' },
        {
          id: 'victim',
          needs: ['where'],
          // Each execution records its host; the first then signals that it waits.
          command: runsUntilHostDies(dir, starts),
        },
      ],
    });
    const submitted = await runOnHostB(dir, path, env, ['--n-procs', '2', '--memory-gb', '2'], ['--name', 'wb', '--concurrency', '1', '--heartbeat-ms', '500'], 'the victim to start on host B');
    const where = join(dir, 'work', 'netns', 'where');
    expect(readFileSync(join(where, 'host.txt'), 'utf8').trim()).toBe(HOST_B);
    expect(readFileSync(join(where, 'netns.txt'), 'utf8').trim()).not.toBe(readlinkSync('/proc/self/ns/net'));

    // Host B dies. A worker of this host takes over.
    await killHostB(dir, 'host B');
    started.push(startCli(['worker', '--name', 'wa', '--concurrency', '1', '--heartbeat-ms', '500'], { env }));
    const res = await submitted.done;
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(markLines(starts)).toEqual([HOST_B, hostname()]);
    const victim = nodeOf(summary, 'victim');
    expect(victim).toMatchObject({ status: 'succeeded', attempts: 2, worker: 'wa' });
    expect(victim.attempt_history.map((a) => [a.status, a.reason, a.worker])).toEqual([
      ['killed', 'killed: worker lost', 'wb'],
      ['succeeded', null, 'wa'],
    ]);
    expect(nodeOf(summary, 'where').worker).toBe('wb');
    await flushPrivateRedis(env.REDIS_URL);
  });

  it('with --placement hosts: a node pinned to the namespace host runs there; when that host dies its running node is placed on the host that is left', async () => {
    const dir = tempDir('fg-netns-place');
    const env = envUnder('fgnetnsplace');
    const starts = join(dir, 'starts');
    const path = writeWorkflow(dir, 'wf.json', {
      name: 'netns-place',
      nodes: [
        { id: 'pinned', host: 'nsb', command: 'cat /proc/sys/kernel/hostname > host.txt' },
        {
          id: 'mover',
          needs: ['pinned'],
          command: runsUntilHostDies(dir, starts),
        },
      ],
    });
    // Host nsb: host B's namespace, declared as host id nsb.
    const worker = ['--name', 'wb', '--host-id', 'nsb', '--capacity', 'procs=1,mem_gb=1', '--concurrency', '1', '--heartbeat-ms', '500'];
    const submitted = await runOnHostB(dir, path, env, ['--placement', 'hosts'], worker, 'mover to start on host nsb');
    expect(readFileSync(join(dir, 'work', 'netns-place', 'pinned', 'host.txt'), 'utf8').trim()).toBe(HOST_B);

    // Host nsb dies with mover running; host "here" joins and takes it.
    await killHostB(dir, 'host nsb');
    started.push(startCli(['worker', '--name', 'wa', '--host-id', 'here', '--capacity', 'procs=1,mem_gb=1', '--concurrency', '1', '--heartbeat-ms', '500'], { env }));
    const res = await submitted.done;
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(markLines(starts)).toEqual([HOST_B, hostname()]);
    expect(nodeOf(summary, 'pinned')).toMatchObject({ host: 'nsb', worker: 'wb' });
    const mover = nodeOf(summary, 'mover');
    expect(mover).toMatchObject({ status: 'succeeded', host: 'here', worker: 'wa' });
    expect(mover.attempt_history.map((a) => [a.status, a.worker])).toEqual([
      ['lost', 'wb'],
      ['succeeded', 'wa'],
    ]);
    expect(mover.attempt_history[0]?.reason).toBe('host lost: host nsb stopped heartbeating');
    await flushPrivateRedis(env.REDIS_URL);
  });
});
