/**
 * Side by side with nipype 1.8.5 (MultiProc): each case runs on flowgate and,
 * where Debian's python3-nipype is installed, on nipype, and both are held to
 * the same observed result — the order nodes start in, how many run at once,
 * directory layout, what fails and what is skipped, crash files. The nipype
 * half is skipped (and counted, with its reason) without nipype, and required
 * under CI=true. Where flowgate keeps a behaviour of its own, the case says so
 * and checks both sides' actual behaviour.
 */
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { run, type StatusEvent } from 'flowgate';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { maxHeld, maxRunning, NIPYPE_MISSING, nipypeAvailable, runFlowgate, runNipype, startOrder, toFlowgate, type Case } from './side-by-side.js';
import type { RunSummary } from '../../src/scheduler/summary.js';

/** Skips the nipype half of a case without nipype (a failure under CI=true, where it must be installed). */
function needNipype(ctx: TestContext): void {
  if (nipypeAvailable()) return;
  if (process.env['CI'] === 'true') throw new Error(`${NIPYPE_MISSING}; CI installs python3-nipype (.ci/run)`);
  ctx.skip(NIPYPE_MISSING);
}

/** Declares one case: a flowgate test and a nipype test holding both to `expected`. */
function sideBySide<T>(title: string, c: Case, expected: T, sides: { flowgate: (c: Case) => Promise<T>; nipype: (c: Case) => T }): void {
  describe(title, () => {
    it('flowgate', async () => {
      expect(await sides.flowgate(c)).toEqual(expected);
    });
    it('nipype 1.8.5', (ctx) => {
      needNipype(ctx);
      expect(sides.nipype(c)).toEqual(expected);
    });
  });
}

/** Node names of crash files `crash-<date>-<time>-<user>-<node>-<uuid>.<ext>` (JSON and text twins counted once). */
const crashNodes = (files: readonly string[]): string[] => [...new Set(files.map((f) => /^crash-\d+-\d+-[^-]+-(.+)-[0-9a-f]{8}-[0-9a-f]{4}-/.exec(f)?.[1] ?? f))].sort();

const mapNodes = (c: Case): Set<string> => new Set(c.nodes.filter((n) => n.map_over !== undefined).map((n) => n.id));
/** Start order of nodes that run a process (a map node itself runs none in flowgate; nipype's collects last). */
const flowgateOrder = async (c: Case): Promise<string[]> => startOrder((await runFlowgate(c)).summary);
const nipypeOrder = (c: Case): string[] => runNipype(c).starts.filter((id) => !mapNodes(c).has(id));

describe('nipype conformance', () => {
  // 1. tsort is networkx's topological sort, layer by layer.
  sideBySide(
    '1. tsort: a, c(a), b, x(b), y on one proc start a b y c x',
    { n_procs: 1, memory_gb: 4, nodes: [{ id: 'a' }, { id: 'c', needs: ['a'] }, { id: 'b' }, { id: 'x', needs: ['b'] }, { id: 'y' }] },
    ['a', 'b', 'y', 'c', 'x'],
    { flowgate: flowgateOrder, nipype: nipypeOrder },
  );
  sideBySide(
    '1. mem_thread ties follow the tsort rank: b y x a c',
    {
      n_procs: 1,
      memory_gb: 4,
      scheduler: 'mem_thread',
      nodes: [{ id: 'a', mem_gb: 0.5 }, { id: 'c', needs: ['a'], mem_gb: 0.3 }, { id: 'b', mem_gb: 0.3 }, { id: 'x', needs: ['b'], mem_gb: 0.3 }, { id: 'y', mem_gb: 0.3 }],
    },
    ['b', 'y', 'x', 'a', 'c'],
    { flowgate: flowgateOrder, nipype: nipypeOrder },
  );

  // 2. A map node's elements join the end of the job list.
  sideBySide(
    '2. map elements run after the nodes already ready (m before X, Y, Z in the file)',
    { n_procs: 1, memory_gb: 4, nodes: [{ id: 'src', value: [1, 2, 3] }, { id: 'm', needs: ['src'], map_over: ['src'] }, { id: 'X', needs: ['src'] }, { id: 'Y', needs: ['src'] }, { id: 'Z', needs: ['src'] }] },
    ['src', 'X', 'Y', 'Z', '_m0', '_m1', '_m2'],
    { flowgate: flowgateOrder, nipype: nipypeOrder },
  );

  // 3. Default mem_gb is 0.2 (nipype's code; its docstrings say 0.25).
  sideBySide(
    '3. three default nodes on memory_gb 0.45 run two at once',
    { n_procs: 4, memory_gb: 0.45, nodes: [{ id: 'a' }, { id: 'b' }, { id: 'c' }] },
    2,
    { flowgate: async (c) => maxHeld((await runFlowgate(c)).summary), nipype: (c) => maxRunning(runNipype(c).events) },
  );

  // 4. Iterable directory names.
  sideBySide(
    '4. several iterables on one node: labels in sorted field order',
    { n_procs: 2, memory_gb: 4, nodes: [{ id: 's', iterables: { subject: ['s1'], fwhm: [4, 8] } }] },
    ['_fwhm_4_subject_s1/s', '_fwhm_8_subject_s1/s'],
    { flowgate: async (c) => (await runFlowgate(c)).dirs, nipype: (c) => runNipype(c).dirs },
  );
  sideBySide(
    '4. two iterable parents: nested by path length from each source, then by name',
    {
      n_procs: 2,
      memory_gb: 4,
      nodes: [{ id: 'A', iterables: { alpha: [1] } }, { id: 'Z', iterables: { zeta: [1] } }, { id: 'M', needs: ['Z'] }, { id: 'D', needs: ['A', 'M'] }, { id: 'E', needs: ['A', 'Z'] }],
    },
    ['_alpha_1/A', '_alpha_1/_zeta_1/E', '_zeta_1/M', '_zeta_1/Z', '_zeta_1/_alpha_1/D'],
    { flowgate: async (c) => (await runFlowgate(c)).dirs, nipype: (c) => runNipype(c).dirs },
  );

  // 5. synchronize with lists of different lengths.
  sideBySide(
    '5. synchronize over lists of 2, 1 and 3 values: 3 copies, later ones without the short lists',
    { n_procs: 2, memory_gb: 4, nodes: [{ id: 's', iterables: { a: [1, 2], b: [3], c: [4, 5, 6] }, synchronize: true }] },
    ['_a_1_b_3_c_4/s', '_a_2_c_5/s', '_c_6/s'],
    { flowgate: async (c) => (await runFlowgate(c)).dirs, nipype: (c) => runNipype(c).dirs },
  );

  // 6. MapNode over an empty list fails the map node; one element is one element.
  const emptyMap: Case = { n_procs: 2, memory_gb: 4, nodes: [{ id: 'src', value: [] }, { id: 'm', needs: ['src'], map_over: ['src'] }, { id: 'after', needs: ['m'] }, { id: 'other' }] };
  sideBySide(
    '6. a map node over an empty list fails with a crash file; its descendants never run',
    emptyMap,
    { crashed: ['m'], ran: ['other', 'src'] },
    {
      flowgate: async (c) => {
        const r = await runFlowgate(c);
        expect(r.summary.nodes.find((n) => n.id === 'after')).toMatchObject({ status: 'skipped', skipped_because: 'm' });
        expect(r.code).toBe(1);
        // The map node never ran: its crash record holds its inputs as declared.
        const crashFile = r.summary.nodes.find((n) => n.id === 'm')?.crash_file ?? '';
        expect(JSON.parse(readFileSync(crashFile, 'utf8'))).toMatchObject({ inputs: { in_src: { from: 'src.out' } }, reason: 'map: input "in_src" is an empty list; a map node needs at least one item' });
        return { crashed: r.summary.nodes.filter((n) => n.crash_file !== null).map((n) => n.id), ran: startOrder(r.summary).sort() };
      },
      nipype: (c) => {
        const r = runNipype(c);
        return { crashed: crashNodes(r.crashfiles), ran: r.starts.sort() };
      },
    },
  );
  sideBySide(
    '6. a one-element map node runs its element in mapflow/_m0',
    { n_procs: 2, memory_gb: 4, nodes: [{ id: 'src', value: [7] }, { id: 'm', needs: ['src'], map_over: ['src'] }, { id: 'after', needs: ['m'] }] },
    ['after', 'm/mapflow/_m0', 'src'],
    // nipype also leaves the map node's own result in m/ (it ran as one job); flowgate's map node runs no process.
    { flowgate: async (c) => (await runFlowgate(c)).dirs, nipype: (c) => runNipype(c).dirs.filter((d) => d !== 'm') },
  );

  // 8. Clamping: a warning, and the oversized nodes run alone.
  const clamp: Case = { n_procs: 2, memory_gb: 1, raise_insufficient: false, nodes: [{ id: 'big', mem_gb: 3 }, { id: 'fat', n_procs: 4 }, { id: 'ok' }] };
  sideBySide('8. --no-raise-insufficient warns and runs oversized nodes alone', clamp, { warned: true, most: 1 }, {
    flowgate: async (c) => {
      const r = await runFlowgate(c);
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
      expect(warnings).toEqual([
        'warning: node "big" needs 3 GB (budget 1 GB): clamped to 1 procs / 1 GB, it runs alone',
        'warning: node "fat" needs 4 procs (budget 2): clamped to 2 procs / 0.2 GB, it runs alone',
      ]);
      return { warned: warnings.length > 0, most: maxHeld(r.summary) };
    },
    nipype: (c) => {
      const r = runNipype(c);
      return { warned: r.warnings.some((w) => w.includes('exceed')), most: maxRunning(r.events) };
    },
  });

  // 9. One crash file per failure in the chosen format, with the node's inputs.
  const crash: Case = { n_procs: 2, memory_gb: 4, crashfile_format: 'txt', nodes: [{ id: 'a', value: 5 }, { id: 'bad', needs: ['a'], fail: true }] };
  sideBySide('9. crashfile_format txt: one .txt crash file naming the inputs', crash, { files: ['.txt'], names_input: true }, {
    flowgate: async (c) => {
      const r = await runFlowgate(c);
      const text = readFileSync(join(r.crashdump_dir, r.crashfiles[0] ?? ''), 'utf8');
      expect(text).toMatch(/Inputs:\n\t\{\n\t {2}"in_a": 5\n\t\}/);
      return { files: r.crashfiles.map((f) => f.slice(f.lastIndexOf('.'))), names_input: text.includes('in_a') };
    },
    nipype: (c) => {
      const r = runNipype(c);
      const text = readFileSync(join(r.crashdump_dir, r.crashfiles[0] ?? ''), 'utf8');
      return { files: r.crashfiles.map((f) => f.slice(f.lastIndexOf('.'))), names_input: text.includes('in_a') };
    },
  });

  // 10. Per-node config: a node's crashdump_dir.
  const ownCrashDir = tempDir('conform-own-crash');
  const perNode: Case = { n_procs: 1, memory_gb: 4, nodes: [{ id: 'mine', fail: true, config: { crashdump_dir: ownCrashDir } }, { id: 'theirs', fail: true }] };
  sideBySide("10. a node's config.crashdump_dir takes its crash file; other nodes' go to the run's", perNode, { own: ['mine'], run: ['theirs'] }, {
    flowgate: async (c) => {
      const r = await runFlowgate(c);
      return { own: crashNodes(readdirSync(ownCrashDir).filter((f) => f.endsWith('.json'))), run: crashNodes(r.crashfiles) };
    },
    nipype: (c) => {
      const r = runNipype(c);
      return { own: crashNodes(readdirSync(ownCrashDir).filter((f) => f.endsWith('.pklz'))), run: crashNodes(r.crashfiles) };
    },
  });

  // 10. Per-node config: stop_on_first_crash. nipype 1.8.5's MultiProc reads it from the workflow's config only.
  const stopper: Case = { n_procs: 1, memory_gb: 4, nodes: [{ id: 'bad', fail: true, config: { stop_on_first_crash: true } }, { id: 'x' }, { id: 'y' }] };
  it("10. flowgate: a node's config.stop_on_first_crash stops admitting when it fails", async () => {
    const r = await runFlowgate(stopper);
    expect(r.code).toBe(1);
    expect(r.summary.nodes.map((n) => [n.id, n.status])).toEqual([['bad', 'failed'], ['x', 'cancelled'], ['y', 'cancelled']]);
    expect(r.summary.nodes.find((n) => n.id === 'x')?.reason).toBe('stop-on-first-crash: node "bad" failed');
  });
  it("10. nipype 1.8.5: MultiProc ignores a node's own stop_on_first_crash (a documented difference)", (ctx) => {
    needNipype(ctx);
    expect(runNipype(stopper).starts).toEqual(['bad', 'x', 'y']);
  });

  // 10. Per-node config: hash_method.
  it("10. flowgate: a node's config.hash_method content keeps it cached when only its input file's mtime changed", async () => {
    const dir = tempDir('conform-hash');
    const data = join(dir, 'data.txt');
    writeFileSync(data, 'same');
    const wf = { name: 'wf', nodes: ['by_content', 'by_time'].map((id) => ({ id, command: ['true'], inputs: { f: { path: data } }, ...(id === 'by_content' ? { config: { hash_method: 'content' } } : {}) })) };
    const file = writeWorkflow(dir, 'wf.json', wf);
    const prefix = uniquePrefix('conform-hash');
    const once = async (): Promise<RunSummary> => {
      const r = await runCli(['run', file, '--json', '--quiet', '--n-procs', '2', '--memory-gb', '4', '--work-dir', join(dir, 'work'), '--prefix', prefix, '--redis-url', redisUrl()]);
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as RunSummary;
    };
    try {
      await once();
      utimesSync(data, new Date(Date.now() + 5000), new Date(Date.now() + 5000));
      const second = await once();
      expect(Object.fromEntries(second.nodes.map((n) => [n.id, n.status]))).toEqual({ by_content: 'cached', by_time: 'succeeded' });
    } finally {
      await deletePrefix(prefix);
    }
  });

  // 7. A status callback that throws aborts the run with its error (callback_errors: 'abort', the default).
  const chain: Case = { n_procs: 1, memory_gb: 4, callback_raises_on: 'b', nodes: [{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['b'] }] };
  async function apiRun(c: Case, callbackErrors?: 'abort' | 'log'): Promise<{ error: string | null; starts: string[]; summary: RunSummary | undefined }> {
    const prefix = uniquePrefix('conform-cb');
    const starts: string[] = [];
    try {
      const summary = await run(toFlowgate(c) as never, {
        n_procs: c.n_procs,
        memory_gb: c.memory_gb,
        workers: 1,
        work_dir: join(tempDir('conform-cb'), 'work'),
        prefix,
        redis_url: redisUrl(),
        ...(callbackErrors !== undefined ? { callback_errors: callbackErrors } : {}),
        status_callback: (e: StatusEvent) => {
          if (e.type === 'start') starts.push(e.node);
          if (e.node === c.callback_raises_on) throw new Error(`callback refused ${e.node}`);
        },
      });
      return { error: null, starts, summary };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err), starts, summary: undefined };
    } finally {
      await deletePrefix(prefix);
    }
  }
  sideBySide('7. a status callback that throws aborts the run with that error', chain, { error: 'callback refused b', starts: ['a', 'b'] }, {
    flowgate: async (c) => {
      const r = await apiRun(c);
      return { error: r.error, starts: r.starts };
    },
    nipype: (c) => {
      const r = runNipype(c);
      return { error: r.error?.replace(/^ValueError: /, '') ?? null, starts: r.starts };
    },
  });
  it("7. callback_errors: 'log' keeps the run going (flowgate's option)", async () => {
    const r = await apiRun(chain, 'log');
    expect(r.error).toBeNull();
    expect(r.starts).toEqual(['a', 'b', 'c']);
    expect(r.summary?.status).toBe('succeeded');
  });

  // 11. JoinNode(unique=True): repeats dropped, first occurrence kept, in iterables order.
  const outputsOf = (s: RunSummary, ids: readonly string[]): Record<string, unknown> => Object.fromEntries(ids.map((id) => [id, s.nodes.find((n) => n.id === id)?.outputs]));
  sideBySide(
    '11. a unique join collects each value once, in iterables order',
    {
      n_procs: 2,
      memory_gb: 4,
      report: ['uniq', 'all'],
      nodes: [
        { id: 'src', iterables: { a: [2, 1], b: ['x', 'y'] }, echo: 'a' },
        { id: 'uniq', needs: ['src'], join: { source: 'src', fields: ['in_src'], unique: true }, echo: 'in_src' },
        { id: 'all', needs: ['src'], join: { source: 'src', fields: ['in_src'] }, echo: 'in_src' },
      ],
    },
    { uniq: [2, 1], all: [2, 2, 1, 1] },
    {
      flowgate: async (c) => {
        const s = (await runFlowgate(c)).summary;
        const o = outputsOf(s, ['uniq', 'all']) as Record<string, { out?: unknown } | undefined>;
        return { uniq: o['uniq']?.out, all: o['all']?.out };
      },
      nipype: (c) => runNipype(c).outputs,
    },
  );

  // 12. MapNode(nested=True): one element per flattened item, outputs nested back to the input's shape.
  sideBySide(
    '12. a nested map runs one element per item and nests its outputs like its input',
    {
      n_procs: 2,
      memory_gb: 4,
      report: ['m'],
      nodes: [
        { id: 'src', value: [[1, 2], [3]] },
        { id: 'm', needs: ['src'], map_over: ['src'], nested: true, echo: 'in_src', wrap: true },
      ],
    },
    { out: [[{ v: 1 }, { v: 2 }], [{ v: 3 }]], dirs: ['m/mapflow/_m0', 'm/mapflow/_m1', 'm/mapflow/_m2', 'src'] },
    {
      flowgate: async (c) => {
        const r = await runFlowgate(c);
        return { out: (outputsOf(r.summary, ['m'])['m'] as { out?: unknown } | undefined)?.out, dirs: r.dirs };
      },
      // nipype also leaves the map node's own result in m/ (it ran as one job); flowgate's map node runs no process.
      nipype: (c) => {
        const r = runNipype(c);
        return { out: r.outputs['m'], dirs: r.dirs.filter((d) => d !== 'm') };
      },
    },
  );
});
