/**
 * `flowgate retry RUN_ID [NODE...]`: a failed run's failed nodes run again,
 * through a scheduler and within the budget, with what they skipped; nodes
 * that succeeded never run again.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, startCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait-for.js';
import { deletePrefix, keysUnder, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { nodeOf } from '../helpers/summary.js';
import { Redis } from 'ioredis';
import { prepareRetry } from '../../src/scheduler/retry.js';
import { Keys } from '../../src/shared/keys.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

function setup(): { dir: string; prefix: string; path: string; ledger: () => string[]; cli: (args: string[]) => ReturnType<typeof runCli> } {
  const dir = tempDir('fg-retry');
  const prefix = uniquePrefix('retry');
  prefixes.push(prefix);
  const ledgerPath = join(dir, 'ledger');
  const append = `echo "$FLOWGATE_NODE_ID" >> ${ledgerPath}`;
  const wf = {
    name: 'retry',
    nodes: [
      { id: 'flaky', command: `${append}; test -e ${join(dir, 'fixed')}` },
      { id: 'child', command: append, needs: ['flaky'] },
      { id: 'other', command: append },
    ],
  };
  const path = writeWorkflow(dir, 'wf.json', wf);
  return {
    dir,
    prefix,
    path,
    ledger: () => (existsSync(ledgerPath) ? readFileSync(ledgerPath, 'utf8').trim().split('\n') : []),
    cli: (args) => runCli([...args, '--prefix', prefix], { env: { REDIS_URL: redisUrl() } }),
  };
}

describe('flowgate retry', () => {
  it('runs the failed node and what it skipped again; succeeded nodes keep their result', async () => {
    const t = setup();
    const first = await t.cli(['run', t.path, '--json', '--quiet', '--work-dir', join(t.dir, 'work')]);
    expect(first.code).toBe(1);
    const failed = JSON.parse(first.stdout) as RunSummary;
    expect(nodeOf(failed, 'child').status).toBe('skipped');

    // Not fixed yet: the retry fails again, as a second attempt.
    const again = await t.cli(['retry', failed.run_id, '--json', '--quiet']);
    expect(again.code).toBe(1);
    expect(nodeOf(JSON.parse(again.stdout) as RunSummary, 'flaky')).toMatchObject({ status: 'failed', attempts: 2 });

    writeWorkflow(t.dir, 'fixed', '1');
    const res = await t.cli(['retry', failed.run_id, 'flaky', '--json']);
    expect(res.code).toBe(0);
    expect(res.stderr).toContain(`retrying 2 node(s) of run ${failed.run_id}: flaky, child`);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(nodeOf(summary, 'flaky')).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(nodeOf(summary, 'flaky').attempt_history.map((a) => a.status)).toEqual(['failed', 'failed', 'succeeded']);
    expect(nodeOf(summary, 'child')).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(t.ledger().filter((l) => l === 'other')).toHaveLength(1);
    expect(t.ledger().filter((l) => l === 'flaky')).toHaveLength(3);

    // The stored run reads back as succeeded.
    const status = await t.cli(['status', failed.run_id, '--json']);
    expect((JSON.parse(status.stdout) as { status: string }).status).toBe('succeeded');
  });

  it('resets every node of a wide failed run in one transaction (2,501 nodes: HSETs of up to 1,000 fields)', async () => {
    const dir = tempDir('fg-retry-wide');
    const prefix = uniquePrefix('retrywide');
    prefixes.push(prefix);
    const wf = writeWorkflow(dir, 'wf.json', { name: 'wide', nodes: [{ id: 'bad', command: 'exit 1' }, ...Array.from({ length: 2_500 }, (_, i) => ({ id: `c${i}`, command: 'true', needs: ['bad'] }))] });
    const first = await runCli(['run', wf, '--json', '--quiet', '--work-dir', join(dir, 'work'), '--prefix', prefix], { env: { REDIS_URL: redisUrl() } });
    expect(first.code).toBe(1);
    const failed = JSON.parse(first.stdout) as RunSummary;
    expect(failed.counts).toMatchObject({ failed: 1, skipped: 2_500 });
    const redis = new Redis(redisUrl());
    try {
      const plan = await prepareRetry(redis, prefix, failed.run_id, []);
      expect(plan.reset).toHaveLength(2_501);
      const k = new Keys(prefix);
      const states = await redis.hgetall(k.runStates(failed.run_id));
      expect(Object.values(states).filter((v) => v === 'waiting')).toHaveLength(2_501);
      const records = Object.values(await redis.hgetall(k.runNodes(failed.run_id))).map((r) => JSON.parse(r) as { status: string; skipped_because: unknown });
      expect(records.every((r) => r.status === 'waiting' && r.skipped_because === null)).toBe(true);
      expect(await redis.hget(k.runMeta(failed.run_id), 'status')).toBe('running');
    } finally {
      redis.disconnect();
    }
  });

  it('refuses what cannot be retried with exit 2 and changes nothing', async () => {
    const t = setup();
    writeWorkflow(t.dir, 'fixed', '1');
    const ok = await t.cli(['run', t.path, '--json', '--quiet', '--work-dir', join(t.dir, 'work')]);
    expect(ok.code).toBe(0);
    const runId = (JSON.parse(ok.stdout) as RunSummary).run_id;
    const before = (await keysUnder(t.prefix)).length;

    const succeeded = await t.cli(['retry', runId]);
    expect(succeeded.code).toBe(2);
    expect(succeeded.stderr).toContain(`run ${runId} is succeeded; only a failed or cancelled run can be retried`);
    const unknownRun = await t.cli(['retry', 'no-such-run']);
    expect(unknownRun.code).toBe(2);
    expect(unknownRun.stderr).toContain('no run "no-such-run"');
    const usage = await t.cli(['retry']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: flowgate retry RUN_ID [NODE...]');
    expect((await keysUnder(t.prefix)).length).toBe(before);
    expect(t.ledger()).toHaveLength(3);
  });

  it('refuses a node that did not fail, and a skipped node whose failed predecessor is not retried, naming them', async () => {
    const t = setup();
    const first = await t.cli(['run', t.path, '--json', '--quiet', '--work-dir', join(t.dir, 'work')]);
    const runId = (JSON.parse(first.stdout) as RunSummary).run_id;
    const res = await t.cli(['retry', runId, 'other']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`node "other" of run ${runId} succeeded; only failed, cancelled or skipped nodes are retried`);
    const missing = await t.cli(['retry', runId, 'nope']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`run ${runId} has no node "nope"`);
    expect(missing.stderr).not.toContain('did you mean');
    const typo = await t.cli(['retry', runId, 'chld']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(`run ${runId} has no node "chld" (did you mean "child"?)`);
    // child was skipped because flaky failed: alone it could never run, so it is refused, with what to retry.
    const before = await t.cli(['status', runId, '--json']);
    const alone = await t.cli(['retry', runId, 'child']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain(`node "child" of run ${runId} cannot run again while it needs "flaky" (failed): retry that too (flowgate retry ${runId} child flaky)`);
    const after = await t.cli(['status', runId, '--json']);
    expect(after.stdout).toBe(before.stdout);
    expect(t.ledger()).toEqual(['flaky', 'other']);
  });
});

describe('a cancelled execution', () => {
  it('is in attempt_history as cancelled, and a retry of the run counts on from it', async () => {
    const dir = tempDir('fg-retry');
    const prefix = uniquePrefix('retry-cancel');
    prefixes.push(prefix);
    const started = join(dir, 'started');
    const path = writeWorkflow(dir, 'wf.json', {
      name: 'cancelled',
      // The first execution waits to be cancelled; the retry finishes at once.
      nodes: [{ id: 'long', command: `if [ -e ${started} ]; then exit 0; fi; touch ${started}; sleep 60` }],
    });
    const env = { REDIS_URL: redisUrl() };
    const run = startCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work')], { env });
    await waitFor(() => existsSync(started), 20_000, 'long to start');
    run.child.kill('SIGINT');
    const res = await run.done;
    expect(res.code).toBe(130);
    const cancelled = nodeOf(JSON.parse(res.stdout) as RunSummary, 'long');
    expect(cancelled).toMatchObject({ status: 'cancelled', attempts: 1, attempt: 1 });
    expect(cancelled.attempt_history.map((a) => [a.attempt, a.status])).toEqual([[1, 'cancelled']]);
    const retried = await runCli(['retry', (JSON.parse(res.stdout) as RunSummary).run_id, '--json', '--quiet', '--prefix', prefix], { env });
    expect(retried.code, retried.stderr).toBe(0);
    const long = nodeOf(JSON.parse(retried.stdout) as RunSummary, 'long');
    expect(long).toMatchObject({ status: 'succeeded', attempts: 2, attempt: 2 });
    expect(long.attempt_history.map((a) => [a.attempt, a.status])).toEqual([
      [1, 'cancelled'],
      [2, 'succeeded'],
    ]);
  });
});
