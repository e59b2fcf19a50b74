/**
 * Data flow end to end (the CLI as a process, real files): outputs declared
 * as files and printed as JSON, connections feeding inputs into command
 * templates and functions, and the failures data flow can cause — a missing
 * output file, bad stdout JSON, an output a consumer needs but did not get.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeSummary, RunSummary } from '../../src/scheduler/summary.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { peakUsage } from '../helpers/summary.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

async function runFlow(wf: object, files: Record<string, string> = {}): Promise<{ code: number | null; summary: RunSummary; dir: string; node: (id: string) => NodeSummary }> {
  const dir = tempDir('fg-flow');
  const prefix = uniquePrefix('flow');
  prefixes.push(prefix);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const path = writeWorkflow(dir, 'wf.json', wf);
  const res = await runCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '2', '--memory-gb', '2'], { env: { REDIS_URL: redisUrl() } });
  const summary = JSON.parse(res.stdout) as RunSummary;
  const node = (id: string): NodeSummary => {
    const n = summary.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  };
  return { code: res.code, summary, dir, node };
}

describe('inputs, outputs and connections', () => {
  it('passes files, JSON values and lists from producers to commands and functions', async () => {
    const { code, node, dir } = await runFlow(
      {
        name: 'flow',
        nodes: [
          {
            id: 'make',
            command: ['sh', '-c', 'echo hello > greeting.txt; echo \'{"count": 3, "words": ["a b", "c"]}\''],
            outputs: { greeting: 'greeting.txt' },
            stdout_json: true,
          },
          {
            id: 'shell',
            inputs: { file: { from: 'make.greeting' }, n: { from: 'make.count' }, words: { from: 'make.words' }, label: "it's" },
            command: 'cat {{inputs.file}}; echo "n={{inputs.n}} label="{{inputs.label}}; printf "<%s>" {{inputs.words}}; echo; echo {{node.n_procs}} {{node.id}}',
          },
          { id: 'argv', inputs: { words: { from: 'make.words' } }, command: ['printf', '[%s]', '{{inputs.words}}'] },
          { id: 'fn', inputs: { n: { from: 'make.count' }, extra: [1, 2] }, function: { module: './fn.mjs', export: 'double' } },
          { id: 'last', inputs: { d: { from: 'fn.doubled' } }, command: 'echo doubled={{inputs.d}} > {{node.dir}}/d.txt', outputs: { d: 'd.txt' } },
        ],
      },
      { 'fn.mjs': 'export function double(inputs) { return { doubled: inputs.n * 2, extra: inputs.extra }; }\n' },
    );
    expect(code).toBe(0);
    const work = join(dir, 'work', 'flow');
    expect(node('make').outputs).toEqual({ greeting: join(work, 'make', 'greeting.txt'), count: 3, words: ['a b', 'c'] });
    expect(readFileSync(join(work, 'shell', 'stdout.log'), 'utf8')).toBe("hello\nn=3 label=it's\n<a b><c>\n1 shell\n");
    expect(readFileSync(join(work, 'argv', 'stdout.log'), 'utf8')).toBe('[a b][c]');
    // The node directory holds its resolved inputs and its outputs.
    expect(JSON.parse(readFileSync(join(work, 'shell', 'inputs.json'), 'utf8'))).toEqual({ file: join(work, 'make', 'greeting.txt'), n: 3, words: ['a b', 'c'], label: "it's" });
    expect(JSON.parse(readFileSync(join(work, 'make', 'outputs.json'), 'utf8'))).toEqual(node('make').outputs);
    expect(node('fn').outputs).toEqual({ doubled: 6, extra: [1, 2] });
    expect(node('last').outputs).toEqual({ d: join(work, 'last', 'd.txt') });
    expect(readFileSync(join(work, 'last', 'd.txt'), 'utf8')).toBe('doubled=6\n');
  });

  it('fails the producer whose declared output is missing or whose stdout is not a JSON object', async () => {
    const { code, node, dir } = await runFlow({
      name: 'missing',
      nodes: [
        { id: 'lazy', command: 'true', outputs: { out: 'never.txt' } },
        { id: 'after', command: 'echo {{inputs.x}}', inputs: { x: { from: 'lazy.out' } } },
        { id: 'chatty', command: 'echo not json', stdout_json: true },
        { id: 'list', command: "echo '[1, 2]'", stdout_json: true },
      ],
    });
    expect(code).toBe(1);
    expect(node('lazy')).toMatchObject({ status: 'failed', exit_code: 0 });
    expect(node('lazy').reason).toBe(`declared output not created: out (${join(dir, 'work', 'missing', 'lazy', 'never.txt')})`);
    expect(node('after')).toMatchObject({ status: 'skipped', skipped_because: 'lazy' });
    expect(node('chatty').reason).toMatch(/^stdout_json: stdout is not JSON/);
    expect(node('list').reason).toBe('stdout_json: stdout must be a JSON object of outputs, got a list');
    expect(readdirSync(join(dir, 'work', '_crashes')).filter((f) => f.endsWith('.json'))).toHaveLength(3);
  });

  it('fails a consumer whose producer did not produce the output it needs, without running it', async () => {
    const { code, node, dir } = await runFlow(
      {
        name: 'consumer',
        nodes: [
          { id: 'fn', function: { module: './fn.mjs', export: 'partial' } },
          { id: 'needy', inputs: { v: { from: 'fn.missing' } }, command: 'touch ran.txt' },
          { id: 'shape', inputs: { v: { from: 'fn.obj' } }, command: ['echo', '{{inputs.v}}'] },
          { id: 'downstream', needs: ['needy'], command: 'true' },
          { id: 'fine', inputs: { v: { from: 'fn.present' } }, command: 'echo {{inputs.v}}' },
        ],
      },
      { 'fn.mjs': 'export function partial() { return { present: "yes", obj: { a: 1 } }; }\n' },
    );
    expect(code).toBe(1);
    expect(node('needy')).toMatchObject({ status: 'failed', reason: 'input "v": node "fn" produced no output "missing" (its outputs: present, obj)' });
    expect(existsSync(join(dir, 'work', 'consumer', 'needy', 'ran.txt'))).toBe(false);
    expect(node('needy').crash_file).not.toBeNull();
    expect(readFileSync(node('needy').crash_file as string, 'utf8')).toContain('produced no output');
    expect(node('shape').reason).toBe('{{inputs.v}} is an object; here it needs a string, number or boolean');
    expect(node('downstream')).toMatchObject({ status: 'skipped', skipped_because: 'needy' });
    expect(node('fine').status).toBe('succeeded');
  });

  it('expands iterables into copies with their own directories and joins their outputs in value order', async () => {
    const { code, summary, dir } = await runFlow({
      name: 'iter',
      nodes: [
        { id: 'subjects', iterables: { subject: ['s1', 's2', 's3'] }, command: 'echo {{inputs.subject}} > id.txt', outputs: { id: 'id.txt' } },
        { id: 'stats', inputs: { f: { from: 'subjects.id' } }, iterables: { smooth: [4, 8] }, command: 'echo $(cat {{inputs.f}})-{{inputs.smooth}} > s.txt', outputs: { s: 's.txt' } },
        { id: 'per_subject', join: { source: 'stats', fields: ['all'] }, inputs: { all: { from: 'stats.s' } }, command: 'cat {{inputs.all}} > joined.txt' },
        { id: 'group', join: { source: 'subjects', fields: ['ids'] }, inputs: { ids: { from: 'subjects.id' } }, needs: ['per_subject'], command: ['cat', '{{inputs.ids}}'] },
      ],
    });
    expect(code).toBe(0);
    expect(summary.counts.succeeded).toBe(3 + 6 + 3 + 1);
    const work = join(dir, 'work', 'iter');
    expect(readFileSync(join(work, '_subject_s2', 'per_subject', 'joined.txt'), 'utf8')).toBe('s2-4\ns2-8\n');
    expect(readFileSync(join(work, 'group', 'stdout.log'), 'utf8')).toBe('s1\ns2\ns3\n');
    expect(summary.nodes.find((n) => n.id === 'stats._subject_s3._smooth_8')?.outputs).toEqual({ s: join(work, '_subject_s3', '_smooth_8', 'stats', 's.txt') });
  });
});

describe('map nodes', () => {
  it('maps over a list from a producer (zip and product), collects outputs in order and keeps 50 elements within the budget', async () => {
    const { code, summary, dir, node } = await runFlow({
      name: 'mapped',
      nodes: [
        { id: 'list', command: `echo '{"files": ["a", "b", "c"], "ks": [1, 2, 3], "many": [${Array.from({ length: 50 }, (_, i) => i).join(', ')}]}'`, stdout_json: true },
        {
          id: 'each',
          map: { over: ['f', 'k'] },
          inputs: { f: { from: 'list.files' }, k: { from: 'list.ks' }, suffix: '!' },
          command: "echo {{inputs.f}}{{inputs.k}}{{inputs.suffix}} > out.txt; echo '{\"len\": '{{inputs.k}}'}'",
          outputs: { out: 'out.txt' },
          stdout_json: true,
        },
        { id: 'after', inputs: { outs: { from: 'each.out' }, lens: { from: 'each.len' } }, command: ['cat', '{{inputs.outs}}'] },
        { id: 'prod', map: { over: ['x', 'y'], mode: 'product' }, inputs: { x: [1, 2], y: ['a', 'b', 'c'] }, command: 'echo {{inputs.x}}{{inputs.y}}', stdout_json: false },
        { id: 'wide', map: { over: ['i'] }, inputs: { i: { from: 'list.many' } }, n_procs: 1, mem_gb: 0.5, command: 'sleep 0.05; echo {{inputs.i}}' },
      ],
    });
    expect(code).toBe(0);
    const work = join(dir, 'work', 'mapped');
    expect(node('each').outputs).toEqual({ out: [0, 1, 2].map((i) => join(work, 'each', 'mapflow', `_each${i}`, 'out.txt')), len: [1, 2, 3] });
    expect(readFileSync(join(work, 'after', 'stdout.log'), 'utf8')).toBe('a1!\nb2!\nc3!\n');
    expect(readFileSync(join(work, 'prod', 'mapflow', '_prod4', 'stdout.log'), 'utf8')).toBe('2b\n');
    expect(node('_each1')).toMatchObject({ status: 'succeeded', element_of: 'each', node_dir: join(work, 'each', 'mapflow', '_each1') });
    const wide = summary.nodes.filter((n) => n.element_of === 'wide');
    expect(wide).toHaveLength(50);
    expect(wide.every((n) => n.status === 'succeeded')).toBe(true);
    // 2 procs / 2 GB budget: at most 2 elements (or other nodes) at once, by the worker-stamped times.
    const peak = peakUsage(summary.nodes);
    expect(peak.n_procs).toBeLessThanOrEqual(2);
    expect(peak.mem_gb).toBeLessThanOrEqual(2);
  });

  it('a failing element: running siblings finish, the rest never start, the parent and its descendants are skipped, one crash record per failed element', async () => {
    const { code, node, summary, dir } = await runFlow({
      name: 'mapfail',
      nodes: [
        { id: 'm', map: { over: ['i'] }, inputs: { i: [0, 1, 2, 3, 4, 5] }, command: 'if [ {{inputs.i}} = 1 ]; then exit 4; fi; sleep 0.5' },
        { id: 'after', needs: ['m'], command: 'true' },
        { id: 'other', command: 'true' },
      ],
    });
    expect(code).toBe(1);
    expect(node('_m1')).toMatchObject({ status: 'failed', reason: 'exit code 4' });
    expect(node('m')).toMatchObject({ status: 'skipped', skipped_because: '_m1' });
    expect(node('after').status).toBe('skipped');
    expect(node('other').status).toBe('succeeded');
    const elements = summary.nodes.filter((n) => n.element_of === 'm');
    // With 2 procs, _m0 ran beside _m1; elements not started when _m1 failed were skipped.
    expect(elements.filter((n) => n.status === 'skipped').length).toBeGreaterThan(0);
    expect(elements.filter((n) => n.status === 'skipped').every((n) => n.start_ms === null && n.reason === 'element _m1 of m failed')).toBe(true);
    expect(readdirSync(join(dir, 'work', '_crashes')).filter((f) => f.endsWith('.json'))).toHaveLength(1);
  });
});
