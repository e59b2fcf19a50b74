/**
 * The scheduler process killed with SIGKILL mid-run: `flowgate resume`
 * continues from Redis. Nodes that finished meanwhile are adopted, no node
 * runs twice, the budget holds across the restart, the summary covers all.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, startCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { peakUsage, isAlive } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

describe('flowgate resume', () => {
  it('continues a run whose scheduler was killed, without running any node twice', async () => {
    const dir = tempDir('fg-resume');
    const prefix = uniquePrefix('resume');
    prefixes.push(prefix);
    // Every node appends a line to its own `runs` file: a node run twice would show two.
    const step = (id: string, seconds: number, needs: string[] = [], extra: object = {}): object => ({
      id,
      command: `echo run >> runs; sleep ${seconds}`,
      needs,
      ...extra,
    });
    const wf = {
      name: 'resumable',
      nodes: [
        step('a', 0.2),
        step('long', 2.5, ['a'], { n_procs: 2 }),
        step('short', 0.3, ['a']),
        step('after-short', 0.3, ['short']),
        step('wide1', 0.4, ['after-short'], { mem_gb: 1.5 }),
        step('wide2', 0.4, ['after-short'], { mem_gb: 1.5 }),
        step('join', 0.1, ['long', 'wide1', 'wide2']),
      ],
    };
    const path = writeWorkflow(dir, 'wf.json', wf);
    const work = join(dir, 'work');
    const flags = ['--prefix', prefix];
    const first = startCli(['run', path, '--json', '--quiet', '--run-id', 'resume-me', '--n-procs', '3', '--memory-gb', '2', '--work-dir', work, ...flags], {
      env: { REDIS_URL: redisUrl() },
    });
    // Kill the scheduler while `long` runs and `short` has finished.
    await waitFor(() => existsSync(join(work, 'resumable', 'long', 'runs')) && existsSync(join(work, 'resumable', 'after-short', 'runs')), 20_000, 'long and after-short to start');
    first.child.kill('SIGKILL');
    await first.done;

    const res = await runCli(['resume', 'resume-me', '--json', '--quiet', ...flags], { env: { REDIS_URL: redisUrl() } });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.run_id).toBe('resume-me');
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.succeeded).toBe(7);
    for (const n of summary.nodes) {
      expect(readFileSync(join(work, 'resumable', n.id, 'runs'), 'utf8'), `${n.id} ran more than once`).toBe('run\n');
      expect(n.attempts).toBe(1);
    }
    // `long` was running when the scheduler died; it finished under the old
    // worker and was adopted. `join` ran under the resumed run's fleet.
    const byId = new Map(summary.nodes.map((n) => [n.id, n]));
    expect(byId.get('long')?.worker).toMatch(/:run-/);
    expect(byId.get('join')?.worker).toMatch(/:resume-/);
    const peak = peakUsage(summary.nodes);
    expect(peak.n_procs).toBeLessThanOrEqual(3);
    expect(peak.mem_gb).toBeLessThanOrEqual(2);

    // Resuming a finished run reports it and changes nothing.
    const again = await runCli(['resume', 'resume-me', '--json', '--quiet', ...flags], { env: { REDIS_URL: redisUrl() } });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual(summary);
  });

  it('refuses an unknown run with exit code 2', async () => {
    const prefix = uniquePrefix('resume');
    const res = await runCli(['resume', 'no-such-run', '--prefix', prefix], { env: { REDIS_URL: redisUrl() } });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/no run "no-such-run" under prefix/);
  });
});

describe('flowgate cancel', () => {
  it('cancels a run driven by another process: running nodes killed, the rest never start, exit 130 there', async () => {
    const dir = tempDir('fg-cancel');
    const prefix = uniquePrefix('cancel');
    prefixes.push(prefix);
    const wf = {
      name: 'cancellable',
      nodes: [
        { id: 'quick', command: ['true'] },
        { id: 'slow', command: 'echo $$ > pid; exec sleep 60', needs: ['quick'] },
        { id: 'slow2', command: 'exec sleep 60', needs: ['quick'] },
        { id: 'after', command: ['true'], needs: ['slow'] },
      ],
    };
    const path = writeWorkflow(dir, 'wf.json', wf);
    const work = join(dir, 'work');
    const run = startCli(['run', path, '--json', '--quiet', '--run-id', 'cancel-me', '--prefix', prefix, '--work-dir', work, '--n-procs', '2', '--memory-gb', '2'], {
      env: { REDIS_URL: redisUrl() },
    });
    const pidFile = join(work, 'cancellable', 'slow', 'pid');
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 20_000, 'slow to start');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    const cancel = await runCli(['cancel', 'cancel-me', '--json', '--reason', 'no longer needed', '--prefix', prefix], { env: { REDIS_URL: redisUrl() } });
    expect(cancel.code, cancel.stderr).toBe(0);
    const summary = JSON.parse(cancel.stdout) as RunSummary;
    const ran = await run.done;
    expect(ran.code).toBe(130);
    expect(JSON.parse(ran.stdout)).toEqual(summary);
    expect(summary.status).toBe('cancelled');
    const byId = new Map(summary.nodes.map((n) => [n.id, n]));
    expect(byId.get('quick')?.status).toBe('succeeded');
    for (const id of ['slow', 'slow2', 'after']) {
      expect(byId.get(id)?.status).toBe('cancelled');
      expect(byId.get(id)?.reason).toContain('no longer needed');
    }
    expect(byId.get('after')?.start_ms).toBeNull();
    // Released only once the processes had ended.
    expect(byId.get('slow')?.released_ms).not.toBeNull();
    await waitFor(() => !isAlive(pid), 10_000, 'the node process to be gone');
  });
});

describe('cancel edge cases', () => {
  it('keeps the result of a node that finished while no scheduler ran, and cancels the rest', async () => {
    const dir = tempDir('fg-cancel2');
    const prefix = uniquePrefix('cancel2');
    prefixes.push(prefix);
    const work = join(dir, 'work');
    const wf = { name: 'orphaned', nodes: [{ id: 'a', command: 'sleep 1; echo done > done' }, { id: 'b', command: ['true'], needs: ['a'] }] };
    const path = writeWorkflow(dir, 'wf.json', wf);
    const run = startCli(['run', path, '--json', '--quiet', '--run-id', 'orphan-1', '--prefix', prefix, '--work-dir', work, '--n-procs', '1', '--memory-gb', '1'], {
      env: { REDIS_URL: redisUrl() },
    });
    const aDir = join(work, 'orphaned', 'a');
    await waitFor(() => existsSync(aDir), 20_000, 'a to start');
    run.child.kill('SIGKILL');
    await run.done;
    // The orphaned worker finishes `a` (and reports it) although nobody schedules the run.
    await waitFor(() => existsSync(join(aDir, 'done')), 20_000, 'a to finish');
    const cancel = await runCli(['cancel', 'orphan-1', '--json', '--prefix', prefix], { env: { REDIS_URL: redisUrl() } });
    expect(cancel.code, cancel.stderr).toBe(0);
    const summary = JSON.parse(cancel.stdout) as RunSummary;
    const byId = new Map(summary.nodes.map((n) => [n.id, n]));
    expect(byId.get('a')?.status).toBe('succeeded');
    expect(byId.get('b')?.status).toBe('cancelled');
    expect(summary.status).toBe('cancelled');
  });

  it('honours SIGINT that arrives while the run is still starting', async () => {
    const dir = tempDir('fg-early');
    const prefix = uniquePrefix('early');
    prefixes.push(prefix);
    const path = writeWorkflow(dir, 'wf.json', { name: 'early', nodes: [{ id: 'x', command: ['sleep', '5'] }] });
    const run = startCli(['run', path, '--json', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '1', '--memory-gb', '1'], {
      env: { REDIS_URL: redisUrl() },
    });
    // The header is printed before the fleet is waited for and the run starts.
    await waitFor(() => run.stderr().includes('flowgate: run '), 20_000, 'the header');
    run.child.kill('SIGINT');
    const res = await run.done;
    expect(res.code).toBe(130);
    expect((JSON.parse(res.stdout) as RunSummary).status).toBe('cancelled');
  });
});

describe('resume after --stop-on-first-crash', () => {
  it('keeps the run stopped: nothing new is admitted and a failed node is not retried', async () => {
    const dir = tempDir('fg-stopres');
    const prefix = uniquePrefix('stopres');
    prefixes.push(prefix);
    const work = join(dir, 'work');
    const wf = {
      name: 'stopped',
      nodes: [
        { id: 'bad', command: 'exit 1' },
        // Fails after the scheduler died; it has retries, which a stopped run must not use.
        { id: 'long', command: 'echo run >> runs; sleep 2; exit 1', retries: 2 },
        { id: 'after', command: 'echo run >> runs', needs: ['long'] },
      ],
    };
    const path = writeWorkflow(dir, 'wf.json', wf);
    const run = startCli(['run', path, '--json', '--quiet', '--run-id', 'stop-1', '--prefix', prefix, '--work-dir', work, '--n-procs', '2', '--memory-gb', '2', '--stop-on-first-crash'], {
      env: { REDIS_URL: redisUrl() },
    });
    // Kill the scheduler once `bad` has failed (its crash record exists) while `long` still runs.
    await waitFor(() => existsSync(join(work, '_crashes')) && existsSync(join(work, 'stopped', 'long', 'runs')), 20_000, 'bad to fail while long runs');
    run.child.kill('SIGKILL');
    await run.done;
    const res = await runCli(['resume', 'stop-1', '--json', '--quiet', '--prefix', prefix], { env: { REDIS_URL: redisUrl() } });
    expect(res.code, res.stderr).toBe(1);
    const summary = JSON.parse(res.stdout) as RunSummary;
    const byId = new Map(summary.nodes.map((n) => [n.id, n]));
    expect(byId.get('bad')?.status).toBe('failed');
    expect(byId.get('long')).toMatchObject({ status: 'failed', attempts: 1 });
    expect(readFileSync(join(work, 'stopped', 'long', 'runs'), 'utf8')).toBe('run\n');
    expect(byId.get('after')?.status).toBe('cancelled');
    expect(existsSync(join(work, 'stopped', 'after', 'runs'))).toBe(false);
  });
});
