/**
 * Function-node results and failures through the real CLI: outputs JSON
 * would garble are refused with the path of the value, the output size is
 * capped (for commands' stdout_json too), errors keep their detail, console
 * output lands in the node's logs, a stray rejection fails its node and not
 * the worker, crash records hold what ran, the text summary shows the end of
 * stderr, and short nodes are measured.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run as runApi, workflow } from 'flowgate';
import type { CrashRecord } from '../../src/scheduler/crash-report.js';
import type { NodeSummary, RunSummary } from '../../src/scheduler/summary.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/functions');
const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  summary: RunSummary | undefined;
  byId: Map<string, NodeSummary>;
}

async function run(wf: object, flags: string[], json = true): Promise<Ran> {
  const dir = tempDir('fg-fnres');
  const prefix = uniquePrefix('fnres');
  prefixes.push(prefix);
  const res = await runCli(['run', writeWorkflow(dir, 'wf.json', wf), ...(json ? ['--json'] : []), '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work'), ...flags], {
    env: { REDIS_URL: redisUrl() },
  });
  if (res.stdout.trim() === '') throw new Error(`no summary (exit ${String(res.code)}):\n${res.stderr}`);
  const summary = json ? (JSON.parse(res.stdout) as RunSummary) : undefined;
  return { code: res.code, stdout: res.stdout, stderr: res.stderr, summary, byId: new Map((summary?.nodes ?? []).map((n) => [n.id, n])) };
}

const fn = (id: string, exportName: string, extra: object = {}): object => ({ id, function: { module: `${FIXTURES}/results.mjs`, export: exportName }, ...extra });
const crashOf = (n: NodeSummary | undefined): CrashRecord => JSON.parse(readFileSync(n?.crash_file ?? '', 'utf8')) as CrashRecord;
const small = ['--n-procs', '2', '--memory-gb', '2'];

describe('function outputs arrive as returned', () => {
  it('refuses what JSON would change, naming the path, and caps the size', async () => {
    const wf = {
      name: 'outs',
      nodes: [
        fn('map', 'returnsMap'),
        fn('num', 'returnsNumber'),
        fn('undef', 'returnsUndefinedField'),
        fn('nan', 'returnsNaN'),
        fn('big', 'returnsLarge', { inputs: { size: 3000 } }),
        fn('fits', 'returnsLarge', { inputs: { size: 900 } }),
        fn('roomy', 'returnsLarge', { inputs: { size: 3000 }, max_output_bytes: 5000 }),
        fn('none', 'returnsNothing'),
        fn('after', 'returnsNothing', { needs: ['map'] }),
        { id: 'bigjson', command: `node -e "console.log(JSON.stringify({s: 'x'.repeat(3000)}))"`, stdout_json: true },
      ],
    };
    const { code, byId } = await run(wf, [...small, '--max-output-bytes', '1000']);
    expect(code).toBe(1);
    expect(byId.get('map')).toMatchObject({
      status: 'failed',
      reason: 'outputs.stats.byGene: a Map cannot be stored as JSON (it would arrive as {}); convert it with Object.fromEntries(...) or [...map]',
    });
    expect(byId.get('after')).toMatchObject({ status: 'skipped', skipped_because: 'map' });
    expect(byId.get('num')?.reason).toBe('outputs: a function node returns an object of named outputs (or nothing), not the number 42; return e.g. { value: ... }');
    expect(byId.get('undef')?.reason).toBe('outputs.dropped: undefined cannot be stored as JSON (the field would vanish); use null or leave the field out');
    expect(byId.get('nan')?.reason).toBe('outputs.mean: NaN cannot be stored as JSON (it would arrive as null); use null or a string');
    expect(byId.get('big')?.reason).toMatch(/^outputs: more than 1000 bytes as JSON, over the 1000 bytes allowed for a node's outputs \(--max-output-bytes, max_output_bytes\); write large results to a file/);
    expect(byId.get('fits')).toMatchObject({ status: 'succeeded' });
    expect((byId.get('fits')?.outputs as { text: string }).text).toHaveLength(900);
    expect(byId.get('roomy')).toMatchObject({ status: 'succeeded' });
    expect(byId.get('none')).toMatchObject({ status: 'succeeded', outputs: null });
    expect(byId.get('bigjson')?.reason).toMatch(/^stdout_json: stdout is 2.9 KB \(3009 bytes\), over the 1000 bytes allowed for a node's outputs/);
    // The refusal is also in the node's stderr.log and its crash record, with the node named.
    const map = byId.get('map');
    expect(readFileSync(join(map?.node_dir ?? '', 'stderr.log'), 'utf8')).toContain('flowgate: node map: outputs.stats.byGene: a Map cannot be stored as JSON');
    expect(crashOf(map)).toMatchObject({ node: 'map', reason: map?.reason });
    expect(existsSync(join(map?.node_dir ?? '', 'outputs.json'))).toBe(false);
  });
});

describe('function failures explain themselves', () => {
  it('keeps fields, causes, zod issues and non-Error values; console output goes to the node\'s logs', async () => {
    const wf = {
      name: 'errs',
      nodes: [
        fn('obj', 'throwsObject'),
        fn('cause', 'throwsWithCause'),
        fn('zod', 'throwsZod', { inputs: { sample: 7, depth: 1.5 } }),
        fn('chatty', 'chatty'),
        fn('quiet', 'quiet'),
      ],
    };
    const { code, byId } = await run(wf, small);
    expect(code).toBe(1);
    expect(byId.get('obj')?.reason).toBe('function threw: {"code":"E_BAD","detail":"not an Error"}');
    expect(byId.get('cause')?.reason).toBe(
      'function threw: Error: cannot load the reference {"code":"E_REF"} (cause: Error: ENOENT: no such file or directory, open \'ref.fa\' {"code":"ENOENT"})',
    );
    const causeCrash = crashOf(byId.get('cause'));
    expect(causeCrash.stderr_tail).toMatch(/Error: cannot load the reference\n\s+at throwsWithCause [^]*fields: \{"code":"E_REF"\}\nCaused by: Error: ENOENT/);
    expect(byId.get('zod')?.reason).toBe('function threw: ZodError: Invalid input: expected string, received number at sample (and 1 more issue)');
    const zodCrash = crashOf(byId.get('zod'));
    expect(zodCrash.stderr_tail).toContain('✖ Invalid input: expected int, received number\n    → at depth');
    expect(zodCrash.inputs).toEqual({ sample: 7, depth: 1.5 });
    expect(zodCrash.command).toBe(`function throwsZod of ${FIXTURES}/results.mjs`);

    const chatty = byId.get('chatty');
    const dir = chatty?.node_dir ?? '';
    expect(readFileSync(join(dir, 'stdout.log'), 'utf8')).toBe('hello from console.log\ndirect stdout write\nthrough ctx.log {"n":1}\n');
    expect(readFileSync(join(dir, 'stderr.log'), 'utf8')).toMatch(/^warning from console.error\nError: failed after talking\n\s+at chatty/);
    const chattyCrash = crashOf(chatty);
    expect(chattyCrash.stdout_tail).toContain('hello from console.log');
    expect(chattyCrash.stderr_tail).toMatch(/^warning from console.error\nError: failed after talking/);
    // A node's console output is its own: the next node's log holds only its line.
    expect(readFileSync(join(byId.get('quiet')?.node_dir ?? '', 'stdout.log'), 'utf8')).toBe('a line in stdout.log\n');
  });

  it('fails the node of a stray rejection or exception with its stack, and the next node runs in a fresh executor', async () => {
    const wf = { name: 'stray', nodes: [fn('rej', 'strayRejection'), fn('thr', 'strayThrow'), fn('next', 'quiet')] };
    // One at a time, in file order, on one worker: without recycling they would share an executor.
    const { code, byId } = await run(wf, ['--n-procs', '1', '--memory-gb', '1', '--workers', '1']);
    expect(code).toBe(1);
    expect(byId.get('rej')?.reason).toBe('function threw: unhandled promise rejection: Error: nobody awaited me');
    expect(crashOf(byId.get('rej')).stderr_tail).toMatch(/unhandled promise rejection in the node's code:\nError: nobody awaited me\n\s+at strayRejection/);
    expect(byId.get('thr')?.reason).toBe('function threw: uncaught exception: RangeError: thrown from a timer');
    expect(byId.get('next')).toMatchObject({ status: 'succeeded' });
    const pidOf = (id: string): string => /pid (\d+)/.exec(readFileSync(join(byId.get(id)?.node_dir ?? '', 'stdout.log'), 'utf8'))?.[1] ?? '';
    const pids = [pidOf('rej'), pidOf('thr'), String((byId.get('next')?.outputs as { pid: number }).pid)];
    expect(pids.every((p) => /^\d+$/.test(p))).toBe(true);
    // Each stray error retired its executor: three nodes, three processes.
    expect(new Set(pids).size).toBe(3);
  });

  it('puts each map element\'s own inputs in its crash record', async () => {
    const wf = { name: 'maperr', nodes: [fn('m', 'failOn', { map: { over: ['x'] }, inputs: { x: [1, 2, 3], bad: 2 } })] };
    const { code, byId } = await run(wf, ['--n-procs', '1', '--memory-gb', '1']);
    expect(code).toBe(1);
    const failed = [...byId.values()].filter((n) => n.status === 'failed');
    expect(failed.map((n) => n.id)).toEqual(['_m1']);
    expect(failed[0]?.reason).toBe('function threw: Error: element 2 is bad');
    expect(crashOf(failed[0]).inputs).toEqual({ x: 2, bad: 2 });
  });
});

describe('command failures explain themselves', () => {
  it('shows the end of stderr and the node directory in the text summary; the crash record has the command as it ran', async () => {
    const wf = {
      name: 'cmdfail',
      nodes: [
        { id: 'loud', inputs: { word: 'hello' }, command: 'echo out-{{inputs.word}}; for i in $(seq 1 15); do echo "err line $i" >&2; done; exit 3' },
        { id: 'typo', command: 'samtoolz --version' },
      ],
    };
    const res = await run(wf, small, false);
    expect(res.code).toBe(1);
    const text = res.stdout;
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l === 'could not run node: cmdfail.loud: exit code 3');
    expect(at).toBeGreaterThanOrEqual(0);
    expect(lines[at + 1]).toMatch(/^ {2}node directory: \/.*\/work\/cmdfail\/loud$/);
    expect(lines[at + 2]).toBe('  stderr (last 10 lines):');
    expect(lines.slice(at + 3, at + 13)).toEqual(Array.from({ length: 10 }, (_, i) => `    err line ${i + 6}`));
    expect(lines[at + 13]).toMatch(/^ {2}crashfile: .*crash-.*-loud-.*\.json$/);
    // 127 from the shell: its own words say which command was not found.
    expect(text).toMatch(/could not run node: cmdfail\.typo: exit code 127 \(.*samtoolz: (command )?not found\)/);

    const crashFile = (lines[at + 13] ?? '').replace(/^ {2}crashfile: /, '');
    const crash = JSON.parse(readFileSync(crashFile, 'utf8')) as CrashRecord;
    expect(crash.command).not.toContain('{{');
    expect(crash.command).toContain('echo out-hello;');
    expect(crash.inputs).toEqual({ word: 'hello' });
    expect(crash.stdout_tail).toBe('out-hello\n');
    expect(crash.stderr_tail).toContain('err line 15');
    const txt = readFileSync(crashFile.replace(/\.json$/, '.txt'), 'utf8');
    expect(txt).toContain('Command: echo out-hello;');
    expect(txt).toContain('Inputs:\n\t{\n\t  "word": "hello"\n\t}\n');
  });
});

describe('measured resources', () => {
  it('measures nodes of 0.3 s: a command and a function get cpu_s and peak_rss_mb', async () => {
    const wf = {
      name: 'short',
      nodes: [{ id: 'cmd', command: ['node', '-e', 'const end = Date.now() + 300; while (Date.now() < end);'] }, fn('func', 'spinShort', { needs: ['cmd'] })],
    };
    const { code, byId } = await run(wf, ['--n-procs', '1', '--memory-gb', '1']);
    expect(code).toBe(0);
    for (const id of ['cmd', 'func']) {
      const n = byId.get(id);
      expect(n?.cpu_s, id).not.toBeNull();
      expect(n?.cpu_s, id).toBeGreaterThan(0);
      expect(n?.peak_rss_mb, id).toBeGreaterThan(0);
    }
  });
});

describe('the output limit as an option', () => {
  it('applies the API\'s max_output_bytes and refuses bad values of it, of the flag and of the node field', async () => {
    const prefix = uniquePrefix('fnresapi');
    prefixes.push(prefix);
    const dir = tempDir('fg-fnres');
    const wf = workflow('api-limit');
    wf.node('big', { function: { module: `${FIXTURES}/results.mjs`, export: 'returnsLarge' }, inputs: { size: 3000 } });
    wf.node('small', { function: { module: `${FIXTURES}/results.mjs`, export: 'returnsLarge' }, inputs: { size: 10 } });
    const summary = await runApi(wf, { n_procs: 1, memory_gb: 1, workers: 1, work_dir: join(dir, 'work'), redis_url: redisUrl(), prefix, max_output_bytes: 1000 });
    expect(Object.fromEntries(summary.nodes.map((n) => [n.id, n.status]))).toEqual({ big: 'failed', small: 'succeeded' });
    expect(summary.nodes[0]?.reason).toContain('over the 1000 bytes allowed');

    await expect(runApi(wf, { max_output_bytes: 0, redis_url: redisUrl(), prefix })).rejects.toMatchObject({ issues: [{ field: 'max_output_bytes', message: 'must be at least 1, received 0' }] });
    const flag = await runCli(['run', writeWorkflow(dir, 'ok.json', { name: 'x', nodes: [{ id: 'a', command: ['true'] }] }), '--max-output-bytes', '0']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--max-output-bytes');
    const field = await runCli(['validate', writeWorkflow(dir, 'bad.json', { name: 'x', nodes: [{ id: 'a', command: ['true'], max_output_bytes: 1.5 }] })]);
    expect(field.code).toBe(2);
    expect(field.stderr).toContain('node "a", field "nodes[0].max_output_bytes": must be a whole number');
  });
});
