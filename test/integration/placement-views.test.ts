/**
 * Named resources and hosts where a user looks, on a real fleet:
 * `flowgate scheduler --placement hosts`, workers of two hosts (one with two
 * GPU slots), a board. While two GPU nodes hold both slots of host a and a
 * pinned node holds part of host b: `flowgate status` (text and JSON),
 * `flowgate hosts` (text and JSON), the board's API and `/metrics` show the
 * named budget, what is held and free per resource and per host, and each
 * node's host and slots; after the run its summary's budget names the GPUs.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HostWithUsage } from '../../src/shared/held-resources.js';
import type { RunSummary } from '../../src/scheduler/summary.js';
import type { NodeView, RunDetail, RunOverview } from '../../src/shared/run-view.js';
import { runCli, writeWorkflow } from '../helpers/cli.js';
import { closeFleets, fleet, leading, liveHosts } from '../helpers/fleet.js';
import { waitFor } from '../helpers/wait-for.js';
import { parseMetrics } from '../helpers/metrics.js';

afterEach(closeFleets);

describe('named resources and hosts in status, hosts, the board API and /metrics', () => {
  it('shows the GPU budget, what each host holds and has free, and every node\'s host and slots', async () => {
    const f = fleet('pviews');
    const { dir, env } = f;
    await leading(f.start(['scheduler', '--placement', 'hosts', '--work-dir', join(dir, 'work'), '--reconcile-interval-ms', '1000']));
    f.start(['worker', '--name', 'a1', '--host-id', 'a', '--capacity', 'procs=2,mem_gb=2,gpu=2', '--concurrency', '3', '--heartbeat-ms', '300']);
    f.start(['worker', '--name', 'b1', '--host-id', 'b', '--capacity', 'procs=2,mem_gb=2', '--concurrency', '3', '--heartbeat-ms', '300']);
    const board = f.start(['board', '--port', '0', '--host', '127.0.0.1']);
    const base = await waitFor(() => /board listening on (http:\/\/\S+)/.exec(board.stderr())?.[1], 20_000, 'the board to listen');
    await liveHosts(f, 2);
    // The service publishes the fleet's budget once its host watch has both hosts.
    await waitFor(async () => {
      const sv = (await (await fetch(`${base}/api/service`)).json()) as { budget?: { n_procs: number; resources?: Record<string, number> } } | null;
      return sv?.budget?.n_procs === 4 && sv.budget.resources?.['gpu'] === 2 ? true : undefined;
    }, 20_000, 'the service to publish the fleet budget');

    // Every node waits for the release file: the holds stay while the views are read.
    const release = join(dir, 'release');
    const hold = `while [ ! -e ${release} ]; do sleep 0.05; done`;
    const wf = writeWorkflow(dir, 'wf.json', {
      name: 'views',
      nodes: [
        { id: 'g1', command: hold, n_procs: 1, mem_gb: 0.5, resources: { gpu: 1 } },
        { id: 'g2', command: hold, n_procs: 1, mem_gb: 0.5, resources: { gpu: 1 } },
        { id: 'p', command: hold, n_procs: 1, mem_gb: 0.5, host: 'b' },
      ],
    });
    const follower = f.start(['submit', wf, '--wait', '--json', '--run-id', 'views-run']);
    const detail = await waitFor(async () => {
      const res = await runCli(['status', 'views-run', '--json'], { env });
      if (res.code !== 0) return undefined;
      const d = JSON.parse(res.stdout) as RunDetail;
      return d.nodes.every((n) => n.state === 'running') && d.waiting !== null ? d : undefined;
    }, 60_000, 'the three nodes to run');

    // status --json: each node's host and slots; the two GPU nodes hold both slots of host a.
    const byId = new Map<string, NodeView>(detail.nodes.map((n) => [n.id, n]));
    expect(byId.get('g1')).toMatchObject({ host: 'a', resources: { gpu: 1 }, granted: { resources: { gpu: 1 } } });
    expect(byId.get('p')).toMatchObject({ host: 'b', slots: null, resources: {} });
    expect([...(byId.get('g1')?.slots?.['gpu'] ?? []), ...(byId.get('g2')?.slots?.['gpu'] ?? [])].sort()).toEqual([0, 1]);
    expect(detail.waiting?.budget.resources).toEqual({ gpu: 2 });
    expect(detail.waiting?.free.resources).toEqual({ gpu: 0 });
    expect(detail.ledger.timeline.at(-1)?.resources).toEqual({ gpu: 2 });

    // status text: the named budget and where each node in flight runs.
    const text = await runCli(['status', 'views-run'], { env });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/budget 4 procs \/ 4 GB, gpu 2,/);
    expect(text.stdout).toMatch(/g1 on a1 @a \[gpu [01]\]/);
    expect(text.stdout).toMatch(/p on b1 @b[,\n]/);
    expect(text.stdout).toContain('placed on hosts: a 2 nodes, b 1 node');

    // flowgate hosts: held and free per host, GPUs included.
    const hostsJson = JSON.parse((await runCli(['hosts', '--json'], { env })).stdout) as HostWithUsage[];
    const hostA = hostsJson.find((h) => h.host_id === 'a');
    const hostB = hostsJson.find((h) => h.host_id === 'b');
    expect(hostA).toMatchObject({ status: 'alive', held: { n_procs: 2, mem_gb: 1, resources: { gpu: 2 } }, free: { n_procs: 0, mem_gb: 1, resources: { gpu: 0 } } });
    expect(hostB).toMatchObject({ held: { n_procs: 1, mem_gb: 0.5, resources: {} }, free: { n_procs: 1, mem_gb: 1.5, resources: {} } });
    const hostsText = (await runCli(['hosts'], { env })).stdout;
    expect(hostsText).toMatch(/^a {2}alive .*\n {2}held 2 procs, 1 GB, gpu 2 {2}free 0 procs, 1 GB, gpu 0$/m);
    expect(hostsText).toMatch(/^b {2}alive .*\n {2}held 1 procs, 0.5 GB {2}free 1 procs, 1.5 GB$/m);

    // The board's API: the run's ledger and nodes, and the hosts.
    const overview = (await (await fetch(`${base}/api/runs/views-run`)).json()) as RunOverview;
    expect(overview.ledger.timeline.at(-1)?.resources).toEqual({ gpu: 2 });
    expect(overview.budget.resources).toEqual({ gpu: 2 });
    const page = (await (await fetch(`${base}/api/runs/views-run/nodes`)).json()) as { nodes: NodeView[] };
    expect(page.nodes.find((n) => n.id === 'g2')).toMatchObject({ host: 'a', granted: { resources: { gpu: 1 } } });
    const apiHosts = (await (await fetch(`${base}/api/hosts`)).json()) as HostWithUsage[];
    expect(apiHosts.find((h) => h.host_id === 'a')?.held.resources).toEqual({ gpu: 2 });

    // /metrics: the ledger per named resource, and per host.
    const m = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    expect(m.get('flowgate_ledger_budget{resource="gpu"}')).toBe(2);
    expect(m.get('flowgate_ledger_reserved{resource="gpu"}')).toBe(2);
    expect(m.get('flowgate_ledger_free{resource="gpu"}')).toBe(0);
    expect(m.get('flowgate_ledger_reserved{resource="procs"}')).toBe(3);
    expect(m.get('flowgate_host_up{host="a"}')).toBe(1);
    expect(m.get('flowgate_host_capacity{host="a",resource="gpu"}')).toBe(2);
    expect(m.get('flowgate_host_reserved{host="a",resource="gpu"}')).toBe(2);
    expect(m.get('flowgate_host_free{host="a",resource="gpu"}')).toBe(0);
    expect(m.get('flowgate_host_reserved{host="b",resource="procs"}')).toBe(1);
    expect(m.get('flowgate_host_free{host="b",resource="memory_gb"}')).toBe(1.5);

    writeFileSync(release, '');
    const res = await follower.done;
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.budget).toEqual({ n_procs: 4, memory_gb: 4, resources: { gpu: 2 } });
    expect(summary.nodes.find((n) => n.id === 'p')?.host).toBe('b');
    expect(existsSync(release)).toBe(true);

    // Once the run ended nothing is held anywhere.
    const after = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    expect(after.get('flowgate_host_reserved{host="a",resource="gpu"}')).toBe(0);
    expect(after.get('flowgate_ledger_reserved{resource="gpu"}') ?? 0).toBe(0);
  }, 120_000);
});
