/**
 * Large workflows through the built CLI: an iterables product above
 * `--max-nodes` is refused at once with exit 2, naming the node and the
 * product, with nothing written to Redis (it used to exhaust memory for a
 * minute); `--max-nodes` raises or lowers the limit for run, submit and
 * validate; large workflows get a progress line on stderr while they are
 * validated, except with --quiet or --json.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chain, wide } from '../../bench/scale-shapes.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, keysUnder, redisUrl, uniquePrefix } from '../helpers/redis.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

function prefix(): string {
  const p = uniquePrefix('scale-cli');
  prefixes.push(p);
  return p;
}

const BILLION = 'name: huge\nnodes:\n  - id: x\n    command: echo {{inputs.a}} {{inputs.b}} {{inputs.c}}\n    iterables: {a: [LIST], b: [LIST], c: [LIST]}\n'.replaceAll(
  'LIST',
  Array.from({ length: 1000 }, (_, i) => i).join(', '),
);

describe('the node limit on the command line', () => {
  it('refuses a billion-node iterables product before anything is made or written (run, submit, validate)', async () => {
    const dir = tempDir('fg-scale-cli');
    const file = writeWorkflow(dir, 'huge.yaml', BILLION);
    const p = prefix();
    const env = { REDIS_URL: redisUrl() };
    const message = 'node "x", field "nodes[0].iterables": iterables product 1000 × 1000 × 1000 = 1,000,000,000 nodes exceeds --max-nodes 1,000,000';
    for (const args of [
      ['run', file, '--prefix', p, '--work-dir', `${dir}/work`],
      ['submit', file, '--prefix', p],
      ['validate', file],
    ]) {
      const r = await runCli(args, { env, timeoutMs: 30_000 });
      expect(r.code, `${args[0] ?? ''}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect(await keysUnder(p)).toEqual([]);
  });

  it('takes --max-nodes to raise or lower the limit', async () => {
    const dir = tempDir('fg-scale-cli');
    const file = writeWorkflow(dir, 'grid.json', { name: 'grid', nodes: [{ id: 'g', command: 'true', iterables: { a: [1, 2, 3, 4, 5, 6], b: [1, 2, 3, 4, 5] } }] });
    const lowered = await runCli(['validate', file, '--max-nodes', '29']);
    expect(lowered.code).toBe(2);
    expect(lowered.stderr).toContain('iterables product 6 × 5 = 30 nodes exceeds --max-nodes 29');
    const fits = await runCli(['validate', file, '--max-nodes', '30']);
    expect(fits.code, fits.stderr).toBe(0);
    expect(fits.stdout).toContain('30 nodes');
    const p = prefix();
    const submitted = await runCli(['submit', file, '--max-nodes', '29', '--prefix', p], { env: { REDIS_URL: redisUrl() } });
    expect(submitted.code).toBe(2);
    expect(await keysUnder(p)).toEqual([]);
  });
});

describe('progress while validating', () => {
  it('prints a line per phase for a large workflow on a pipe, none for a small one, with --quiet or with run --json', async () => {
    const dir = tempDir('fg-scale-cli');
    const large = writeWorkflow(dir, 'large.json', wide(20_000));
    const r = await runCli(['validate', large]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('flowgate: '));
    expect(lines.map((l) => /: ([a-z ,]+)… \[\d+\.\ds\]$/.exec(l)?.[1])).toEqual([
      'checking fields',
      'checking ids, needs, connections, iterables',
      'looking for cycles',
      'scanning commands for untracked files',
    ]);
    expect(lines[0]).toContain(`flowgate: ${large} (20,000 nodes): `);
    expect((await runCli(['validate', large, '--quiet'])).stderr).toBe('');
    expect((await runCli(['validate', writeWorkflow(dir, 'small.json', wide(10))])).stderr).toBe('');

    // A run that fails validation late (a cycle): progress first, unless its output is JSON.
    const cyclic = writeWorkflow(dir, 'cyclic.json', chain(20_000, true));
    const p = prefix();
    const env = { REDIS_URL: redisUrl() };
    const plain = await runCli(['run', cyclic, '--prefix', p, '--work-dir', `${dir}/work`], { env });
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(`flowgate: ${cyclic} (20,000 nodes): looking for cycles…`);
    expect(plain.stderr).toContain('dependency cycle of 20,000 nodes: n0 -> n19999 -> ');
    const json = await runCli(['run', cyclic, '--json', '--prefix', p, '--work-dir', `${dir}/work`], { env });
    expect(json.code).toBe(2);
    expect(json.stderr).not.toContain('looking for cycles');
    expect(await keysUnder(p)).toEqual([]);
  });
});
