/**
 * `flowgate run --dry-run` through the built CLI: on a fresh work dir every
 * node would run and nothing is created; after a real run everything is
 * cached; a changed input names its node and the descendants it reaches; a
 * budget refusal exits 2. Also: the default work dir is next to the workflow
 * file, so a run from another directory finds the same cache.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DryRunReport } from '../../src/scheduler/dry-run.js';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, keysUnder, redisUrl, uniquePrefix } from '../helpers/redis.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

/** a -> b -> c, a map node m after b, and an independent d. */
function workflow(aValue: number, dProcs = 1): object {
  return {
    name: 'look',
    nodes: [
      { id: 'a', inputs: { v: aValue }, command: 'echo {{inputs.v}} > a.txt', outputs: { f: 'a.txt' } },
      { id: 'b', inputs: { f: { from: 'a.f' } }, command: 'cat {{inputs.f}} > b.txt', outputs: { f: 'b.txt' } },
      { id: 'c', inputs: { f: { from: 'b.f' } }, command: 'cat {{inputs.f}}' },
      { id: 'm', inputs: { x: [1, 2] }, map: { over: ['x'] }, needs: ['b'], command: 'echo {{inputs.x}}' },
      { id: 'd', inputs: { k: 'fixed' }, command: 'echo {{inputs.k}}', n_procs: dProcs },
    ],
  };
}

const BUDGET = ['--n-procs', '2', '--memory-gb', '2'];
/** Nothing listens here: a dry run must not need Redis. */
const NO_REDIS = { REDIS_URL: 'redis://127.0.0.1:1' };

async function dry(path: string, workDir: string, prefix: string, ...flags: string[]): Promise<{ code: number | null; report: DryRunReport; stderr: string }> {
  const res = await runCli(['run', path, '--dry-run', '--json', '--prefix', prefix, '--work-dir', workDir, ...BUDGET, ...flags], { env: NO_REDIS });
  return { code: res.code, report: JSON.parse(res.stdout || '{}') as DryRunReport, stderr: res.stderr };
}

function verdicts(r: DryRunReport): Record<string, string> {
  return Object.fromEntries(r.nodes.filter((n) => n.element_of === undefined).map((n) => [n.id, n.verdict === 'cached' ? 'cached' : `would run: ${n.reasons.join('; ')}`]));
}

describe('flowgate run --dry-run', () => {
  it('says what would run and why, creates nothing, and needs no Redis', async () => {
    const dir = tempDir('dry-run');
    const prefix = uniquePrefix('dry');
    prefixes.push(prefix);
    const work = join(dir, 'work');
    const path = writeWorkflow(dir, 'wf.json', workflow(1));

    const fresh = await dry(path, work, prefix);
    expect(fresh.code, fresh.stderr).toBe(0);
    const none = 'would run: no cache record (never finished here, or its last run did not finish)';
    expect(verdicts(fresh.report)).toEqual({ a: none, d: none, b: 'would run: upstream a would run', c: 'would run: upstream b would run', m: 'would run: elements decided when b has run' });
    expect(fresh.report.counts).toEqual({ would_run: 5, cached: 0, total: 5 });
    expect(existsSync(work)).toBe(false);
    expect(await keysUnder(prefix)).toEqual([]);

    // The text form: one line per node and a count line.
    const text = await runCli(['run', path, '--dry-run', '--work-dir', work, ...BUDGET], { env: NO_REDIS });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ {2}b: would run \(upstream a would run\)$/m);
    expect(text.stdout).toMatch(/^5 of 5 nodes would run, 0 cached$/m);
    expect(existsSync(work)).toBe(false);

    const real = await runCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', work, ...BUDGET], { env: { REDIS_URL: redisUrl() } });
    expect(real.code, real.stderr).toBe(0);
    expect((JSON.parse(real.stdout) as RunSummary).counts).toMatchObject({ succeeded: 7 });
    const keysAfterRun = (await keysUnder(prefix)).sort();

    const after = await dry(path, work, prefix);
    expect(after.code).toBe(0);
    expect(Object.values(verdicts(after.report))).toEqual(['cached', 'cached', 'cached', 'cached', 'cached']);
    expect(after.report.nodes.filter((n) => n.element_of === 'm').map((n) => n.verdict)).toEqual(['cached', 'cached']);
    expect(after.report.counts).toEqual({ would_run: 0, cached: 5, total: 5 });

    writeWorkflow(dir, 'wf.json', workflow(2));
    const changed = await dry(path, work, prefix);
    expect(changed.code).toBe(0);
    const v = verdicts(changed.report);
    expect(v.a).toContain('input v changed: 1 -> 2');
    expect(v).toMatchObject({ b: 'would run: upstream a would run', c: 'would run: upstream b would run', m: 'would run: elements decided when b has run', d: 'cached' });
    expect(changed.report.counts).toEqual({ would_run: 4, cached: 1, total: 5 });

    // Oversized node: refused (exit 2), or clamped with --no-raise-insufficient.
    writeWorkflow(dir, 'wf.json', workflow(2, 4));
    const refused = await dry(path, work, prefix);
    expect(refused.code).toBe(2);
    expect(refused.report.can_start).toBe(false);
    expect(refused.report.budget.refused).toEqual([{ id: 'd', n_procs: 4, mem_gb: 0.2 }]);
    const clamped = await dry(path, work, prefix, '--no-raise-insufficient');
    expect(clamped.code).toBe(0);
    expect(clamped.report.budget.clamped.join('\n')).toContain('"d"');
    // The dry runs added nothing to Redis.
    expect((await keysUnder(prefix)).sort()).toEqual(keysAfterRun);
  });

  it('puts the default work dir next to the workflow file, so a run from elsewhere hits the cache', async () => {
    const dir = tempDir('work-next');
    const prefix = uniquePrefix('wnext');
    prefixes.push(prefix);
    const wfDir = join(dir, 'flows');
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(wfDir);
    mkdirSync(elsewhere);
    const path = writeWorkflow(wfDir, 'wf.json', workflow(1));
    const env = { REDIS_URL: redisUrl() };
    const first = await runCli(['run', 'flows/wf.json', '--json', '--quiet', '--prefix', prefix, ...BUDGET], { env, cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(join(wfDir, 'flowgate-work', 'look', 'a'))).toBe(true);
    expect(existsSync(join(dir, 'flowgate-work'))).toBe(false);
    const again = await runCli(['run', path, '--json', '--quiet', '--prefix', prefix, ...BUDGET], { env, cwd: elsewhere });
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as RunSummary).counts).toMatchObject({ cached: 7, succeeded: 0 });
    expect(existsSync(join(elsewhere, 'flowgate-work'))).toBe(false);
  });
});
