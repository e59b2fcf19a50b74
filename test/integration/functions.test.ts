/**
 * Function nodes run in executor child processes that are replaced after
 * --max-tasks-per-child nodes: PIDs rotate exactly every N nodes, nothing
 * fails at the switch, and memory a function leaks dies with its process.
 */
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeSummary, RunSummary } from '../../src/scheduler/summary.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/functions');
const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

async function run(wf: object, flags: string[]): Promise<{ code: number | null; summary: RunSummary }> {
  const dir = tempDir('fg-fn');
  const prefix = uniquePrefix('fn');
  prefixes.push(prefix);
  const res = await runCli(['run', writeWorkflow(dir, 'wf.json', wf), '--json', '--quiet', '--prefix', prefix, '--work-dir', resolve(dir, 'work'), ...flags], {
    env: { REDIS_URL: redisUrl() },
  });
  if (res.stdout.trim() === '') throw new Error(`no summary (exit ${String(res.code)}):\n${res.stderr}`);
  return { code: res.code, summary: JSON.parse(res.stdout) as RunSummary };
}

const fn = (id: string, exportName: string, extra: object = {}): object => ({ id, function: { module: `${FIXTURES}/steps.mjs`, export: exportName }, ...extra });
const outputs = (n: NodeSummary | undefined): Record<string, unknown> => (n?.outputs ?? {}) as Record<string, unknown>;

describe('function nodes and maxtasksperchild', () => {
  it('rotates realms exactly every N nodes with no failure at the switch; each node works in its own directory', async () => {
    const nodes = Array.from({ length: 7 }, (_, i) => fn(`f${i}`, 'whoami', i > 0 ? { needs: [`f${i - 1}`] } : {}));
    const { code, summary } = await run({ name: 'rotate', nodes }, ['--n-procs', '1', '--memory-gb', '1', '--max-tasks-per-child', '3']);
    expect(code).toBe(0);
    const realms = summary.nodes.map((n) => `${String(outputs(n)['pid'])}:${String(outputs(n)['thread'])}`);
    expect(summary.nodes.every((n) => Number.isInteger(outputs(n)['pid']) && (outputs(n)['thread'] as number) > 0)).toBe(true);
    // [a a a b b b c]: a new realm (a worker thread) every third node, never reused.
    expect(realms.slice(0, 3).every((r) => r === realms[0])).toBe(true);
    expect(realms.slice(3, 6).every((r) => r === realms[3])).toBe(true);
    expect(new Set([realms[0], realms[3], realms[6]]).size).toBe(3);
    expect(summary.nodes.map((n) => outputs(n)['cwd'])).toEqual(summary.nodes.map((n) => expect.stringMatching(new RegExp(`/rotate/${n.id}$`))));
    expect(summary.nodes.every((n) => n.status === 'succeeded' && n.attempts === 1)).toBe(true);
  });

  it('does not let a leaking function grow a process without bound', async () => {
    const nodes = Array.from({ length: 6 }, (_, i) => fn(`leak${i}`, 'leaky', i > 0 ? { needs: [`leak${i - 1}`] } : {}));
    const bounded = await run({ name: 'leak', nodes }, ['--n-procs', '1', '--memory-gb', '1', '--max-tasks-per-child', '2']);
    expect(bounded.code).toBe(0);
    expect(Math.max(...bounded.summary.nodes.map((n) => outputs(n)['held_mb'] as number))).toBe(80);
    // Without recycling, the same process keeps every leak.
    const unbounded = await run({ name: 'leak', nodes }, ['--n-procs', '1', '--memory-gb', '1', '--max-tasks-per-child', '100']);
    expect(Math.max(...unbounded.summary.nodes.map((n) => outputs(n)['held_mb'] as number))).toBe(240);
  });

  it('refuses a missing module or export before anything runs, naming node and field', async () => {
    const dir = tempDir('fg-fn-missing');
    const path = writeWorkflow(dir, 'wf.json', { name: 'fnmissing', nodes: [fn('missing', 'nope'), { id: 'gone', function: { module: './nowhere.mjs', export: 'f' } }] });
    for (const cmd of [['validate', path], ['run', path, '--work-dir', resolve(dir, 'work'), '--quiet']]) {
      const res = await runCli(cmd, { env: { REDIS_URL: 'redis://127.0.0.1:1' } });
      expect(res.code).toBe(2);
      expect(res.stderr).toContain(`node "missing", field "nodes[0].function.export": module ${FIXTURES}/steps.mjs has no export "nope" (exports: boom, default, idle, leaky, spin, whoami)`);
      expect(res.stderr).toContain(`node "gone", field "nodes[1].function.module": function module ${resolve(dir, 'nowhere.mjs')} does not exist (or is not a file)`);
    }
  });

  it('fails a throwing function and a hung function cleanly; runs TypeScript modules', async () => {
    const wf = {
      name: 'fnfail',
      nodes: [
        fn('bad', 'boom'),
        fn('hung', 'default', { timeout_s: 0.5 }),
        fn('after', 'whoami', { needs: ['hung'] }),
        { id: 'ts', function: { module: `${FIXTURES}/typed.ts`, export: 'typed' }, mem_gb: 0.5 },
      ],
    };
    const { code, summary } = await run(wf, ['--n-procs', '2', '--memory-gb', '2']);
    expect(code).toBe(1);
    const byId = new Map(summary.nodes.map((n) => [n.id, n]));
    expect(byId.get('bad')).toMatchObject({ status: 'failed', reason: 'function threw: Error: kaboom from a function node' });
    expect(byId.get('hung')).toMatchObject({ status: 'failed', reason: 'timed out after 0.5 s' });
    expect(byId.get('after')).toMatchObject({ status: 'skipped', skipped_because: 'hung' });
    expect(byId.get('ts')).toMatchObject({ status: 'succeeded', outputs: { id: 'ts', answer: 42, mem: 0.5 } });
  });

  it('charges a reused executor\'s earlier work to the node that did it, not to the next one', async () => {
    const wf = { name: 'reuse', nodes: [fn('busy', 'spin'), fn('calm', 'idle', { needs: ['busy'] })] };
    const { code, summary } = await run(wf, ['--n-procs', '1', '--memory-gb', '1', '--sample-interval-ms', '100']);
    expect(code).toBe(0);
    const byId = new Map(summary.nodes.map((n) => [n.id, n]));
    expect(outputs(byId.get('busy'))['pid']).toBe(outputs(byId.get('calm'))['pid']);
    expect(byId.get('busy')?.cpu_s).toBeGreaterThan(0.5);
    expect(byId.get('calm')?.cpu_s).toBeLessThan(0.3);
  });

  it('rejects a node with both or neither of command and function', async () => {
    const dir = tempDir('fg-fn');
    const bad = { name: 'x', nodes: [{ id: 'both', command: ['true'], function: { module: 'm.js', export: 'f' } }, { id: 'neither' }] };
    const res = await runCli(['validate', writeWorkflow(dir, 'wf.json', bad)]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('node "both", field "nodes[0].function": a node has either "command" or "function", not both');
    expect(res.stderr).toContain('node "neither", field "nodes[1].command": needs a "command" (argv array or shell string) or a "function"');
  });
});
