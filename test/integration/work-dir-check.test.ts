/**
 * The shared work dir check, with a worker whose view of the file system
 * differs: it runs in a mount namespace of its own (made by this test with
 * `unshare --mount`) where a tmpfs lies over the work dir — the same path,
 * another directory, as on a host that did not mount the shared volume.
 *
 * Such a worker refuses to register while a scheduler service leads (exit 2
 * naming the path, its host id and the fix); one started before the service
 * refuses the nodes of the service's runs instead, and the scheduler counts
 * no failure: the node runs once, on a worker that sees the work dir. A
 * worker that sees it registers and runs them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { WORK_DIR_MARKER } from '../../src/shared/work-dir-marker.js';
import { CLI, writeWorkflow } from '../helpers/cli.js';
import { needRoot } from '../helpers/tools.js';
import { closeFleets, fleet, leading, listWorkers } from '../helpers/fleet.js';
import { waitFor } from '../helpers/wait-for.js';

const isRoot = needRoot('mount namespaces (unshare --mount) with a tmpfs over the work dir');

const hidden: ChildProcess[] = [];
afterEach(async () => {
  for (const c of hidden.splice(0)) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await gone;
  }
  await closeFleets();
});

/**
 * `flowgate worker ARGS` in a mount namespace of its own, where `workDir` is
 * an empty tmpfs (the namespace, and the tmpfs, end with the worker).
 */
function startHiddenWorker(workDir: string, args: readonly string[], env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string; done: Promise<number | null> } {
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs fg-not-shared "$0" && exec "$@"', workDir, process.execPath, CLI, 'worker', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  hidden.push(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => err, done };
}

describe('the shared work dir check', () => {
  it('a worker that does not see the service work dir refuses to register (exit 2, path, host id, fix); one that does registers', async () => {
    if (!isRoot) return;
    const f = fleet('wdcheck');
    const { prefix, env } = f;
    const work = join(f.dir, 'work');
    await leading(f.start(['scheduler', '--prefix', prefix, '--work-dir', work, '--n-procs', '2', '--memory-gb', '2']));
    // The owner's marker is in the work root, and nothing else of it.
    expect(JSON.parse(readFileSync(join(work, WORK_DIR_MARKER), 'utf8'))).toMatchObject({ token: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(readdirSync(work)).toEqual([WORK_DIR_MARKER]);

    const bad = startHiddenWorker(work, ['--prefix', prefix, '--name', 'wb', '--host-id', 'host-b', '--concurrency', '1'], env);
    const code = await bad.done;
    expect(code, bad.stderr()).toBe(2);
    const message = bad.stderr();
    expect(message).toContain(`work dir ${work} is not shared with worker "wb" on host "host-b"`);
    expect(message).toContain(`there is no ${join(work, WORK_DIR_MARKER)} here`);
    expect(message).toContain(`mount the shared volume at ${work} on this host`);
    expect((await listWorkers(prefix)).map((w) => w.name)).toEqual([]);

    const good = f.start(['worker', '--prefix', prefix, '--name', 'wa', '--host-id', 'host-a', '--concurrency', '1', '--heartbeat-ms', '200']);
    await waitFor(async () => (await listWorkers(prefix)).some((w) => w.name === 'wa' && w.status === 'alive'), 20_000, `worker wa to register: ${good.stderr()}`);
    expect(good.child.exitCode).toBeNull();
  });

  it('a worker that started before the service refuses its nodes; the scheduler counts no failure and a worker that sees the work dir runs them', async () => {
    if (!isRoot) return;
    const f = fleet('wdclaim');
    const { prefix, env, dir } = f;
    const work = join(dir, 'work');
    mkdirSync(work);
    // No service leads yet: nothing to check at start, so it registers.
    const bad = startHiddenWorker(work, ['--prefix', prefix, '--name', 'wb', '--host-id', 'host-b', '--concurrency', '1', '--heartbeat-ms', '200'], env);
    await waitFor(async () => (await listWorkers(prefix)).some((w) => w.name === 'wb' && w.status === 'alive'), 20_000, `worker wb to register: ${bad.stderr()}`);

    const scheduler = f.start(['scheduler', '--prefix', prefix, '--work-dir', work, '--n-procs', '2', '--memory-gb', '2', '--reconcile-interval-ms', '200']);
    await leading(scheduler);
    const wf = writeWorkflow(dir, 'wf.json', { name: 'wdclaim', nodes: [{ id: 'mark', command: 'echo ran > ran.txt' }] });
    const submitted = f.start(['submit', wf, '--prefix', prefix, '--wait', '--json']);

    // The refusal names the run's work dir, the worker and its host.
    const refusal = await waitFor(() => bad.stderr().split('\n').find((l) => l.includes('worker:job-refused')), 30_000, `worker wb to refuse the node: ${bad.stderr()}`);
    expect(refusal).toContain(`work dir ${work} is not shared with worker \\"wb\\" on host \\"host-b\\"`);
    expect(refusal).toContain(`mount the shared volume at ${work} on this host`);
    expect(existsSync(join(work, 'wdclaim', 'mark', 'ran.txt'))).toBe(false);
    bad.child.kill('SIGTERM');
    expect(await bad.done).toBe(0);

    f.start(['worker', '--prefix', prefix, '--name', 'wa', '--host-id', 'host-a', '--concurrency', '1']);
    const res = await submitted.done;
    expect(res.code, `${res.stderr}\n--- scheduler:\n${scheduler.stderr().slice(-3000)}`).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    const node = summary.nodes.find((n) => n.id === 'mark');
    expect(node).toMatchObject({ status: 'succeeded', attempts: 1, worker: 'wa' });
    expect(node?.attempt_history.map((a) => a.worker)).toEqual(['wa']);
    expect(readFileSync(join(work, 'wdclaim', 'mark', 'ran.txt'), 'utf8').trim()).toBe('ran');
  });
});
