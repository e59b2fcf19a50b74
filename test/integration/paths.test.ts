/**
 * Paths that do not depend on where you stand: `{{workflow.dir}}` and
 * relative path inputs from another working directory (the CLI), and the
 * API's base dir (a directory or the calling module's `import.meta.url`)
 * for modules, path inputs and the default work dir; build() refuses a
 * module that does not exist or lacks the export; run() and resume() speak
 * of their own options.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FlowgateError, path, resume, run, ValidationError, workflow, type RunSummary } from 'flowgate';
import { runCli, startCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait-for.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

/** A project directory with a script, a data file and a function module, and a directory elsewhere. */
function project(label: string): { dir: string; flows: string; elsewhere: string; prefix: string } {
  const dir = tempDir(label);
  const flows = join(dir, 'flows');
  const elsewhere = join(dir, 'elsewhere');
  mkdirSync(flows);
  mkdirSync(elsewhere);
  writeFileSync(join(flows, 'data.txt'), 'payload\n');
  writeFileSync(join(flows, 'shout.sh'), 'tr a-z A-Z < "$1"\n');
  writeFileSync(join(flows, 'steps.mjs'), "import { readFileSync } from 'node:fs';\nexport function read(inputs) { return { text: readFileSync(inputs.data, 'utf8').trim() }; }\n");
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  return { dir, flows, elsewhere, prefix };
}

function issuesOf(fn: () => unknown): Array<{ node?: string; field?: string; message: string }> {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return [...err.issues];
    throw err;
  }
  throw new Error('no error thrown');
}

describe('paths relative to the workflow', () => {
  it('CLI: {{workflow.dir}} and relative path inputs resolve against the workflow file from any directory', async () => {
    const p = project('wfdir');
    const file = writeWorkflow(p.flows, 'wf.json', {
      name: 'wfdir',
      nodes: [
        { id: 'shout', inputs: { data: { path: 'data.txt' } }, command: 'bash {{workflow.dir}}/shout.sh {{inputs.data}} > out.txt', outputs: { out: 'out.txt' } },
        { id: 'fn', inputs: { data: { path: 'data.txt' } }, function: { module: './steps.mjs', export: 'read' } },
      ],
    });
    const res = await runCli(['run', file, '--json', '--quiet', '--prefix', p.prefix, '--n-procs', '2', '--memory-gb', '2'], { cwd: p.elsewhere, env: { REDIS_URL: redisUrl() } });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    const shout = summary.nodes.find((n) => n.id === 'shout');
    expect(readFileSync((shout?.outputs as { out: string }).out, 'utf8')).toBe('PAYLOAD\n');
    expect(summary.nodes.find((n) => n.id === 'fn')?.outputs).toEqual({ text: 'payload' });
    expect(existsSync(join(p.flows, 'flowgate-work', 'wfdir', 'shout', 'out.txt'))).toBe(true);
  });
});

describe('the API base dir', () => {
  it('resolves modules, path inputs, {{workflow.dir}} and the default work dir against the calling module (import.meta.url)', async () => {
    const p = project('apibase');
    // What import.meta.url is in a module kept in flows/.
    const caller = pathToFileURL(join(p.flows, 'pipeline.mjs')).href;
    const wf = workflow('apibase', {}, { base_dir: caller });
    wf.node('fn', { function: { module: './steps.mjs', export: 'read' }, inputs: { data: path('data.txt') } });
    wf.node('shout', { command: 'bash {{workflow.dir}}/shout.sh {{inputs.data}}', inputs: { data: path('data.txt') }, stdout_json: false });
    expect(process.cwd()).not.toBe(p.flows);
    const summary = await run(wf, { n_procs: 2, memory_gb: 2, redis_url: redisUrl(), prefix: p.prefix });
    expect(summary.status).toBe('succeeded');
    expect(summary.nodes.find((n) => n.id === 'fn')?.outputs).toEqual({ text: 'payload' });
    expect(existsSync(join(p.flows, 'flowgate-work', 'apibase', 'shout', 'stdout.log'))).toBe(true);
    expect(readFileSync(join(p.flows, 'flowgate-work', 'apibase', 'shout', 'stdout.log'), 'utf8')).toBe('PAYLOAD\n');

    // An explicit directory, given to build() or run() for a plain workflow object.
    const plain = { name: 'apiplain', nodes: [{ id: 'fn', function: { module: './steps.mjs', export: 'read' }, inputs: { data: { path: 'data.txt' } } }] };
    const again = await run(plain, { n_procs: 1, memory_gb: 1, redis_url: redisUrl(), prefix: p.prefix, base_dir: p.flows, work_dir: join(p.dir, 'work2') });
    expect(again.nodes[0]?.outputs).toEqual({ text: 'payload' });
  });

  it('build() refuses a module that does not exist or lacks the export, naming node and field', () => {
    const p = project('apimissing');
    const wf = workflow('missing', {}, { base_dir: p.flows });
    wf.node('noexport', { function: { module: './steps.mjs', export: 'nope' } });
    wf.node('nomodule', { function: { module: './gone.mjs', export: 'read' } });
    const issues = issuesOf(() => wf.build());
    expect(issues).toMatchObject([
      { node: 'noexport', field: 'nodes[0].function.export', message: `module ${join(p.flows, 'steps.mjs')} has no export "nope" (exports: read)` },
      { node: 'nomodule', field: 'nodes[1].function.module', message: `function module ${join(p.flows, 'gone.mjs')} does not exist (or is not a file)` },
    ]);
    // Without a base dir, relative modules are the current directory's.
    const here = workflow('here');
    here.node('fn', { function: { module: './steps.mjs', export: 'read' } });
    expect(issuesOf(() => here.build())[0]?.message).toContain(join(process.cwd(), 'steps.mjs'));
  });
});

describe('run() and resume() options', () => {
  it('names run() options, not CLI flags, and takes enforce_memory, sample_interval_ms and max_tasks_per_child: Infinity', async () => {
    const p = project('apiopts');
    const big = workflow('big');
    big.node('huge', { command: 'true', n_procs: 8 });
    const err = await run(big, { n_procs: 2, memory_gb: 1, redis_url: redisUrl(), prefix: p.prefix, work_dir: join(p.dir, 'w') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toContain('raise n_procs/memory_gb or pass raise_insufficient: false');
    expect((err as Error).message).not.toContain('--');

    const bad = await run(big, { enforce_memory: -1, sample_interval_ms: 10 }).catch((e: unknown) => e);
    expect((bad as ValidationError).issues).toMatchObject([{ field: 'enforce_memory' }, { field: 'sample_interval_ms' }]);

    const wf = workflow('opts', {}, { base_dir: p.flows });
    const a = wf.node('a', { function: { module: './steps.mjs', export: 'read' }, inputs: { data: path('data.txt') } });
    wf.node('b', { function: { module: './steps.mjs', export: 'read' }, inputs: { data: path('data.txt') }, needs: [a] });
    const summary = await run(wf, { n_procs: 1, memory_gb: 1, redis_url: redisUrl(), prefix: p.prefix, max_tasks_per_child: Infinity, enforce_memory: 0.5, sample_interval_ms: 100 });
    expect(summary.status).toBe('succeeded');

    // resume() of a run that has ended gives its summary; of an unknown run, RUN_NOT_FOUND.
    const resumed = await resume(summary.run_id, { redis_url: redisUrl(), prefix: p.prefix });
    expect(resumed).toMatchObject({ run_id: summary.run_id, status: 'succeeded' });
    const unknown = await resume('no-such-run', { redis_url: redisUrl(), prefix: p.prefix }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(FlowgateError);
    expect((unknown as FlowgateError).code).toBe('RUN_NOT_FOUND');
  });

  it('resume() drives a run whose scheduler died to its end', async () => {
    const p = project('apiresume');
    const work = join(p.dir, 'work');
    const file = writeWorkflow(p.dir, 'wf.json', {
      name: 'apiresume',
      nodes: [
        { id: 'a', command: 'echo run >> runs; sleep 0.5' },
        { id: 'b', command: 'echo run >> runs', needs: ['a'] },
      ],
    });
    const first = startCli(['run', file, '--json', '--quiet', '--run-id', 'api-resume-me', '--prefix', p.prefix, '--work-dir', work, '--n-procs', '1', '--memory-gb', '1'], { env: { REDIS_URL: redisUrl() } });
    await waitFor(() => existsSync(join(work, 'apiresume', 'a', 'runs')), 20_000, 'a to start');
    first.child.kill('SIGKILL');
    await first.done;
    const summary = await resume('api-resume-me', { redis_url: redisUrl(), prefix: p.prefix, workers: 1 });
    expect(summary).toMatchObject({ run_id: 'api-resume-me', status: 'succeeded' });
    expect(summary.nodes.find((n) => n.id === 'b')?.worker).toMatch(/:resume-/);
    for (const id of ['a', 'b']) expect(readFileSync(join(work, 'apiresume', id, 'runs'), 'utf8')).toBe('run\n');
  });
});
