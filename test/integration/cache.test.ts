/**
 * Caching end to end (the CLI as a process, real files): a rerun without
 * changes runs nothing; a changed input reruns exactly its node and the
 * descendants whose inputs changed; --explain-cache says why; --update-hash
 * leaves valid records; overwrite forces; a node being run has no record.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, startCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait-for.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

interface Fixture {
  dir: string;
  ran: () => string[];
  run: (wf: object, ...flags: string[]) => Promise<{ code: number | null; summary: RunSummary; stderr: string; statuses: Record<string, string> }>;
}

function fixture(label: string): Fixture {
  const dir = tempDir(label);
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  const log = join(dir, 'ran.log');
  return {
    dir,
    ran: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter((l) => l !== '') : []),
    run: async (wf, ...flags) => {
      writeFileSync(log, '');
      const path = writeWorkflow(dir, 'wf.json', wf);
      const res = await runCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '2', '--memory-gb', '2', ...flags], { env: { REDIS_URL: redisUrl(), RAN_LOG: log } });
      const summary = JSON.parse(res.stdout) as RunSummary;
      return { code: res.code, summary, stderr: res.stderr, statuses: Object.fromEntries(summary.nodes.map((n) => [n.id, n.status])) };
    },
  };
}

/** a -> b -> c, plus an independent d; every node logs that it ran. */
function chain(aValue: number, bExtra = ''): object {
  const log = 'echo $FLOWGATE_NODE_ID >> "$RAN_LOG"';
  return {
    name: 'cached',
    nodes: [
      { id: 'a', inputs: { v: aValue }, command: `${log}; echo {{inputs.v}} | cut -c1 > a.txt`, outputs: { f: 'a.txt' } },
      { id: 'b', inputs: { f: { from: 'a.f' } }, command: `${log}; cat {{inputs.f}} > b.txt${bExtra}`, outputs: { f: 'b.txt' } },
      { id: 'c', inputs: { f: { from: 'b.f' } }, command: `${log}; cat {{inputs.f}}` },
      { id: 'd', inputs: { k: 'fixed' }, command: `${log}; echo {{inputs.k}}` },
    ],
  };
}

describe('the node cache', () => {
  it('runs nothing on an unchanged rerun, and only what a changed input reaches', async () => {
    const f = fixture('cache');
    const first = await f.run(chain(1));
    expect(first.code).toBe(0);
    expect(f.ran().sort()).toEqual(['a', 'b', 'c', 'd']);

    const again = await f.run(chain(1));
    expect(again.code).toBe(0);
    expect(again.statuses).toEqual({ a: 'cached', b: 'cached', c: 'cached', d: 'cached' });
    expect(again.summary.counts).toMatchObject({ cached: 4, succeeded: 0 });
    expect(f.ran()).toEqual([]);
    expect(again.summary.nodes.every((n) => n.start_ms === null && n.admitted_ms === null)).toBe(true);

    // A new value for a: a reruns; with timestamps its result is new (and its file rewritten), so b and c rerun; d stays cached.
    const changed = await f.run(chain(2), '--explain-cache');
    expect(changed.statuses).toEqual({ a: 'succeeded', b: 'succeeded', c: 'succeeded', d: 'cached' });
    expect(f.ran().sort()).toEqual(['a', 'b', 'c']);
    expect(changed.stderr).toContain('a: ran (succeeded) because definition changed: command was');
    expect(changed.stderr).toContain('input v changed: 1 -> 2');
    expect(changed.stderr).toMatch(/b: ran \(succeeded\) because upstream a changed; file \S+a\.txt changed: size:2 mtime:\d+ -> size:2 mtime:\d+/);
    expect(changed.stderr).toContain('d: cached');
  });

  it('with content hashes, reruns only the descendants whose input files really changed', async () => {
    const f = fixture('content');
    await f.run(chain(10), '--hash-method', 'content');
    // 10 and 15 both write "1" (first character): a reruns, its output is byte-identical, b and c stay cached.
    const res = await f.run(chain(15), '--hash-method', 'content');
    expect(res.statuses).toEqual({ a: 'succeeded', b: 'cached', c: 'cached', d: 'cached' });
    expect(f.ran()).toEqual(['a']);
    const other = await f.run(chain(25), '--hash-method', 'content', '--explain-cache');
    expect(other.statuses).toEqual({ a: 'succeeded', b: 'succeeded', c: 'succeeded', d: 'cached' });
    expect(other.stderr).toMatch(/b: ran \(succeeded\) because upstream a changed; file \S+a\.txt changed: sha256:[0-9a-f]{64} -> sha256:[0-9a-f]{64}/);
  });

  it('--update-hash keeps the outputs and leaves records the next plain run hits; overwrite always runs', async () => {
    const f = fixture('update');
    await f.run(chain(1));
    const updated = await f.run(chain(3), '--update-hash', '--explain-cache');
    expect(updated.statuses).toEqual({ a: 'cached', b: 'cached', c: 'cached', d: 'cached' });
    expect(f.ran()).toEqual([]);
    expect(updated.stderr).toContain('a: cached (update-hash: kept the outputs, accepted definition changed');
    expect(readFileSync(join(f.dir, 'work', 'cached', 'a', 'a.txt'), 'utf8')).toBe('1\n');
    const plain = await f.run(chain(3));
    expect(plain.statuses).toEqual({ a: 'cached', b: 'cached', c: 'cached', d: 'cached' });

    const wf = chain(3) as { nodes: Array<Record<string, unknown>> };
    (wf.nodes[3] as Record<string, unknown>)['overwrite'] = true;
    const forced = await f.run(wf, '--explain-cache');
    expect(forced.statuses).toMatchObject({ a: 'cached', d: 'succeeded' });
    expect(forced.stderr).toContain('d: ran (succeeded) because overwrite: true');
    expect(f.ran()).toEqual(['d']);
  });

  it('reruns a function node whose module changed, and leaves no record while a node runs', async () => {
    const f = fixture('fnmod');
    writeFileSync(join(f.dir, 'fn.mjs'), 'export function go(i) { return { v: i.x + 1 }; }\n');
    const wf = { name: 'fnmod', nodes: [{ id: 'fn', inputs: { x: 1 }, function: { module: './fn.mjs', export: 'go' } }] };
    expect((await f.run(wf)).summary.nodes[0]?.outputs).toEqual({ v: 2 });
    expect((await f.run(wf)).statuses).toEqual({ fn: 'cached' });
    writeFileSync(join(f.dir, 'fn.mjs'), 'export function go(i) { return { v: i.x + 2 }; }\n');
    const changed = await f.run(wf, '--explain-cache');
    expect(changed.statuses).toEqual({ fn: 'succeeded' });
    expect(changed.summary.nodes[0]?.outputs).toEqual({ v: 3 });
    expect(changed.stderr).toContain('definition changed: function was');

    // A slow node: its old record is gone as soon as it starts, so a run killed with its
    // worker and node leaves nothing a later run could take as finished.
    const slow = fixture('slow');
    const slowWf = (s: number) => ({ name: 'slow', nodes: [{ id: 's', inputs: { s }, command: 'echo $FLOWGATE_WORKER_PID > worker.pid; echo $$ > node.pid; sleep {{inputs.s}}' }] });
    await slow.run(slowWf(0));
    const nodeDir = join(slow.dir, 'work', 'slow', 's');
    const firstNodePid = readFileSync(join(nodeDir, 'node.pid'), 'utf8').trim();
    const record = join(nodeDir, '_flowgate_cache.json');
    expect(existsSync(record)).toBe(true);
    const killedPrefix = uniquePrefix('slow2');
    prefixes.push(killedPrefix);
    const p = startCli(['run', writeWorkflow(slow.dir, 'wf2.json', slowWf(30)), '--quiet', '--prefix', killedPrefix, '--work-dir', join(slow.dir, 'work')], { env: { REDIS_URL: redisUrl() } });
    const pids = await waitFor(() => {
      if (existsSync(record)) return undefined;
      const [worker, node] = ['worker.pid', 'node.pid'].map((f) => (existsSync(join(nodeDir, f)) ? Number(readFileSync(join(nodeDir, f), 'utf8').trim()) : 0));
      return worker !== undefined && node !== undefined && worker > 0 && node > 0 && readFileSync(join(nodeDir, 'node.pid'), 'utf8').trim() !== String(firstNodePid) ? { worker, node } : undefined;
    }, 20_000, 'the slow node to start');
    p.child.kill('SIGKILL');
    process.kill(pids.worker, 'SIGKILL');
    process.kill(-pids.node, 'SIGKILL');
    await p.done;
    expect(existsSync(record)).toBe(false);
    const rerun = await slow.run(slowWf(0), '--explain-cache');
    expect(rerun.stderr).toContain('s: ran (succeeded) because no cache record');
  });
});
