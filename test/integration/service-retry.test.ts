/**
 * Retrying a failed run of the scheduler service goes through the service,
 * within its shared budget: from `flowgate retry` and from the board's
 * "Retry failed nodes" (`POST /api/runs/:id/retry`). Nothing else can make a
 * node run again.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import type { RunDetail } from '../../src/shared/run-view.js';
import { stopGroup, runCli, startCli, tempDir, writeWorkflow, type CliProcess } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { nodeOf } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

const prefixes: string[] = [];
const started: CliProcess[] = [];
afterEach(async () => {
  // Each with its whole group, waited for: nothing outlives the test.
  await Promise.all(started.splice(0).map((p) => stopGroup(p)));
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

describe('retrying a service run', () => {
  it('flowgate retry and the board hand the retry to the service, which runs the failed nodes again', async () => {
    const dir = tempDir('fg-sretry');
    const prefix = uniquePrefix('sretry');
    prefixes.push(prefix);
    const env = { REDIS_URL: redisUrl(), FLOWGATE_PREFIX: prefix };
    const fixed = join(dir, 'fixed');
    const path = writeWorkflow(dir, 'wf.json', {
      name: 'sretry',
      nodes: [
        { id: 'flaky', command: `test -e ${fixed}` },
        { id: 'child', command: ['true'], needs: ['flaky'] },
        { id: 'ok', command: ['true'] },
      ],
    });
    const scheduler = startCli(['scheduler', '--work-dir', join(dir, 'work'), '--n-procs', '2', '--memory-gb', '2'], { env });
    const worker = startCli(['worker', '--concurrency', '2', '--heartbeat-ms', '500'], { env });
    started.push(scheduler, worker);
    await waitFor(() => scheduler.stderr().includes('leading as'), 20_000, 'the scheduler to lead');
    const first = await runCli(['submit', path, '--wait', '--json'], { env });
    expect(first.code).toBe(1);
    const runId = (JSON.parse(first.stdout) as RunSummary).run_id;
    const statusOf = async (): Promise<RunDetail> => JSON.parse((await runCli(['status', runId, '--json'], { env })).stdout) as RunDetail;

    // From the CLI: handed to the service; it fails again (not fixed yet), as a second attempt.
    const viaCli = await runCli(['retry', runId], { env });
    expect(viaCli.code, viaCli.stderr).toBe(0);
    expect(viaCli.stderr).toContain(`retry of run ${runId} handed to the scheduler service`);
    await waitFor(async () => {
      const s = await statusOf();
      return s.status === 'failed' && (s.nodes.find((n) => n.id === 'flaky')?.attempts ?? 0) === 2;
    }, 30_000, 'the first retry to fail again');

    // From the board, in write mode with authentication.
    writeWorkflow(dir, 'fixed', '1');
    const password = 'correct-horse-battery';
    const board = startCli(['board', '--port', '0'], { env: { ...env, FLOWGATE_BOARD_WRITE: '1', FLOWGATE_BOARD_USER: 'ops', FLOWGATE_BOARD_PASSWORD: password } });
    started.push(board);
    const base = (await waitFor(() => /board listening on (http:\/\/\S+)/.exec(board.stderr())?.[1], 20_000, 'the board to listen')).replace(/\/$/, '');
    const auth = { authorization: `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`, 'content-type': 'application/json' };
    const refused = await fetch(`${base}/api/runs/${runId}/retry`, { method: 'POST', headers: auth, body: JSON.stringify({ nodes: ['ok'] }) });
    // "ok" succeeded: the service refuses to retry it, and the run stays failed.
    expect(refused.status).toBe(202);
    const redis = new Redis(redisUrl());
    try {
      const why = await waitFor(() => redis.hget(`${prefix}:fg:run:${runId}:meta`, 'retry_refused'), 20_000, 'the service to refuse the retry of a succeeded node');
      expect(why).toContain('node "ok" of run');
    } finally {
      redis.disconnect();
    }
    expect((await statusOf()).status).toBe('failed');
    const res = await fetch(`${base}/api/runs/${runId}/retry`, { method: 'POST', headers: auth, body: '{}' });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { retry: string }).retry).toBe('requested');
    const done = await waitFor(async () => {
      const s = await statusOf();
      return s.status === 'succeeded' ? s : undefined;
    }, 30_000, 'the retried run to succeed');
    expect(nodeOf(done, 'flaky').attempts).toBe(3);
    expect(nodeOf(done, 'child').state).toBe('succeeded');
    expect(nodeOf(done, 'ok').attempts).toBe(1);
    // A succeeded run cannot be retried.
    const again = await fetch(`${base}/api/runs/${runId}/retry`, { method: 'POST', headers: auth, body: '{}' });
    expect(again.status).toBe(409);
  });

  it('a retry request taken off the submitted list by a leader that then died is honoured by the next leader', async () => {
    const dir = tempDir('fg-sretry2');
    const prefix = uniquePrefix('sretry2');
    prefixes.push(prefix);
    const env = { REDIS_URL: redisUrl(), FLOWGATE_PREFIX: prefix };
    const fixed = join(dir, 'fixed');
    const path = writeWorkflow(dir, 'wf.json', { name: 'sretry2', nodes: [{ id: 'flaky', command: `test -e ${fixed}` }] });
    const schedulerArgs = ['scheduler', '--work-dir', join(dir, 'work'), '--n-procs', '1', '--memory-gb', '1'];
    const first = startCli(schedulerArgs, { env });
    const worker = startCli(['worker', '--concurrency', '1', '--heartbeat-ms', '500'], { env });
    started.push(first, worker);
    await waitFor(() => first.stderr().includes('leading as'), 20_000, 'the scheduler to lead');
    const failed = await runCli(['submit', path, '--wait', '--json'], { env });
    expect(failed.code).toBe(1);
    const runId = (JSON.parse(failed.stdout) as RunSummary).run_id;
    first.child.kill('SIGTERM');
    await waitFor(() => first.child.exitCode !== null, 20_000, 'the first scheduler to stop');
    writeWorkflow(dir, 'fixed', '1');
    // The retry is requested; the leader took it off the submitted list and
    // died before acting on it: the request is in the run's meta only.
    const viaCli = await runCli(['retry', runId], { env });
    expect(viaCli.code, viaCli.stderr).toBe(0);
    const redis = new Redis(redisUrl());
    try {
      expect(await redis.lrem(`${prefix}:fg:submitted`, 0, runId)).toBe(1);
      expect(await redis.hget(`${prefix}:fg:run:${runId}:meta`, 'retry_requested')).not.toBeNull();
    } finally {
      redis.disconnect();
    }
    const next = startCli(schedulerArgs, { env });
    started.push(next);
    const done = await waitFor(async () => {
      const s = JSON.parse((await runCli(['status', runId, '--json'], { env })).stdout) as RunDetail;
      return s.status === 'succeeded' ? s : undefined;
    }, 30_000, 'the next leader to honour the retry');
    expect(nodeOf(done, 'flaky').attempts).toBe(2);
  });
});
