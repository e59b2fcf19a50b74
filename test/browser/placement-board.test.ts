/**
 * The board in a real browser on a per-host fleet (`flowgate scheduler
 * --placement hosts`, workers of two hosts, one with two GPU slots): the
 * runs page lists the hosts with capacity, held and free resources and
 * liveness; a run's page shows the GPU budget, a chart of the GPU slots
 * reserved, what is free of them, and each node's host and slots.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { launchBrowser, pageErrors, screenshot, VIEWPORT } from '../helpers/browser.js';
import { runCli, writeWorkflow } from '../helpers/cli.js';
import { closeFleets, fleet, leading } from '../helpers/fleet.js';
import { needTool } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait-for.js';

describe('the board on a per-host fleet', () => {
  let browser: Browser | undefined;
  const haveChromium = needTool('chromium');

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await closeFleets();
  });

  it('shows hosts with held and free resources, the GPU ledger, and each node\'s host and slots', async () => {
    if (!haveChromium) return;
    const f = fleet('pboard', { FLOWGATE_BOARD_USER: '', FLOWGATE_BOARD_PASSWORD: '' });
    const { dir, env } = f;
    const scheduler = f.start(['scheduler', '--placement', 'hosts', '--work-dir', join(dir, 'work'), '--reconcile-interval-ms', '1000']);
    const board = f.start(['board', '--port', '0', '--host', '127.0.0.1']);
    browser = await launchBrowser();
    await leading(scheduler);
    f.start(['worker', '--name', 'a1', '--host-id', 'a', '--capacity', 'procs=2,mem_gb=2,gpu=2', '--label', 'gpu=a100', '--concurrency', '3', '--heartbeat-ms', '300']);
    f.start(['worker', '--name', 'b1', '--host-id', 'b', '--capacity', 'procs=2,mem_gb=2', '--concurrency', '3', '--heartbeat-ms', '300']);
    const base = await waitFor(() => /board listening on (http:\/\/\S+)/.exec(board.stderr())?.[1], 20_000, 'the board to listen');
    await waitFor(async () => {
      const sv = (await (await fetch(`${base}/api/service`)).json()) as { budget?: { resources?: Record<string, number> } } | null;
      return sv?.budget?.resources?.['gpu'] === 2 ? true : undefined;
    }, 20_000, 'the service to publish the fleet budget');

    // A GPU node holds a slot of host a and a pinned node part of host b until released.
    const release = join(dir, 'release');
    const hold = `while [ ! -e ${release} ]; do sleep 0.05; done`;
    const wf = writeWorkflow(dir, 'wf.json', {
      name: 'pboard',
      nodes: [
        { id: 'gpu_node', command: hold, n_procs: 1, mem_gb: 0.5, resources: { gpu: 1 } },
        { id: 'plain', command: hold, n_procs: 1, mem_gb: 0.25, host: 'b' },
      ],
    });
    const follower = f.start(['submit', wf, '--wait', '--json', '--run-id', 'pboard-run']);
    await waitFor(async () => {
      const res = await runCli(['status', 'pboard-run', '--json'], { env });
      return res.code === 0 && /"state":"running"[^]*"state":"running"/.test(res.stdout) ? true : undefined;
    }, 60_000, 'both nodes to run');

    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    const errors = pageErrors(page);
    await page.goto(`${base}/`);
    // The runs page: each host with its capacity, what is held on it and what is free.
    const hostA = page.locator('#hosts tr[data-host="a"]');
    await hostA.waitFor({ timeout: 15_000 });
    await waitFor(async () => ((await hostA.locator('td.held').textContent()) ?? '').includes('gpu 1') || undefined, 10_000, 'host a to show its held GPU');
    expect(await hostA.getAttribute('data-status')).toBe('alive');
    expect(await hostA.locator('td.capacity').textContent()).toBe('2 procs, 2 GB, gpu 2');
    expect(await hostA.locator('td.held').textContent()).toBe('1 procs, 0.5 GB, gpu 1');
    expect(await hostA.locator('td.free').textContent()).toBe('1 procs, 1.5 GB, gpu 1');
    expect(await page.locator('#hosts tr[data-host="b"] td.held').textContent()).toBe('1 procs, 0.25 GB');
    expect(await page.locator('#service-budget').textContent()).toContain('gpu 2');

    // The run's page: the budget names the GPUs, the ledger has a GPU chart and says what is free of them.
    await page.goto(`${base}/#/runs/pboard-run`);
    await page.locator('#ledger-res-gpu path.reserved').waitFor({ timeout: 15_000 });
    expect(await page.locator('#ledger-res-gpu line.budget').count()).toBe(1);
    expect(await page.locator('figure[data-resource="gpu"] figcaption').textContent()).toBe('gpu slots reserved (budget 2)');
    expect(await page.locator('#run-budget').textContent()).toContain('gpu 2');
    await waitFor(async () => ((await page.locator('#free').textContent()) ?? '').includes('gpu 1 of 2') || undefined, 10_000, 'the free GPU figure');
    // Placement: each node's host and slots.
    const gpuRow = page.locator('#placement tr[data-node-id="gpu_node"]');
    await gpuRow.waitFor({ timeout: 10_000 });
    expect(await gpuRow.locator('td.host').textContent()).toBe('a');
    expect(await gpuRow.locator('td.slots').textContent()).toMatch(/^gpu [01]$/);
    expect(await page.locator('#placement tr[data-node-id="plain"] td.host').textContent()).toBe('b');
    // The graph's tooltip names the host and the slots too.
    expect(await page.locator('#dag-svg [data-node-id="gpu_node"] title').textContent()).toMatch(/host: a\nslots: gpu [01]/);
    await screenshot(page, 'board-placement');
    expect(errors).toEqual([]);
    await context.close();

    writeFileSync(release, '');
    const res = await follower.done;
    expect(res.code, res.stderr).toBe(0);
  }, 150_000);
});
