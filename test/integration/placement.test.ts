/**
 * Per-host placement as a user runs it: `flowgate scheduler --placement
 * hosts` and worker groups with distinct `--host-id` and `--capacity` on one
 * Redis. Each node runs whole on one host whose capacity holds it (threads,
 * memory, GPU slots), pins and label selectors are honoured, the per-host
 * sums of held resources never exceed the host's capacity on the workers'
 * own clocks, a node larger than every single host is refused, and a lost
 * host's node is placed again on a host that is left.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeSummary, RunSummary } from '../../src/scheduler/summary.js';
import type { RunDetail } from '../../src/shared/run-view.js';
import { runCli, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { closeFleets, fleet, leading, liveHosts, type Fleet } from '../helpers/fleet.js';
import { markLines, waitForMarks } from '../helpers/marks.js';
import { redisUrl } from '../helpers/redis.js';
import { peakUsage } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

afterEach(closeFleets);

/** A fleet placed per host: a `--placement hosts` scheduler and workers declaring their host. */
interface HostsFleet extends Fleet {
  scheduler(extra?: string[]): CliProcess;
  worker(name: string, host: string, capacity: string, extra?: string[]): CliProcess;
}

function hostsFleet(label: string): HostsFleet {
  const f = fleet(label);
  return {
    ...f,
    scheduler: (extra = []) => f.start(['scheduler', '--placement', 'hosts', '--work-dir', join(f.dir, 'work'), '--reconcile-interval-ms', '1000', ...extra]),
    worker: (name, host, capacity, extra = []) =>
      f.start(['worker', '--name', name, '--host-id', host, '--capacity', capacity, '--concurrency', '4', '--heartbeat-ms', '300', ...extra]),
  };
}

/** The nodes placed on `host`, with their worker-stamped times. */
function onHost(s: RunSummary, host: string): NodeSummary[] {
  return s.nodes.filter((n) => n.host === host);
}

async function submit(f: Fleet, wf: string, runId: string): Promise<RunSummary> {
  const res = await runCli(['submit', wf, '--wait', '--json', '--run-id', runId], { env: f.env, timeoutMs: 90_000 });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as RunSummary;
}

describe('per-host placement (flowgate scheduler --placement hosts)', () => {
  it('places every node whole on one host that holds it, never over any host, with distinct GPU slots, pins and labels', async () => {
    const f = hostsFleet('place');
    await leading(f.scheduler());
    // Host a: 2 procs, 2 GB, two GPUs. Host b: 3 procs, 6 GB, served by two worker processes.
    f.worker('a1', 'a', 'procs=2,mem_gb=2,gpu=2', ['--label', 'gpu=a100']);
    f.worker('b1', 'b', 'procs=3,mem_gb=6');
    f.worker('b2', 'b', 'procs=3,mem_gb=6');
    expect(await liveHosts(f, 2)).toEqual(['a', 'b']);

    const gpuOut = (i: number): string => `echo "$CUDA_VISIBLE_DEVICES" > gpu-${i}.txt; sleep 0.6`;
    const nodes = [
      ...Array.from({ length: 8 }, (_, i) => ({ id: `plain${i}`, command: 'sleep 0.4', n_procs: 1, mem_gb: 1 })),
      ...Array.from({ length: 3 }, (_, i) => ({ id: `gpu${i}`, command: gpuOut(i), resources: { gpu: 1 }, n_procs: 1, mem_gb: 0.5 })),
      { id: 'pinned', command: 'sleep 0.3', n_procs: 3, mem_gb: 1, host: 'b' },
      { id: 'labelled', command: 'sleep 0.3', host_labels: { gpu: 'a100' } },
    ];
    const wf = writeWorkflow(f.dir, 'wf.json', { name: 'placed', nodes });
    const summary = await submit(f, wf, 'placed-run');
    expect(summary.status).toBe('succeeded');

    // Every node ran on the host it was placed on, by a worker of that host.
    const workersOf: Record<string, string[]> = { a: ['a1'], b: ['b1', 'b2'] };
    for (const n of summary.nodes) {
      expect(['a', 'b'], n.id).toContain(n.host);
      expect(workersOf[n.host ?? ''], n.id).toContain(n.worker);
    }
    expect(summary.nodes.filter((n) => n.id.startsWith('gpu')).every((n) => n.host === 'a')).toBe(true);
    expect(summary.nodes.find((n) => n.id === 'pinned')?.host).toBe('b');
    expect(summary.nodes.find((n) => n.id === 'labelled')?.host).toBe('a');
    // Both hosts took plain nodes.
    expect(onHost(summary, 'a').some((n) => n.id.startsWith('plain'))).toBe(true);
    expect(onHost(summary, 'b').some((n) => n.id.startsWith('plain'))).toBe(true);

    // Per host, at every instant on the workers' clocks: within its capacity.
    const peakA = peakUsage(onHost(summary, 'a'));
    const peakB = peakUsage(onHost(summary, 'b'));
    expect(peakA.n_procs).toBeLessThanOrEqual(2);
    expect(peakA.mem_gb).toBeLessThanOrEqual(2);
    expect(peakB.n_procs).toBeLessThanOrEqual(3);
    expect(peakB.mem_gb).toBeLessThanOrEqual(6);

    // GPU nodes got CUDA_VISIBLE_DEVICES: one device each, distinct while they overlapped.
    const gpus = summary.nodes.filter((n) => n.id.startsWith('gpu'));
    const devices = gpus.map((n) => readFileSync(join(n.node_dir, `gpu-${n.id.slice(3)}.txt`), 'utf8').trim());
    for (const d of devices) expect(['0', '1']).toContain(d);
    for (const [i, a] of gpus.entries()) {
      expect(a.slots).toEqual({ gpu: [Number(devices[i])] });
      for (const [j, b] of gpus.entries()) {
        if (j <= i) continue;
        const overlap = (a.start_ms ?? 0) < (b.end_ms ?? 0) && (b.start_ms ?? 0) < (a.end_ms ?? 0);
        if (overlap) expect(devices[i], `${a.id} and ${b.id} ran at once`).not.toBe(devices[j]);
      }
    }

    // The board shows the host queues with their jobs, read-only.
    const board = f.start(['board', '--port', '0', '--host', '127.0.0.1']);
    const url = await waitFor(() => /board listening on (http:\/\/\S+)/.exec(board.stderr())?.[1], 20_000, 'the board to listen');
    type Queues = { queues: Array<{ name: string; readOnlyMode: boolean; jobs: unknown[] }> };
    const shown = await waitFor(async () => {
      const body = (await (await fetch(`${url}/queues/api/queues?activeQueue=nodes@b&status=completed&page=1&jobsPerPage=50`)).json()) as Queues;
      return body.queues.some((q) => q.name === 'nodes@a') && body.queues.some((q) => q.name === 'nodes@b') ? body : undefined;
    }, 20_000, 'the board to list the host queues');
    expect(shown.queues.find((q) => q.name === 'nodes@b')?.readOnlyMode).toBe(true);
    expect(shown.queues.find((q) => q.name === 'nodes@b')?.jobs.length).toBe(onHost(summary, 'b').length);

    // Pruning the run takes its jobs out of the host queues too.
    const redis = new Redis(redisUrl());
    try {
      const jobKeys = async (): Promise<string[]> => (await redis.keys(`${f.env['FLOWGATE_PREFIX'] ?? ''}:nodes@*`)).filter((k) => k.includes('placed-run'));
      expect((await jobKeys()).length).toBeGreaterThan(0);
      const pruned = await runCli(['prune', '--older-than', '0s'], { env: f.env });
      expect(pruned.code, pruned.stderr).toBe(0);
      expect(await jobKeys()).toEqual([]);
    } finally {
      redis.disconnect();
    }
  }, 120_000);

  it('refuses a node larger than every single host, naming the largest host, though the fleet has room in sum', async () => {
    const f = hostsFleet('place-big');
    await leading(f.scheduler());
    f.worker('a1', 'a', 'procs=2,mem_gb=4');
    f.worker('b1', 'b', 'procs=2,mem_gb=4');
    await liveHosts(f, 2);
    // 3 procs: the fleet has 4 in sum, but no host has 3.
    const wf = writeWorkflow(f.dir, 'big.json', { name: 'big', nodes: [{ id: 'wide', command: 'true', n_procs: 3 }] });
    const res = await runCli(['submit', wf, '--wait', '--run-id', 'big-run'], { env: f.env, timeoutMs: 60_000 });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/wide.*needs 3 procs \(largest host [ab]: 2\).*the fleet's total does not help/);
  }, 90_000);

  it('a host that stops heartbeating leaves the fleet; its running node is placed again on a host that is left, and a pinned node waits for its host', async () => {
    const f = hostsFleet('place-lost');
    await leading(f.scheduler());
    const a = f.worker('a1', 'a', 'procs=1,mem_gb=2');
    await liveHosts(f, 1);
    const marks = join(f.dir, 'marks');
    // `long` can only start on a (b is not there yet); it records each start.
    const wf = writeWorkflow(f.dir, 'lost.json', {
      name: 'lost',
      nodes: [
        { id: 'long', command: `echo start >> ${marks}; sleep 2`, n_procs: 1 },
        { id: 'pinned', command: 'true', host: 'a', needs: ['long'] },
      ],
    });
    const follower = f.start(['submit', wf, '--wait', '--json', '--run-id', 'lost-run']);
    await waitForMarks(marks, 1, 30_000, 'long to start on host a');
    // Host b joins; host a dies with its node running.
    f.worker('b1', 'b', 'procs=2,mem_gb=2');
    a.child.kill('SIGKILL');
    // long runs again on b; pinned then waits for a, naming it.
    const waiting = await waitFor(async () => {
      const res = await runCli(['status', 'lost-run', '--json'], { env: f.env });
      const d = JSON.parse(res.stdout) as RunDetail;
      const w = d.waiting?.waiting.find((x) => x.id === 'pinned');
      return w !== undefined ? w : undefined;
    }, 60_000, 'pinned to wait for host a');
    expect(waiting.reason).toMatch(/no live host matches hosts \[a\]/);
    // Host a comes back: pinned runs there.
    f.worker('a2', 'a', 'procs=1,mem_gb=2');
    const res = await follower.done;
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    const long = summary.nodes.find((n) => n.id === 'long');
    expect(long).toMatchObject({ status: 'succeeded', host: 'b', worker: 'b1' });
    expect(long?.attempt_history.map((h) => h.status)).toEqual(['lost', 'succeeded']);
    expect(long?.attempt_history[0]?.reason).toContain('host lost: host a stopped heartbeating');
    expect(summary.nodes.find((n) => n.id === 'pinned')).toMatchObject({ status: 'succeeded', host: 'a', worker: 'a2' });
    expect(markLines(marks)).toEqual(['start', 'start']);
    // flowgate status names the lost attempt and where the node went.
    const text = await runCli(['status', 'lost-run'], { env: f.env });
    expect(text.stdout).toMatch(/^ {2}attempts killed or lost \(run again\):$/m);
    expect(text.stdout).toMatch(/^ {4}long: attempt \d+ lost[^;]*\(host lost: host a stopped heartbeating.*; attempt \d+ succeeded on b1$/m);
    expect(text.stdout).toMatch(/placed on hosts: (b 1 node, a 1 node|a 1 node, b 1 node)/);
  }, 120_000);

  it('flowgate run --fleet external places nodes per host on the registered workers, and refuses to start without any', async () => {
    const f = hostsFleet('place-ext');
    const wf = writeWorkflow(f.dir, 'ext.json', {
      name: 'ext',
      nodes: [
        ...Array.from({ length: 6 }, (_, i) => ({ id: `n${i}`, command: 'sleep 0.3', n_procs: 1, mem_gb: 1 })),
        { id: 'pinned', command: 'true', host: 'b' },
      ],
    });
    const args = ['run', wf, '--fleet', 'external', '--json', '--quiet', '--work-dir', join(f.dir, 'work')];
    const none = await runCli(args, { env: f.env });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--fleet external: no live host is registered');
    f.worker('a1', 'a', 'procs=1,mem_gb=2');
    f.worker('b1', 'b', 'procs=2,mem_gb=2');
    await liveHosts(f, 2);
    const res = await runCli(args, { env: f.env, timeoutMs: 60_000 });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(summary.nodes.find((n) => n.id === 'pinned')?.host).toBe('b');
    expect(peakUsage(onHost(summary, 'a')).n_procs).toBeLessThanOrEqual(1);
    expect(peakUsage(onHost(summary, 'b')).n_procs).toBeLessThanOrEqual(2);
    expect(onHost(summary, 'a').length + onHost(summary, 'b').length).toBe(7);
  }, 90_000);

  it('flowgate run --resource gpu=2: GPU nodes hold distinct devices, at most two at once; a node asking for a resource the budget lacks is refused', async () => {
    const { dir, env } = fleet('place-gpu');
    const nodes = Array.from({ length: 4 }, (_, i) => ({ id: `g${i}`, command: `echo "$CUDA_VISIBLE_DEVICES $FLOWGATE_RESOURCE_GPU" > dev.txt; sleep 0.5`, resources: { gpu: 1 } }));
    const wf = writeWorkflow(dir, 'gpu.json', { name: 'gpu', nodes });
    const res = await runCli(['run', wf, '--resource', 'gpu=2', '--n-procs', '4', '--memory-gb', '4', '--json', '--quiet', '--work-dir', join(dir, 'work')], { env, timeoutMs: 60_000 });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    const devices = summary.nodes.map((n) => readFileSync(join(n.node_dir, 'dev.txt'), 'utf8').trim());
    for (const [i, n] of summary.nodes.entries()) {
      const [cuda, own] = (devices[i] ?? '').split(' ');
      expect(['0', '1']).toContain(cuda);
      expect(own).toBe(cuda);
      expect(n.slots).toEqual({ gpu: [Number(cuda)] });
    }
    // At most two GPU nodes at once (the budget has two), never two on one device.
    expect(peakUsage(summary.nodes).concurrent).toBeLessThanOrEqual(2);
    for (const [i, a] of summary.nodes.entries()) {
      for (const [j, b] of summary.nodes.entries()) {
        if (j <= i) continue;
        if ((a.start_ms ?? 0) < (b.end_ms ?? 0) && (b.start_ms ?? 0) < (a.end_ms ?? 0)) expect(devices[i]).not.toBe(devices[j]);
      }
    }
    const refused = await runCli(['run', wf, '--n-procs', '4', '--memory-gb', '4', '--work-dir', join(dir, 'work')], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/g0.*needs gpu 1 but the budget has 0/);
    expect(refused.stderr).toContain('--resource NAME=N');
  }, 90_000);

  it('a new leader puts the running nodes back on their hosts before placing more: no host over its capacity across a takeover, no node run twice', async () => {
    const f = hostsFleet('place-takeover');
    const first = f.scheduler(['--leader-ttl-ms', '2000']);
    await leading(first, 'the first scheduler to lead');
    f.worker('a1', 'a', 'procs=2,mem_gb=2');
    f.worker('b1', 'b', 'procs=2,mem_gb=2');
    await liveHosts(f, 2);
    const marks = join(f.dir, 'marks');
    const nodes = Array.from({ length: 10 }, (_, i) => ({ id: `n${i}`, command: `echo n${i} >> ${marks}; sleep 1.5`, n_procs: 1, mem_gb: 1 }));
    const wf = writeWorkflow(f.dir, 'takeover.json', { name: 'takeover', nodes });
    const follower = f.start(['submit', wf, '--wait', '--json', '--run-id', 'takeover-run']);
    await waitForMarks(marks, 4, 30_000, 'four nodes to start');
    first.child.kill('SIGKILL');
    await leading(f.scheduler(['--leader-ttl-ms', '2000']), 'the second scheduler to lead', 30_000);
    const res = await follower.done;
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    const ran = markLines(marks);
    expect(ran.sort()).toEqual(nodes.map((n) => n.id).sort());
    expect(peakUsage(onHost(summary, 'a')).n_procs).toBeLessThanOrEqual(2);
    expect(peakUsage(onHost(summary, 'b')).n_procs).toBeLessThanOrEqual(2);
    expect(onHost(summary, 'a').length + onHost(summary, 'b').length).toBe(10);
  }, 120_000);

  it('a node that loses its host twice is placed again each time and completes: host losses use none of its lost-worker allowance', async () => {
    const f = hostsFleet('place-twice');
    await leading(f.scheduler());
    const a = f.worker('a1', 'a', 'procs=1,mem_gb=1');
    await liveHosts(f, 1);
    const marks = join(f.dir, 'marks');
    const wf = writeWorkflow(f.dir, 'twice.json', { name: 'twice', nodes: [{ id: 'long', command: `echo start >> ${marks}; sleep 3`, mem_gb: 0.5 }] });
    const follower = f.start(['submit', wf, '--wait', '--json', '--run-id', 'twice-run']);
    const starts = (n: number): Promise<string[]> => waitForMarks(marks, n, 40_000, `start number ${n}`);
    await starts(1);
    const b = f.worker('b1', 'b', 'procs=1,mem_gb=1');
    await liveHosts(f, 2);
    a.child.kill('SIGKILL');
    await starts(2);
    f.worker('c1', 'c', 'procs=1,mem_gb=1');
    await liveHosts(f, 2);
    b.child.kill('SIGKILL');
    const res = await follower.done;
    expect(res.code, res.stderr).toBe(0);
    const long = (JSON.parse(res.stdout) as RunSummary).nodes[0];
    expect(long).toMatchObject({ status: 'succeeded', host: 'c', worker: 'c1' });
    expect(long?.attempt_history.map((h) => [h.status, h.worker])).toEqual([
      ['lost', 'a1'],
      ['lost', 'b1'],
      ['succeeded', 'c1'],
    ]);
    expect(markLines(marks)).toHaveLength(3);
  }, 150_000);
});
