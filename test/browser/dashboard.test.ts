/**
 * The board's dashboard in a real browser: `flowgate run` and `flowgate board`
 * as processes on their own prefix, headless Chromium reading the page while
 * the run goes on and after it ended, Bull Board, Basic auth, and cancelling
 * a run from a writable board (and not from another site).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { launchBrowser, pageErrors, screenshot, VIEWPORT } from '../helpers/browser.js';
import { startCli, tempDir, writeWorkflow, type CliProcess, type CliResult } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { needTool } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait-for.js';

/** Set FLOWGATE_UPDATE_DOCS=1 to refresh docs/dashboard.png from the after-run screenshot. */
const DOCS_SHOT = join(import.meta.dirname, '../../docs/dashboard.png');

/**
 * Budget 2 procs / 4 GB. `big1` and `big2` need 3 GB each, so `big2` waits for
 * memory while `big1` runs; `boom` fails at once and takes `after_boom` down;
 * `join` needs both big ones.
 */
const WORKFLOW = {
  name: 'dash',
  nodes: [
    { id: 'big1', command: ['sleep', '6'], mem_gb: 3 },
    { id: 'big2', command: ['sleep', '2'], mem_gb: 3 },
    { id: 'boom', command: 'echo "boom: disk on fire <b>hot</b>" >&2; exit 3', mem_gb: 0.25 },
    { id: 'after_boom', command: ['true'], needs: ['boom'] },
    { id: 'join', command: ['sleep', '0.5'], needs: ['big1', 'big2'] },
  ],
};
const NODE_IDS = WORKFLOW.nodes.map((n) => n.id);
const NODE_STATES = ['waiting', 'ready', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'cached', 'cancelled'];

interface Board {
  proc: CliProcess;
  url: string;
}

/** Starts `flowgate board` on a free port; resolves once it listens. */
async function startBoard(prefix: string, env: NodeJS.ProcessEnv = {}): Promise<Board> {
  const proc = startCli(['board', '--port', '0', '--host', '127.0.0.1', '--prefix', prefix, '--redis-url', redisUrl()], { env: { FLOWGATE_BOARD_USER: '', FLOWGATE_BOARD_PASSWORD: '', ...env } });
  let exited: CliResult | undefined;
  void proc.done.then((r) => (exited = r));
  const url = await waitFor(
    () => {
      if (exited !== undefined) throw new Error(`board exited with ${String(exited.code)}: ${exited.stderr}`);
      return /board listening on (http:\/\/\S+)/.exec(proc.stderr())?.[1];
    },
    20_000,
    'the board to listen',
  );
  return { proc, url: `${url}/` };
}

/** Stops a process: SIGTERM, then SIGKILL if it is still there after 5 s. */
async function stop(proc: CliProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 5000);
  await proc.done;
  clearTimeout(timer);
}

/** The `data-state` of every node in the DAG. */
async function dagStates(page: Page): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const g of await page.locator('#dag-svg [data-node-id]').all()) {
    const id = await g.getAttribute('data-node-id');
    if (id !== null) out[id] = await g.getAttribute('data-state');
  }
  return out;
}

describe('dashboard', () => {
  const prefix = uniquePrefix('dash');
  const runId = `dash-${prefix.slice(-8)}`;
  const dir = tempDir('fg-dash');
  let board: Board | undefined;
  let browser: Browser | undefined;
  let run: CliProcess | undefined;
  const extraProcs: CliProcess[] = [];
  const contexts: BrowserContext[] = [];

  async function newPage(options: Parameters<Browser['newContext']>[0] = {}): Promise<Page> {
    if (browser === undefined) throw new Error('no browser');
    const context = await browser.newContext({ viewport: VIEWPORT, ...options });
    contexts.push(context);
    return context.newPage();
  }

  const haveChromium = needTool('chromium');

  beforeAll(async () => {
    if (!haveChromium) return;
    // Each is kept as soon as it is there, so that afterAll stops the board
    // even when the browser failed to start (and the other way round).
    const started = await Promise.allSettled([startBoard(prefix).then((b) => (board = b)), launchBrowser().then((b) => (browser = b))]);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
  });

  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
    for (const p of extraProcs.splice(0)) await stop(p);
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await stop(run, 'SIGINT');
    await stop(board?.proc);
    await deletePrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the run while it goes on: every node with its state, the memory wait and the ledger', async () => {
    if (board === undefined) throw new Error('no board');
    const path = writeWorkflow(dir, 'dash.json', WORKFLOW);
    run = startCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--run-id', runId, '--n-procs', '2', '--memory-gb', '4', '--work-dir', join(dir, 'work')], {
      env: { REDIS_URL: redisUrl() },
      cwd: dir,
    });

    const page = await newPage();
    const errors = pageErrors(page);
    await page.goto(board.url);
    const row = page.locator(`#runs tr[data-run-id="${runId}"]`);
    await row.waitFor({ timeout: 15_000 });
    expect(await row.locator('td').nth(1).textContent()).toBe('dash');
    await row.locator('a').click();
    await page.waitForURL(`**/#/runs/${runId}`, { timeout: 5000 });

    // The ready queue: big2 waits for memory while big1 holds 3 of the 4 GB, with the scheduler's reason.
    const reason = page.locator('#waiting tr[data-node-id="big2"] td.reason');
    await reason.waitFor({ timeout: 10_000 });
    await waitFor(async () => (await reason.textContent())?.includes('GB free'), 5000, 'a "GB free" reason for big2');
    expect(await reason.textContent()).toMatch(/needs 3 GB, [\d.]+ GB free/);

    // The DAG: one element per node, each with a known state; big1 holds its
    // resources (queued or running: "running" is stored lazily), big2 is ready.
    await page.locator('#dag-svg [data-node-id="big1"]:is([data-state="queued"], [data-state="running"])').waitFor({ timeout: 5000 });
    const states = await dagStates(page);
    expect(Object.keys(states).sort()).toEqual([...NODE_IDS].sort());
    for (const id of NODE_IDS) expect(NODE_STATES, `state of ${id}`).toContain(states[id]);
    expect(states['big2']).toBe('ready');
    expect(await page.locator('.legend li').count()).toBe(NODE_STATES.length);

    // The ledger: both step charts with their reserved series and a budget line; free figures.
    for (const chart of ['#ledger-procs', '#ledger-mem']) {
      await page.locator(`${chart} path.reserved`).waitFor({ timeout: 5000 });
      expect(await page.locator(`${chart} line.budget`).count()).toBe(1);
    }
    expect(await page.locator('#free').textContent()).toMatch(/Free now: \d+ of 2 procs, [\d.]+ GB of 4 GB/);

    // The live Gantt: big1's reservation, and its process bar once its worker reports it.
    await page.locator('#gantt-svg g.gantt-row[data-node-id="big1"] rect.hold').waitFor({ timeout: 5000 });
    await page.locator('#gantt-svg g.gantt-row[data-node-id="big1"] rect.bar').waitFor({ timeout: 10_000 });
    // Workers of the run's fleet are listed and alive.
    await page.locator('#workers tr[data-status="alive"]').first().waitFor({ timeout: 5000 });

    await screenshot(page, 'dashboard-during-run');
    expect(errors).toEqual([]);
  });

  it('shows final states, a Gantt bar per node that ran and the failure with its crash record after the run', async () => {
    if (board === undefined || run === undefined) throw new Error('the run did not start');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(1);
    const summary = JSON.parse(result.stdout) as RunSummary;
    const crashFile = summary.failures[0]?.crash_file;
    expect(crashFile).toMatch(/crash-.*-boom-.*\.json$/);

    const page = await newPage();
    const errors = pageErrors(page);
    await page.goto(`${board.url}#/runs/${runId}`);
    await page.locator('#run-head [data-state="failed"]').waitFor({ timeout: 10_000 });
    await page.locator('#dag-svg [data-node-id="join"][data-state="succeeded"]').waitFor({ timeout: 5000 });
    expect(await dagStates(page)).toEqual({ big1: 'succeeded', big2: 'succeeded', boom: 'failed', after_boom: 'skipped', join: 'succeeded' });

    // Gantt: a process bar and a reservation bar for each node that ran, none for the skipped one.
    for (const id of ['big1', 'big2', 'boom', 'join']) {
      const gantRow = page.locator(`#gantt-svg g.gantt-row[data-node-id="${id}"]`);
      expect(await gantRow.locator('rect.bar').count(), `bar of ${id}`).toBe(1);
      expect(await gantRow.locator('rect.hold').count(), `reservation of ${id}`).toBe(1);
      expect(await gantRow.getAttribute('data-state')).toBe(id === 'boom' ? 'failed' : 'succeeded');
    }
    expect(await page.locator('#gantt-svg g.gantt-row[data-node-id="after_boom"] rect.bar').count()).toBe(0);
    // big2 started only after big1 released its memory: its bar begins to the right of big1's end.
    const box = async (id: string): Promise<{ x: number; width: number }> => {
      const b = await page.locator(`#gantt-svg g.gantt-row[data-node-id="${id}"] rect.bar`).boundingBox();
      if (b === null) throw new Error(`no bar for ${id}`);
      return b;
    };
    const [b1, b2] = [await box('big1'), await box('big2')];
    expect(b2.x).toBeGreaterThanOrEqual(b1.x + b1.width - 1);

    // The failure panel: reason, crash file, crash record details, skipped descendants.
    const failure = page.locator('#failures .failure[data-node-id="boom"]');
    await failure.waitFor({ timeout: 5000 });
    expect(await failure.locator('.crash-file').textContent()).toBe(crashFile);
    expect(await failure.locator('.reason').first().textContent()).toBe('exit code 3');
    // The stderr tail is shown as text: its markup stays literal.
    expect(await failure.locator('.stderr-tail').textContent()).toContain('boom: disk on fire <b>hot</b>');
    expect(await failure.locator('.stderr-tail b').count()).toBe(0);
    expect(await failure.locator('[data-node-id="after_boom"]').count()).toBe(1);
    expect(await failure.textContent()).toMatch(/Exit code\s*3/);

    // When the shown data was read from Redis.
    expect(await page.locator('#run-as-of').textContent()).toMatch(/\d{2}:\d{2}:\d{2}$/);

    // Nothing waits any more, and the list shows the run finished.
    expect(await page.locator('#waiting tr[data-node-id]').count()).toBe(0);
    await screenshot(page, 'dashboard-after-run');
    await screenshot(page, 'dashboard-after-run-full', { fullPage: true });
    if (process.env['FLOWGATE_UPDATE_DOCS'] === '1') {
      mkdirSync(join(DOCS_SHOT, '..'), { recursive: true });
      copyFileSync(join(import.meta.dirname, '../../test-artifacts/screenshots/dashboard-after-run.png'), DOCS_SHOT);
    }

    await page.locator('a[href="#/"]').first().click();
    const row = page.locator(`#runs tr[data-run-id="${runId}"][data-status="failed"]`);
    await row.waitFor({ timeout: 5000 });
    expect(await row.locator('.progress-text').textContent()).toBe(`${NODE_IDS.length}/${NODE_IDS.length}`);
    await screenshot(page, 'runs-list');
    expect(errors).toEqual([]);
  });

  it('links to Bull Board, which lists the run\'s jobs (its scripts and styles allowed by its CSP)', async () => {
    if (board === undefined) throw new Error('no board');
    const page = await newPage();
    const errors = pageErrors(page);
    await page.goto(board.url);
    await page.locator('#bull-board-link').click();
    await page.waitForURL('**/queues**', { timeout: 10_000 });
    // Into the node queue, then its completed jobs.
    await page.locator('a[href$="/queue/nodes"]').first().click({ timeout: 15_000 });
    await page.waitForURL('**/queue/nodes**', { timeout: 10_000 });
    await page.goto(`${board.url}queues/queue/nodes?status=completed`);
    await page.getByText(/big1 \[1 cpu \/ 3 GB\]/).first().waitFor({ timeout: 15_000 });
    await screenshot(page, 'bull-board');
    // The only thing its CSP refuses is the web font it links from a CDN (no traffic leaves the host).
    expect(errors.filter((e) => !e.includes('fonts.googleapis.com'))).toEqual([]);
  });

  it('enforces Basic auth when FLOWGATE_BOARD_USER and FLOWGATE_BOARD_PASSWORD are set', async () => {
    const secured = await startBoard(prefix, { FLOWGATE_BOARD_USER: 'ada', FLOWGATE_BOARD_PASSWORD: 's3cret pass phrase' });
    extraProcs.push(secured.proc);

    // Without credentials the page load is answered 401 (Chromium then gives up the
    // navigation with ERR_INVALID_AUTH_CREDENTIALS rather than showing the body).
    const statusOfPageLoad = async (page: Page, url: string): Promise<number | undefined> => {
      const statuses: number[] = [];
      page.on('response', (r) => {
        if (r.url() === url) statuses.push(r.status());
      });
      const res = await page.goto(url).catch((err: unknown) => {
        if (!String(err).includes('ERR_INVALID_AUTH_CREDENTIALS')) throw err;
        return null;
      });
      return res?.status() ?? statuses[statuses.length - 1];
    };
    const anonymous = await newPage();
    expect(await statusOfPageLoad(anonymous, secured.url)).toBe(401);
    expect(await statusOfPageLoad(anonymous, `${secured.url}api/runs`)).toBe(401);
    expect((await anonymous.request.get(`${secured.url}api/runs/${runId}`)).status()).toBe(401);
    expect((await anonymous.request.get(`${secured.url}queues`)).status()).toBe(401);

    const wrong = await newPage({ httpCredentials: { username: 'ada', password: 'nope' } });
    expect(await statusOfPageLoad(wrong, secured.url)).toBe(401);

    const page = await newPage({ httpCredentials: { username: 'ada', password: 's3cret pass phrase' } });
    const errors = pageErrors(page);
    const ok = await page.goto(secured.url);
    expect(ok?.status()).toBe(200);
    // The page's own API calls carry the credentials too: the run is listed.
    await page.locator(`#runs tr[data-run-id="${runId}"]`).waitFor({ timeout: 10_000 });
    expect(errors).toEqual([]);
  });
  it('cancels a running run with the "Cancel run" button, shown only on a writable board; another site cannot', async () => {
    if (board === undefined) throw new Error('no board');
    const credentials = { username: 'ada', password: 's3cret pass phrase' };
    const writable = await startBoard(prefix, { FLOWGATE_BOARD_USER: credentials.username, FLOWGATE_BOARD_PASSWORD: credentials.password, FLOWGATE_BOARD_WRITE: '1' });
    extraProcs.push(writable.proc);
    const cancelId = `cancel-${prefix.slice(-8)}`;
    const work = join(dir, 'work-cancel');
    const path = writeWorkflow(dir, 'slow.json', { name: 'slow', nodes: [{ id: 'nap', command: 'echo $$ > pid; exec sleep 60', env: { API_TOKEN: 'tok-browser-secret', THREADS: '1' } }, { id: 'later', command: ['true'], needs: ['nap'] }] });
    const slow = startCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--run-id', cancelId, '--n-procs', '1', '--memory-gb', '1', '--work-dir', work], { env: { REDIS_URL: redisUrl() }, cwd: dir });
    extraProcs.push(slow);
    const pidFile = join(work, 'slow', 'nap', 'pid');
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 20_000, 'nap to start');

    // The read-only board shows the running run without the button.
    const viewer = await newPage();
    await viewer.goto(`${board.url}#/runs/${cancelId}`);
    await viewer.locator('#run-head [data-state="running"]').waitFor({ timeout: 10_000 });
    await viewer.locator('#dag-svg [data-node-id="nap"]').waitFor({ timeout: 5000 });
    expect(await viewer.locator('#cancel-run').count()).toBe(0);
    // The node's env is in its tooltip, the token masked.
    const tip = (await viewer.locator('#dag-svg [data-node-id="nap"] title').textContent()) ?? '';
    expect(tip).toContain('API_TOKEN=••••••');
    expect(tip).toContain('THREADS=1');
    expect(await viewer.content()).not.toContain('tok-browser-secret');

    // A page of another origin (same host, another port) posts a form at the signed-in board: refused.
    const attacker = createServer((_req, res) => {
      res.setHeader('Content-Type', 'text/html');
      res.end(`<form id="f" method="POST" enctype="text/plain" action="${writable.url}api/runs/${cancelId}/cancel"><input name='{"reason":"' value='pwned"}'></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      const victim = await newPage({ httpCredentials: credentials });
      await victim.goto(`${writable.url}#/runs/${cancelId}`);
      await victim.locator('#cancel-run').waitFor({ timeout: 10_000 });
      const refused = victim.waitForResponse((r) => r.url().endsWith(`/api/runs/${cancelId}/cancel`), { timeout: 10_000 });
      await victim.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
      expect((await refused).status()).toBe(403);
    } finally {
      attacker.close();
    }
    expect(slow.child.exitCode).toBeNull();

    const page = await newPage({ httpCredentials: credentials });
    const errors = pageErrors(page);
    await page.goto(`${writable.url}#/runs/${cancelId}`);
    const button = page.locator('#cancel-run');
    await button.waitFor({ timeout: 10_000 });
    page.once('dialog', (d) => void d.accept());
    await button.click();
    await page.locator('#run-head [data-state="cancelled"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('#cancel-status').textContent()).toMatch(/asked .* to cancel the run/);
    expect(await page.locator('#cancel-run').count()).toBe(0);
    await page.locator('#dag-svg [data-node-id="nap"][data-state="cancelled"]').waitFor({ timeout: 5000 });
    await screenshot(page, 'dashboard-cancelled');
    // Bull Board's write API from the board's own page, as its UI calls it (a PUT without a body): allowed.
    expect(await page.evaluate(() => fetch('queues/api/queues/nodes/clean/completed', { method: 'PUT' }).then((r) => r.status))).toBe(200);
    const result = await slow.done;
    expect(result.code).toBe(130);
    expect((JSON.parse(result.stdout) as RunSummary).status).toBe('cancelled');
    expect(errors).toEqual([]);
  });
});
