/**
 * The TypeScript API as a user imports it (`import { workflow, run } from
 * 'flowgate'`, the built package): a graph built in code runs end to end with
 * a local fleet; the status callback hears every node; validation errors are
 * the file format's and nothing is written.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { path, run, stepModule, ValidationError, workflow, type RunSummary, type StatusEvent } from 'flowgate';
import { tempDir } from '../helpers/cli.js';
import { deletePrefix, keysUnder, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { peakUsage } from '../helpers/summary.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

function fresh(label: string): { prefix: string; dir: string } {
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  return { prefix, dir: tempDir(label) };
}

describe('workflow() + run()', () => {
  it('runs a graph built in code and reports every node to the status callback', async () => {
    const { prefix, dir } = fresh('api');
    const wf = workflow('api-demo', { mem_gb: 0.5 });
    const make = wf.node('make', { command: ['sh', '-c', 'echo hello > out.txt'] });
    const fail = wf.node('fail', { command: 'echo broken >&2; exit 3' });
    wf.node('read', { command: ['cat', '../make/out.txt'], needs: [make], n_procs: 2 });
    wf.node('never', { command: 'true', needs: [fail, 'read'] });
    const events: StatusEvent[] = [];
    const summary = await run(wf, { n_procs: 2, memory_gb: 2, work_dir: join(dir, 'work'), redis_url: redisUrl(), prefix, status_callback: (e) => events.push(e) });
    expect(summary.status).toBe('failed');
    expect(Object.fromEntries(summary.nodes.map((n) => [n.id, n.status]))).toEqual({ make: 'succeeded', fail: 'failed', read: 'succeeded', never: 'skipped' });
    expect(summary.failures).toMatchObject([{ node: 'fail', skipped: ['never'] }]);
    expect(peakUsage(summary.nodes).n_procs).toBeLessThanOrEqual(2);
    const of = (node: string): string[] => events.filter((e) => e.node === node).map((e) => (e.type === 'exception' ? `exception:${String(e.final)}` : e.type));
    expect(of('make')).toEqual(['start', 'end']);
    expect(of('read')).toEqual(['start', 'end']);
    expect(of('fail')).toEqual(['start', 'exception:true']);
    expect(of('never')).toEqual(['skipped']);
    expect(events.every((e) => e.run_id === summary.run_id)).toBe(true);
    expect(events.find((e) => e.node === 'fail' && e.type === 'exception')?.reason).toBe('exit code 3');
    // make ended before read started.
    const t = (node: string, type: string): number => events.find((e) => e.node === node && e.type === type)?.time_ms ?? NaN;
    expect(t('make', 'end')).toBeLessThanOrEqual(t('read', 'start'));
  });

  it('connects outputs to inputs with ref.out()', async () => {
    const { prefix, dir } = fresh('apiflow');
    const wf = workflow('api-flow');
    const count = wf.node('count', { command: `echo '{"n": 21}'`, stdout_json: true });
    const write = wf.node('write', { command: 'echo {{inputs.n}} > twice.txt', inputs: { n: count.out('n') }, outputs: { file: 'twice.txt' } });
    wf.node('show', { command: ['cat', '{{inputs.f}}'], inputs: { f: write.out('file') } });
    const summary = await run(wf, { n_procs: 1, memory_gb: 1, workers: 1, work_dir: join(dir, 'work'), redis_url: redisUrl(), prefix });
    expect(summary.status).toBe('succeeded');
    expect(summary.nodes.map((n) => n.outputs)).toEqual([{ n: 21 }, { file: join(dir, 'work', 'api-flow', 'write', 'twice.txt') }, undefined]);
    expect(wf.build().nodes[2]?.needs).toEqual(['write']);
  });

  it('runs typed steps from a module URL: iterables, a join and a map over its output', async () => {
    const { prefix, dir } = fresh('apisteps');
    writeFileSync(join(dir, 'data.txt'), 'a\nbb\nccc\n');
    const s = stepModule<typeof import('../fixtures/typed-steps/steps.js')>(new URL('../fixtures/typed-steps/steps.ts', import.meta.url));
    const wf = workflow('api-steps', { mem_gb: 0.2 }, { base_dir: dir });
    const each = wf.node('count', { function: s.step('count'), iterables: { min: [1, 2, 3] }, inputs: { file: path('data.txt') } });
    const total = wf.node('total', { function: s.step('total'), join: { source: each, fields: ['counts'] }, inputs: { counts: each.out('lines'), scale: 10 } });
    wf.node('double', { function: s.step('double'), map: { over: ['x'] }, inputs: { x: [1, 2], by: total.out('sum') } });
    const summary = await run(wf, { n_procs: 2, memory_gb: 1, workers: 1, work_dir: join(dir, 'work'), redis_url: redisUrl(), prefix });
    expect(summary.status).toBe('succeeded');
    const outputs = Object.fromEntries(summary.nodes.map((n) => [n.id, n.outputs]));
    expect(outputs['count._min_1']).toEqual({ lines: 3, node: 'count._min_1' });
    expect(outputs['count._min_3']).toEqual({ lines: 1, node: 'count._min_3' });
    expect(outputs['total']).toEqual({ sum: 60 });
    expect(outputs['double']).toEqual({ y: [60, 120] });
  });

  it('says "exception" with final=false before each retry', async () => {
    const { prefix, dir } = fresh('apiretry');
    const wf = workflow('api-retry');
    const marker = join(dir, 'tried');
    wf.node('flaky', { command: `if [ -e ${marker} ]; then exit 0; fi; touch ${marker}; exit 1`, retries: 1 });
    const events: StatusEvent[] = [];
    const summary = await run(wf, { n_procs: 1, memory_gb: 1, workers: 1, work_dir: join(dir, 'work'), redis_url: redisUrl(), prefix, status_callback: (e) => events.push(e) });
    expect(summary.status).toBe('succeeded');
    expect(events.map((e) => (e.type === 'exception' ? `exception:${String(e.final)}` : e.type))).toEqual(['start', 'exception:false', 'start', 'end']);
    // Each attempt is a plain object the caller may spread, clone or compare: its log paths are its own fields.
    const history = summary.nodes[0]!.attempt_history;
    expect(history.map((a) => [a.attempt, a.status])).toEqual([[1, 'failed'], [2, 'succeeded']]);
    for (const a of history) {
      expect(Object.getPrototypeOf(a)).toBe(Object.prototype);
      expect(structuredClone(a)).toEqual({ ...a });
      expect(Object.keys(a)).toEqual(['attempt', 'status', 'reason', 'exit_code', 'signal', 'start_ms', 'end_ms', 'worker', 'stdout_path', 'stderr_path']);
      expect(a.stdout_path).toBe(join(dir, 'work', '_runs', `${summary.run_id}.logs`, `flaky.${a.attempt}.stdout.log`));
    }
  });

  it('a map node starts before it ends, and is cached like its elements on an unchanged rerun; path inputs are tracked', async () => {
    const { prefix, dir } = fresh('apimap');
    const input = join(dir, 'in.txt');
    writeFileSync(input, 'x\n');
    const build = () => {
      const wf = workflow('api-map');
      wf.node('m', { map: { over: ['s'] }, inputs: { s: ['a', 'b'], f: path(input) }, command: 'cat {{inputs.f}} > out.txt; echo {{inputs.s}} >> out.txt', outputs: { out: 'out.txt' } });
      return wf;
    };
    const go = async (): Promise<{ events: StatusEvent[]; summary: RunSummary }> => {
      const events: StatusEvent[] = [];
      const summary = await run(build(), { n_procs: 2, memory_gb: 2, work_dir: join(dir, 'work'), redis_url: redisUrl(), prefix, status_callback: (e) => events.push(e) });
      return { events, summary };
    };
    const of = (events: StatusEvent[], node: string): string[] => events.filter((e) => e.node === node).map((e) => e.type);
    const first = await go();
    expect(of(first.events, 'm')).toEqual(['start', 'end']);
    const again = await go();
    expect(of(again.events, 'm')).toEqual(['start', 'cached']);
    expect(again.summary.nodes.find((n) => n.id === 'm')?.status).toBe('cached');
    writeFileSync(input, 'changed\n');
    const changed = await go();
    expect(of(changed.events, '_m0')).toEqual(['start', 'end']);
    expect(readFileSync(join(dir, 'work', 'api-map', 'm', 'mapflow', '_m0', 'out.txt'), 'utf8')).toBe('changed\na\n');
  });

  it('refuses an invalid graph with the file format\'s errors, before anything is written', async () => {
    const { prefix } = fresh('apibad');
    const wf = workflow('api-bad');
    wf.node('a', { command: 'true', needs: ['b'] });
    wf.node('b', { command: 'true', needs: ['a'] });
    wf.node('c', { command: 'true', needs: ['nope'], mem_gb: -1 });
    const err = await run(wf, { redis_url: redisUrl(), prefix }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.field)).toContain('nodes[2].mem_gb');
    const cycle = workflow('api-cycle');
    cycle.node('a', { command: 'true', needs: ['b'] });
    cycle.node('b', { command: 'true', needs: ['a'] });
    expect(() => cycle.build()).toThrow(/cycle.*a -> b -> a|cycle.*b -> a -> b/);
    const unknown = workflow('api-unknown');
    unknown.node('x', { command: 'true', needs: ['y1'] });
    unknown.node('y', { command: 'true' });
    expect(() => unknown.build()).toThrow(/unknown node "y1" \(did you mean "y"\?\)/);
    const big = workflow('api-big');
    big.node('huge', { command: 'true', mem_gb: 100 });
    await expect(run(big, { n_procs: 1, memory_gb: 1, redis_url: redisUrl(), prefix })).rejects.toThrow(/huge.*needs 100 GB but the budget is 1 GB/);
    await expect(run(workflow('ok').toJSON(), { n_procs: 0, redis_url: redisUrl(), prefix })).rejects.toThrow(/n_procs/);
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('serialises to a valid workflow file', () => {
    const wf = workflow('as-file', { n_procs: 2 });
    const a = wf.node('a', { command: ['echo', 'hi'], env: { X: '1' } });
    // build() checks that the module exists and exports the function.
    const typed = join(import.meta.dirname, '../fixtures/functions/typed.ts');
    wf.node('b', { function: { module: typed, export: 'typed' }, needs: [a] });
    expect(JSON.parse(JSON.stringify(wf))).toEqual({
      name: 'as-file',
      defaults: { n_procs: 2 },
      nodes: [
        { id: 'a', command: ['echo', 'hi'], env: { X: '1' } },
        { id: 'b', function: { module: typed, export: 'typed' }, needs: ['a'] },
      ],
    });
    expect(wf.build().nodes.map((n) => n.n_procs)).toEqual([2, 2]);
    const it = workflow('iter');
    const subj = it.node('subj', { command: 'echo {{inputs.s}}', iterables: { s: ['a', 'b', 'c'] }, stdout_json: true });
    it.node('all', { command: 'true', join: { source: subj, fields: ['xs'] }, inputs: { xs: subj.out('o') } });
    expect(it.build().nodes.map((n) => n.id)).toEqual(['subj._s_a', 'subj._s_b', 'subj._s_c', 'all']);
  });
});
