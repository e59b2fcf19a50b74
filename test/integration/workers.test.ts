/**
 * Standalone `flowgate worker` processes register with a heartbeat, show up
 * in `flowgate workers`, take jobs from a `flowgate run` sharing their prefix,
 * and are reported lost when they stop beating.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import type { ListedHost } from '../../src/shared/worker-registry.js';
import { type CliProcess, killGroup, runCli, startCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { listWorkers } from '../helpers/fleet.js';
import { waitFor } from '../helpers/wait-for.js';

const prefixes: string[] = [];
const started: CliProcess[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) {
    // The whole group: a worker's node launcher goes with it.
    if (p.child.exitCode === null && p.child.signalCode === null) killGroup(p, 'SIGKILL');
    await p.done;
  }
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

describe('flowgate worker and flowgate workers', () => {
  it('lists standalone workers with their heartbeat, shares a run with them and reports a killed one as lost', async () => {
    const prefix = uniquePrefix('workers');
    prefixes.push(prefix);
    const env = { REDIS_URL: redisUrl() };
    const a = startCli(['worker', '--prefix', prefix, '--name', 'alpha', '--concurrency', '2', '--heartbeat-ms', '200'], { env });
    const b = startCli(['worker', '--prefix', prefix, '--name', 'beta', '--concurrency', '2', '--heartbeat-ms', '200'], { env });
    started.push(a, b);
    const both = await waitFor(async () => {
      const ws = await listWorkers(prefix);
      return ws.length === 2 && ws.every((w) => w.status === 'alive') ? ws : undefined;
    }, 20_000, 'both workers to register');
    expect(both.map((w) => w.name).sort()).toEqual(['alpha', 'beta']);
    for (const w of both) expect(w).toMatchObject({ concurrency: 2, max_tasks_per_child: 10, heartbeat_interval_ms: 200, current: [] });

    // A run on the same prefix with --workers 1: its own worker plus alpha and beta share the work.
    const dir = tempDir('fg-workers');
    const nodes = Array.from({ length: 12 }, (_, i) => ({ id: `n${i}`, command: ['sleep', '0.3'] }));
    const res = await runCli(['run', writeWorkflow(dir, 'wf.json', { name: 'shared', nodes }), '--json', '--quiet', '--prefix', prefix, '--work-dir', `${dir}/work`, '--n-procs', '6', '--memory-gb', '4', '--workers', '1'], { env });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    const used = new Set(summary.nodes.map((n) => n.worker));
    expect(used.has('alpha') || used.has('beta')).toBe(true);
    const done = await listWorkers(prefix);
    expect(done.reduce((sum, w) => sum + w.nodes_done, 0)).toBeGreaterThan(0);

    b.child.kill('SIGKILL');
    const after = await waitFor(async () => {
      const ws = await listWorkers(prefix);
      return ws.find((w) => w.name === 'beta')?.status === 'lost' ? ws : undefined;
    }, 20_000, 'beta to be reported lost');
    expect(after.find((w) => w.name === 'alpha')?.status).toBe('alive');

    // A graceful stop deregisters the worker.
    a.child.kill('SIGTERM');
    expect((await a.done).code).toBe(0);
    const names = (await listWorkers(prefix)).map((w) => w.name);
    expect(names).not.toContain('alpha');
    expect(names).toContain('beta');
  });

  it('flowgate hosts groups workers by --host-id with the capacity and labels they declare, and reports a host lost with its last worker', async () => {
    const prefix = uniquePrefix('hosts');
    prefixes.push(prefix);
    const env = { REDIS_URL: redisUrl() };
    const worker = (name: string, host: string, extra: string[]): CliProcess =>
      startCli(['worker', '--prefix', prefix, '--name', name, '--host-id', host, '--concurrency', '1', '--heartbeat-ms', '200', ...extra], { env });
    const a1 = worker('a1', 'gpu-box', ['--capacity', 'procs=16,mem_gb=64,gpu=2', '--label', 'gpu=a100,zone=b']);
    const a2 = worker('a2', 'gpu-box', ['--capacity', 'procs=16,mem_gb=64,gpu=2', '--label', 'gpu=a100,zone=b']);
    const b1 = worker('b1', 'small', ['--capacity', 'procs=2,mem_gb=4']);
    started.push(a1, a2, b1);
    await waitFor(() => a1.stderr().includes('capacity=16 procs, 64 GB, gpu 2'), 20_000, 'the worker to print its host capacity');
    const hostsOf = async (): Promise<ListedHost[]> => {
      const res = await runCli(['hosts', '--json', '--prefix', prefix], { env });
      expect(res.code, res.stderr).toBe(0);
      return (JSON.parse(res.stdout) as ListedHost[]).sort((x, y) => x.host_id.localeCompare(y.host_id));
    };
    const hosts = await waitFor(async () => {
      const hs = await hostsOf();
      return hs.length === 2 && hs.every((h) => h.workers.length === (h.host_id === 'gpu-box' ? 2 : 1) && h.status === 'alive') ? hs : undefined;
    }, 20_000, 'both hosts to register');
    expect(hosts[0]).toMatchObject({ host_id: 'gpu-box', capacity: { n_procs: 16, mem_gb: 64, resources: { gpu: 2 } }, labels: { gpu: 'a100', zone: 'b' }, disagreeing: [], running: 0 });
    expect(hosts[1]).toMatchObject({ host_id: 'small', capacity: { n_procs: 2, mem_gb: 4, resources: {} }, labels: {} });
    const text = await runCli(['hosts', '--prefix', prefix], { env });
    expect(text.stdout).toContain('gpu-box  alive  capacity 16 procs, 64 GB, gpu 2  labels gpu=a100,zone=b  workers 2 alive of 2');

    // A worker declaring another capacity for the same host is pointed out.
    const odd = worker('a3', 'gpu-box', ['--capacity', 'procs=8']);
    started.push(odd);
    await waitFor(async () => (await runCli(['hosts', '--prefix', prefix], { env })).stdout.includes('warning: worker(s)'), 20_000, 'the disagreement to show');
    odd.child.kill('SIGKILL');

    // The small host's only worker dies: the host is lost; gpu-box stays alive with one worker down.
    b1.child.kill('SIGKILL');
    a2.child.kill('SIGKILL');
    const after = await waitFor(async () => {
      const hs = await hostsOf();
      return hs.find((h) => h.host_id === 'small')?.status === 'lost' ? hs : undefined;
    }, 20_000, 'the small host to be lost');
    expect(after.find((h) => h.host_id === 'gpu-box')?.status).toBe('alive');

    // Bad declarations are refused naming the flag.
    const bad = await runCli(['worker', '--prefix', prefix, '--capacity', 'procs=0,gpu=x'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--capacity');
    expect(bad.stderr).toContain('procs must be a whole number from 1');
    const badLabel = await runCli(['worker', '--prefix', prefix, '--label', 'Zone=b'], { env });
    expect(badLabel.code).toBe(2);
    expect(badLabel.stderr).toContain('--label');
  });
});
