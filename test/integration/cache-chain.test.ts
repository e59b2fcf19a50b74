/**
 * The cache never hands back a stale result (the CLI as a process, real
 * files, real Redis): keys chain upstream results whether a node depends on
 * its upstream through `needs` or a connection; path inputs (files and
 * directories) and a function's local imports are part of the key; map
 * elements are found by their values; switching the hash method keeps nodes
 * without files; content hashing reads files of any size.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

interface Run {
  code: number | null;
  summary: RunSummary;
  stderr: string;
  statuses: Record<string, string>;
}

interface Fixture {
  dir: string;
  work: string;
  ran: () => string[];
  run: (wf: object | string, ...flags: string[]) => Promise<Run>;
}

const LOG = 'echo $FLOWGATE_NODE_ID >> "$RAN_LOG"';

/** `timeoutMs`: how long one run may take before it is killed (hashing gigabytes on a loaded machine is slow). */
function fixture(label: string, file = 'wf.json', timeoutMs = 50_000): Fixture {
  const dir = tempDir(label);
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  const log = join(dir, 'ran.log');
  const work = join(dir, 'work');
  return {
    dir,
    work,
    ran: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter((l) => l !== '').sort() : []),
    run: async (wf, ...flags) => {
      writeFileSync(log, '');
      const path = typeof wf === 'string' ? wf : writeWorkflow(dir, file, wf);
      const res = await runCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', work, '--n-procs', '2', '--memory-gb', '2', ...flags], { env: { REDIS_URL: redisUrl(), RAN_LOG: log }, timeoutMs });
      expect(res.code, res.stderr).toBe(0);
      const summary = JSON.parse(res.stdout) as RunSummary;
      return { code: res.code, summary, stderr: res.stderr, statuses: Object.fromEntries(summary.nodes.map((n) => [n.id, n.status])) };
    },
  };
}

/** The sum of the `total` lines of the demo's report. */
function reportTotal(path: string): number {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim().endsWith(' total'))
    .reduce((s, l) => s + Number(l.trim().split(/\s+/)[0]), 0);
}

describe('cache keys chain upstream results', () => {
  it('reruns the demo descendants that read ../fetch/... by path when fetch changes', async () => {
    const f = fixture('demo');
    const file = join(f.dir, 'd.yaml');
    copyFileSync(resolve(import.meta.dirname, '../../examples/demo.yaml'), file);
    await f.run(file);
    const report = join(f.work, 'demo', 'report', 'report.txt');
    expect(reportTotal(report)).toBe(200000);
    writeFileSync(file, readFileSync(file, 'utf8').replace('seq 1 200000', 'seq 1 1000'));
    const changed = await f.run(file, '--explain-cache');
    expect(Object.values(changed.statuses).every((s) => s === 'succeeded')).toBe(true);
    expect(reportTotal(report)).toBe(1000);
    expect(changed.stderr).toContain('split: ran (succeeded) because upstream fetch changed');
    expect(changed.stderr).toContain('checksum: ran (succeeded) because upstream fetch changed');
    // The changed command shows where it differs, not two identical cut-off prefixes.
    expect(changed.stderr).toMatch(/fetch: ran \(succeeded\) because definition changed: command was .*seq 1 200000.*, now .*seq 1 1000/);
    const again = await f.run(file, '--explain-cache');
    expect(Object.values(again.statuses).every((s) => s === 'cached')).toBe(true);
  });

  it('reruns a needs-only chain of three when its first node changes', async () => {
    const f = fixture('needs');
    const wf = (word: string): object => ({
      name: 'needs',
      nodes: [
        { id: 'a', command: `${LOG}; echo ${word} > a.txt` },
        { id: 'b', needs: ['a'], command: `${LOG}; cat ../a/a.txt > b.txt` },
        { id: 'c', needs: ['b'], command: `${LOG}; cat ../b/b.txt > c.txt` },
      ],
    });
    await f.run(wf('one'));
    expect((await f.run(wf('one'))).statuses).toEqual({ a: 'cached', b: 'cached', c: 'cached' });
    for (const method of ['timestamp', 'content']) {
      const word = `two-${method}`;
      const changed = await f.run(wf(word), '--hash-method', method, '--explain-cache');
      expect(changed.statuses).toEqual({ a: 'succeeded', b: 'succeeded', c: 'succeeded' });
      expect(f.ran()).toEqual(['a', 'b', 'c']);
      expect(changed.stderr).toContain('c: ran (succeeded) because upstream b changed');
      expect(readFileSync(join(f.work, 'needs', 'c', 'c.txt'), 'utf8')).toBe(`${word}\n`);
    }
  });

  it('with content hashes, a middle node that reruns with identical outputs leaves its descendant cached', async () => {
    const f = fixture('middle');
    const wf = (suffix: string): object => ({
      name: 'middle',
      nodes: [
        { id: 'x', command: `${LOG}; echo data > x.txt`, outputs: { f: 'x.txt' } },
        { id: 'y', inputs: { f: { from: 'x.f' } }, command: `${LOG}; cat {{inputs.f}} > y.txt${suffix}`, outputs: { f: 'y.txt' } },
        { id: 'z', inputs: { f: { from: 'y.f' } }, command: `${LOG}; cat {{inputs.f}} > z.txt` },
      ],
    });
    await f.run(wf(''), '--hash-method', 'content');
    const res = await f.run(wf('; true'), '--hash-method', 'content', '--explain-cache');
    expect(res.statuses).toEqual({ x: 'cached', y: 'succeeded', z: 'cached' });
    expect(f.ran()).toEqual(['y']);
    // With timestamps the same change reruns z: y's result is new.
    const ts = await f.run(wf('; true; true'), '--explain-cache');
    expect(ts.statuses).toEqual({ x: 'cached', y: 'succeeded', z: 'succeeded' });
    expect(ts.stderr).toContain('z: ran (succeeded) because upstream y changed');
  });
});

describe('hash methods and files', () => {
  it('switching --hash-method keeps nodes without files cached and rechecks nodes with file inputs', async () => {
    const f = fixture('switch');
    mkdirSync(join(f.dir, 'data'));
    writeFileSync(join(f.dir, 'data', 'in.txt'), 'input\n');
    const wf = {
      name: 'switch',
      nodes: [
        { id: 'p', inputs: { v: 1 }, command: `${LOG}; echo {{inputs.v}}` },
        { id: 'q', needs: ['p'], inputs: { f: { path: 'data/in.txt' } }, command: `${LOG}; cat {{inputs.f}}` },
      ],
    };
    await f.run(wf);
    const content = await f.run(wf, '--hash-method', 'content', '--explain-cache');
    expect(content.statuses).toEqual({ p: 'cached', q: 'succeeded' });
    expect(content.stderr).toMatch(/q: ran \(succeeded\) because file \S+in\.txt: recorded with timestamp hashing, now compared by content/);
    // A record made with content hashing also holds size and mtime: timestamps recheck it without a rerun.
    const back = await f.run(wf, '--hash-method', 'timestamp', '--explain-cache');
    expect(back.statuses).toEqual({ p: 'cached', q: 'cached' });
    expect(back.stderr).toContain('q: cached (rechecked with timestamp hashing (recorded with content): input files unchanged)');
    expect(f.ran()).toEqual([]);
  });

  it('content-hashes a file over 2 GiB and sees a change that keeps its size and mtime', async () => {
    const f = fixture('big', 'wf.json', 240_000);
    const big = join('/tmp', `flowgate-big-${process.pid}-${Date.now()}.bin`);
    try {
      execFileSync('truncate', ['-s', '3G', big]);
      const wf = { name: 'big', nodes: [{ id: 'r', inputs: { f: { path: big } }, command: `${LOG}; echo read` }] };
      await f.run(wf, '--hash-method', 'content');
      const record = JSON.parse(readFileSync(join(f.work, 'big', 'r', '_flowgate_cache.json'), 'utf8')) as { parts: { files: Record<string, string> } };
      expect(record.parts.files[big]).toMatch(/^size:3221225472 mtime:\d+ sha256:[0-9a-f]{64}$/);
      const st = statSync(big);
      execFileSync('dd', ['if=/dev/urandom', `of=${big}`, 'bs=1', 'count=8', 'seek=2500000000', 'conv=notrunc'], { stdio: 'ignore' });
      utimesSync(big, st.atime, st.mtime);
      const changed = await f.run(wf, '--hash-method', 'content', '--explain-cache');
      expect(changed.statuses).toEqual({ r: 'succeeded' });
      expect(changed.stderr).toMatch(/r: ran \(succeeded\) because file \S+ changed: sha256:[0-9a-f]{64} -> sha256:[0-9a-f]{64}/);
    } finally {
      rmSync(big, { force: true });
    }
  }, 600_000);

  it('path inputs: a changed file or a file added to a directory reruns the node; undeclared files are warned about', async () => {
    const f = fixture('paths');
    mkdirSync(join(f.dir, 'data', 'dir', 'sub'), { recursive: true });
    writeFileSync(join(f.dir, 'data', 'in.txt'), 'one\n');
    writeFileSync(join(f.dir, 'data', 'dir', 'sub', 'a.txt'), 'a\n');
    writeFileSync(join(f.dir, 'data', 'other.txt'), 'other\n');
    const wf = {
      name: 'paths',
      nodes: [
        { id: 'n', inputs: { f: { path: 'data/in.txt' }, d: { path: join(f.dir, 'data', 'dir') } }, command: `${LOG}; echo {{inputs.f}} > seen.txt; ls -R {{inputs.d}} >> seen.txt` },
        { id: 'u', command: `${LOG}; cat data/other.txt /dev/null || true` },
      ],
    };
    const first = await f.run(wf);
    expect(readFileSync(join(f.work, 'paths', 'n', 'seen.txt'), 'utf8').split('\n')[0]).toBe(join(f.dir, 'data', 'in.txt'));
    expect(first.stderr).toContain(`warning: ${join(f.dir, 'wf.json')}: node "u": the command names the file ${join(f.dir, 'data', 'other.txt')}, which is not a declared input`);
    expect(first.stderr).not.toContain('node "n"');
    const validate = await runCli(['validate', join(f.dir, 'wf.json')]);
    expect(validate.code).toBe(0);
    expect(validate.stderr).toContain('node "u": the command names the file');
    expect((await f.run(wf)).statuses).toEqual({ n: 'cached', u: 'cached' });

    appendFileSync(join(f.dir, 'data', 'in.txt'), 'two\n');
    const file = await f.run(wf, '--explain-cache');
    expect(file.statuses).toEqual({ n: 'succeeded', u: 'cached' });
    expect(file.stderr).toMatch(/n: ran \(succeeded\) because file \S+in\.txt changed: size:4 mtime:\d+ -> size:8 mtime:\d+/);

    writeFileSync(join(f.dir, 'data', 'dir', 'sub', 'b.txt'), 'b\n');
    const dir = await f.run(wf, '--explain-cache');
    expect(dir.statuses).toEqual({ n: 'succeeded', u: 'cached' });
    expect(dir.stderr).toMatch(/n: ran \(succeeded\) because file \S+dir changed: listing:[0-9a-f]{64} -> listing:[0-9a-f]{64}/);
    expect(readFileSync(join(f.work, 'paths', 'n', 'seen.txt'), 'utf8')).toContain('b.txt');
  });

  it('reruns a function node when a local module it imports changes; code_version replaces the scan', async () => {
    const f = fixture('imports');
    writeFileSync(join(f.dir, 'fn.mjs'), "import { step } from './lib/helper.mjs';\nexport function go(i) { return { v: step(i.x) }; }\n");
    mkdirSync(join(f.dir, 'lib'));
    writeFileSync(join(f.dir, 'lib', 'helper.mjs'), "export { step } from './deep.mjs';\n");
    writeFileSync(join(f.dir, 'lib', 'deep.mjs'), 'export const step = (x) => x + 1;\n');
    const wf = (extra: object = {}): object => ({ name: 'imports', nodes: [{ id: 'fn', inputs: { x: 1 }, function: { module: './fn.mjs', export: 'go' }, ...extra }] });
    expect((await f.run(wf())).summary.nodes[0]?.outputs).toEqual({ v: 2 });
    expect((await f.run(wf())).statuses).toEqual({ fn: 'cached' });
    writeFileSync(join(f.dir, 'lib', 'deep.mjs'), 'export const step = (x) => x + 10;\n');
    const changed = await f.run(wf(), '--explain-cache');
    expect(changed.statuses).toEqual({ fn: 'succeeded' });
    expect(changed.summary.nodes[0]?.outputs).toEqual({ v: 11 });
    expect(changed.stderr).toContain('fn: ran (succeeded) because definition changed: function was');
    expect(changed.stderr).toContain('deep.mjs');

    // With code_version the imports are the user's to version: an edit alone does not rerun, a new version does.
    await f.run(wf({ code_version: 'v1' }));
    writeFileSync(join(f.dir, 'lib', 'deep.mjs'), 'export const step = (x) => x + 100;\n');
    expect((await f.run(wf({ code_version: 'v1' }))).statuses).toEqual({ fn: 'cached' });
    const bumped = await f.run(wf({ code_version: 'v2' }));
    expect(bumped.summary.nodes[0]?.outputs).toEqual({ v: 101 });
  });
});

describe('map nodes and the cache', () => {
  const mapWf = (samples: string[]): object => ({
    name: 'mapc',
    nodes: [
      { id: 'm', map: { over: ['s'] }, inputs: { s: samples }, command: `${LOG}; echo {{inputs.s}} > out.txt`, outputs: { out: 'out.txt' } },
      { id: 'after', inputs: { files: { from: 'm.out' } }, command: `${LOG}; cat {{inputs.files}}` },
    ],
  });

  it('inserting a sample that sorts first reruns only its element; an unchanged rerun leaves the map node cached', async () => {
    const f = fixture('mapins');
    await f.run(mapWf(['b', 'c']));
    const again = await f.run(mapWf(['b', 'c']), '--explain-cache');
    expect(again.statuses).toEqual({ m: 'cached', after: 'cached', _m0: 'cached', _m1: 'cached' });
    expect(again.stderr).toContain('  m: cached');
    expect(f.ran()).toEqual([]);

    const inserted = await f.run(mapWf(['a', 'b', 'c']), '--hash-method', 'content', '--explain-cache');
    expect(f.ran()).toEqual(['_m2', 'after']);
    expect(inserted.statuses).toMatchObject({ m: 'succeeded', _m2: 'succeeded', _m0: 'cached', _m1: 'cached', after: 'succeeded' });
    expect(inserted.stderr).toContain('m: ran (succeeded) because elements ran: _m2');
    const m = inserted.summary.nodes.find((n) => n.id === 'm');
    expect((m?.outputs as { out: string[] }).out.map((p) => readFileSync(p, 'utf8').trim())).toEqual(['a', 'b', 'c']);
    expect(m?.map?.elements.map((e) => e.dir)).toEqual(['_m2', '_m0', '_m1'].map((d) => join(f.work, 'mapc', 'm', 'mapflow', d)));
  });
});
