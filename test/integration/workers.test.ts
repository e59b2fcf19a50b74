/**
 * Standalone `flowgate worker` processes register with a heartbeat, show up
 * in `flowgate workers`, take jobs from a `flowgate run` sharing their prefix,
 * and are reported lost when they stop beating.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import type { ListedWorker } from '../../src/shared/worker-registry.js';
import { runCli, startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

const prefixes: string[] = [];
const started: CliProcess[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

async function listWorkers(prefix: string): Promise<ListedWorker[]> {
  const res = await runCli(['workers', '--json', '--prefix', prefix], { env: { REDIS_URL: redisUrl() } });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as ListedWorker[];
}

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
});
