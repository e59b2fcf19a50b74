/**
 * `flowgate run` as a user runs it: the built binary as a process against the
 * real Redis, checked through exit codes, the JSON summary and files on disk.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, startCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { overlaps, peakUsage, nodeOf as node, isAlive } from '../helpers/summary.js';
import { waitFor } from '../helpers/wait-for.js';

const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

interface Ran {
  code: number | null;
  summary: RunSummary;
  stderr: string;
  dir: string;
  prefix: string;
}

async function run(workflow: object | string, flags: string[] = [], file = 'wf.json'): Promise<Ran> {
  const dir = tempDir('fg-run');
  const prefix = uniquePrefix('run');
  prefixes.push(prefix);
  const path = writeWorkflow(dir, file, workflow);
  const res = await runCli(['run', path, '--json', '--prefix', prefix, '--work-dir', join(dir, 'work'), ...flags], {
    env: { REDIS_URL: redisUrl() },
    cwd: dir,
  });
  if (res.stdout.trim() === '') throw new Error(`no summary on stdout (exit ${String(res.code)}):\n${res.stderr}`);
  return { code: res.code, summary: JSON.parse(res.stdout) as RunSummary, stderr: res.stderr, dir, prefix };
}


const sleepNode = (id: string, seconds: number, extra: object = {}): object => ({ id, command: ['sleep', String(seconds)], ...extra });

describe('flowgate run', () => {
  it('exits with the run\'s own code when its stdout reader has gone (run --json | head)', async () => {
    const dir = tempDir('fg-epipe');
    const prefix = uniquePrefix('epipe');
    prefixes.push(prefix);
    const path = writeWorkflow(dir, 'wf.json', { name: 'epipe', nodes: [{ id: 'a', command: ['true'] }] });
    const p = startCli(['run', path, '--json', '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work')], { env: { REDIS_URL: redisUrl() } });
    p.child.stdout?.destroy();
    const res = await p.done;
    expect(res.stderr).not.toContain('EPIPE');
    expect(res.code).toBe(0);
  });

  it('runs a chain in order and exits 0', async () => {
    const nodes = Array.from({ length: 5 }, (_, i) => ({ id: `n${i}`, command: ['true'], needs: i > 0 ? [`n${i - 1}`] : [] }));
    const { code, summary } = await run({ name: 'chain', nodes }, ['--n-procs', '4', '--memory-gb', '4']);
    expect(code).toBe(0);
    expect(summary.status).toBe('succeeded');
    expect(summary.counts).toEqual({ succeeded: 5, failed: 0, skipped: 0, cached: 0, cancelled: 0 });
    for (let i = 1; i < 5; i++) {
      const prev = node(summary, `n${i - 1}`);
      const cur = node(summary, `n${i}`);
      expect(cur.start_ms).toBeGreaterThanOrEqual(prev.end_ms as number);
      expect(cur.admitted_ms).toBeGreaterThanOrEqual(prev.released_ms as number);
    }
    for (const n of summary.nodes) {
      expect(n.attempts).toBe(1);
      expect(n.exit_code).toBe(0);
      expect(n.worker).toMatch(/:/);
    }
  });

  it('starts the join of a diamond only after both branches', async () => {
    const wf = {
      name: 'diamond',
      nodes: [
        { id: 'top', command: ['true'] },
        sleepNode('left', 0.3, { needs: ['top'] }),
        sleepNode('right', 0.1, { needs: ['top'] }),
        { id: 'join', command: ['true'], needs: ['left', 'right'] },
      ],
    };
    const { code, summary } = await run(wf, ['--n-procs', '4', '--memory-gb', '4']);
    expect(code).toBe(0);
    const join_ = node(summary, 'join');
    expect(join_.start_ms).toBeGreaterThanOrEqual(node(summary, 'left').end_ms as number);
    expect(join_.start_ms).toBeGreaterThanOrEqual(node(summary, 'right').end_ms as number);
    expect(overlaps(node(summary, 'left'), node(summary, 'right'))).toBe(true);
  });

  it('never exceeds the budget while overlapping many nodes', async () => {
    // Deterministic pseudo-random workload: 40 nodes in layers, mixed requests.
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const nodes = Array.from({ length: 40 }, (_, i) => {
      const needs = i >= 10 && rand() < 0.5 ? [`n${Math.floor(rand() * (i - 5))}`] : [];
      return {
        id: `n${i}`,
        command: ['sleep', (0.05 + rand() * 0.15).toFixed(3)],
        needs,
        n_procs: 1 + Math.floor(rand() * 3),
        mem_gb: [0.5, 1, 2, 3][Math.floor(rand() * 4)],
      };
    });
    const { code, summary } = await run({ name: 'overlap', nodes }, ['--n-procs', '4', '--memory-gb', '5', '--workers', '2']);
    expect(code).toBe(0);
    const peak = peakUsage(summary.nodes);
    expect(peak.n_procs).toBeLessThanOrEqual(4);
    expect(peak.mem_gb).toBeLessThanOrEqual(5);
    // The check is meaningful only if nodes did run side by side.
    expect(peak.concurrent).toBeGreaterThan(1);
    const workers = new Set(summary.nodes.map((n) => n.worker));
    expect(workers.size).toBe(2);
  });

  it('runs an oversized node alone with --no-raise-insufficient', async () => {
    const wf = {
      name: 'clamp',
      nodes: [sleepNode('big', 0.3, { n_procs: 5, mem_gb: 10 }), sleepNode('s1', 0.2), sleepNode('s2', 0.2), sleepNode('s3', 0.2)],
    };
    const { code, summary } = await run(wf, ['--n-procs', '4', '--memory-gb', '2', '--no-raise-insufficient']);
    expect(code).toBe(0);
    const big = node(summary, 'big');
    expect(big.granted).toEqual({ n_procs: 4, mem_gb: 2 });
    expect(big.n_procs).toBe(5);
    for (const id of ['s1', 's2', 's3']) expect(overlaps(big, node(summary, id))).toBe(false);
    expect(peakUsage(summary.nodes).n_procs).toBeLessThanOrEqual(4);
  });

  it('admits ready nodes smallest first with --scheduler mem_thread, topologically with tsort', async () => {
    const spec: Array<[string, number, number]> = [
      ['a', 3, 1],
      ['b', 1, 2],
      ['c', 2, 1],
      ['d', 1, 1],
      ['e', 0.5, 3],
      ['f', 3, 2],
    ];
    const wf = { name: 'order', nodes: spec.map(([id, mem, procs]) => sleepNode(id, 0.15, { mem_gb: mem, n_procs: procs })) };
    const flags = ['--n-procs', '3', '--memory-gb', '3.5'];
    const mem = await run(wf, [...flags, '--scheduler', 'mem_thread']);
    const tsort = await run(wf, [...flags, '--scheduler', 'tsort']);
    expect(mem.code).toBe(0);
    expect(tsort.code).toBe(0);
    const admitted = (s: RunSummary, order: string[]): number[] => order.map((id) => node(s, id).admitted_ms as number);
    const nonDecreasing = (xs: number[]): boolean => xs.every((x, i) => i === 0 || x >= (xs[i - 1] as number));
    expect(nonDecreasing(admitted(mem.summary, ['e', 'd', 'b', 'c', 'a', 'f']))).toBe(true);
    expect(nonDecreasing(admitted(tsort.summary, ['a', 'b', 'c', 'd', 'e', 'f']))).toBe(true);
    // e goes first and alone under mem_thread; a goes first under tsort.
    expect(node(mem.summary, 'e').admitted_ms).toBeLessThan(node(mem.summary, 'a').admitted_ms as number);
    expect(node(tsort.summary, 'a').admitted_ms).toBeLessThan(node(tsort.summary, 'e').admitted_ms as number);
  });

  it('writes one crash record per failure, skips descendants and finishes independent branches', async () => {
    const wf = {
      name: 'fails',
      nodes: [
        { id: 'a', command: ['true'] },
        { id: 'b', command: 'echo "bad input in b" >&2; exit 3', needs: ['a'] },
        { id: 'c', command: ['true'], needs: ['b'] },
        { id: 'd', command: ['true'], needs: ['c'] },
        sleepNode('e', 0.3),
        { id: 'f', command: ['true'], needs: ['e'] },
      ],
    };
    const crashDir = join(tempDir('fg-crash'), 'crashes');
    const { code, summary, dir } = await run(wf, ['--n-procs', '2', '--memory-gb', '2', '--crashdump-dir', crashDir]);
    expect(code).toBe(1);
    expect(summary.status).toBe('failed');
    expect(summary.counts).toEqual({ succeeded: 3, failed: 1, skipped: 2, cached: 0, cancelled: 0 });
    const b = node(summary, 'b');
    expect(b.status).toBe('failed');
    expect(b.exit_code).toBe(3);
    expect(b.reason).toBe('exit code 3');
    for (const id of ['c', 'd']) {
      expect(node(summary, id).status).toBe('skipped');
      expect(node(summary, id).skipped_because).toBe('b');
      expect(node(summary, id).start_ms).toBeNull();
    }
    expect(node(summary, 'f').status).toBe('succeeded');
    expect(summary.failures).toEqual([{ node: 'b', reason: 'exit code 3', crash_file: b.crash_file, skipped: ['c', 'd'], node_dir: b.node_dir, stderr_tail: 'bad input in b' }]);
    const files = readdirSync(crashDir).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^crash-\d{8}-\d{6}-[^-]+-b-[0-9a-f-]{36}\.json$/);
    expect(files[1]).toBe((files[0] as string).replace(/\.json$/, '.txt'));
    expect(b.crash_file).toBe(join(crashDir, files[0] as string));
    const record = JSON.parse(readFileSync(join(crashDir, files[0] as string), 'utf8')) as Record<string, unknown>;
    expect(record).toMatchObject({ node: 'b', exit_code: 3, reason: 'exit code 3', skipped_descendants: ['c', 'd'] });
    expect(record['stderr_tail']).toContain('bad input in b');
    const text = readFileSync(join(crashDir, files[1] as string), 'utf8');
    expect(text).toContain('Node: fails.b');
    expect(text).toContain('bad input in b');
    expect(text).toContain(join(dir, 'work', 'fails', 'b'));
  });

  it('with --stop-on-first-crash admits nothing after the failure and lets running nodes finish', async () => {
    const wf = {
      name: 'stop',
      nodes: [
        sleepNode('long', 0.8),
        { id: 'after-long', command: ['true'], needs: ['long'] },
        { id: 'bad', command: 'sleep 0.1; exit 1' },
        { id: 'after-bad', command: ['true'], needs: ['bad'] },
        sleepNode('queued-later', 0.1, { n_procs: 2 }),
      ],
    };
    const { code, summary } = await run(wf, ['--n-procs', '2', '--memory-gb', '2', '--stop-on-first-crash']);
    expect(code).toBe(1);
    expect(summary.status).toBe('failed');
    expect(node(summary, 'bad').status).toBe('failed');
    expect(node(summary, 'after-bad').status).toBe('skipped');
    expect(node(summary, 'long').status).toBe('succeeded');
    expect(node(summary, 'after-long').status).toBe('cancelled');
    expect(node(summary, 'after-long').reason).toContain('stop-on-first-crash');
    expect(node(summary, 'queued-later').status).toBe('cancelled');
    expect(node(summary, 'queued-later').start_ms).toBeNull();
  });

  it('runs nodes in their own directory with captured output and the right environment', async () => {
    const yaml = [
      'name: envcheck',
      'nodes:',
      '  - id: threads',
      '    n_procs: 3',
      '    command: ["sh", "-c", "echo omp=$OMP_NUM_THREADS; echo cwd=$(pwd); echo oops >&2"]',
      '  - id: custom',
      '    env: {OMP_NUM_THREADS: "7", GREETING: "hi there"}',
      '    command: \'echo "omp=$OMP_NUM_THREADS greeting=$GREETING node=$FLOWGATE_NODE_ID"\'',
      '',
    ].join('\n');
    const { code, dir } = await run(yaml, ['--n-procs', '4', '--memory-gb', '4'], 'wf.yaml');
    expect(code).toBe(0);
    const nodeDir = join(dir, 'work', 'envcheck', 'threads');
    expect(readFileSync(join(nodeDir, 'stdout.log'), 'utf8')).toBe(`omp=3\ncwd=${nodeDir}\n`);
    expect(readFileSync(join(nodeDir, 'stderr.log'), 'utf8')).toBe('oops\n');
    expect(readFileSync(join(dir, 'work', 'envcheck', 'custom', 'stdout.log'), 'utf8')).toBe('omp=7 greeting=hi there node=custom\n');
  });

  it('stores the summary with the run in Redis and on disk', async () => {
    const { summary, prefix, dir } = await run({ name: 'stored', nodes: [{ id: 'only', command: ['true'] }] }, ['--n-procs', '1', '--memory-gb', '1', '--run-id', 'my-run-1']);
    expect(summary.run_id).toBe('my-run-1');
    const client = new Redis(redisUrl());
    try {
      const meta = await client.hgetall(`${prefix}:fg:run:my-run-1:meta`);
      expect(meta['status']).toBe('succeeded');
      // Per node: the run-level part in the meta, each node's entry in the node hash.
      const head = Object.fromEntries(Object.entries(summary).filter(([k]) => !['failures', 'memory_warnings', 'nodes'].includes(k)));
      expect(JSON.parse(meta['summary'] ?? '{}')).toEqual({ ...head, node_count: 1 });
      expect(JSON.parse((await client.hget(`${prefix}:fg:run:my-run-1:nodes`, '0')) ?? '{}')).toEqual(summary.nodes[0]);
      expect(await client.zscore(`${prefix}:fg:runs`, 'my-run-1')).not.toBeNull();
    } finally {
      client.disconnect();
    }
    expect(JSON.parse(readFileSync(join(dir, 'work', '_runs', 'my-run-1.json'), 'utf8'))).toEqual(summary);
    // The run id is taken: refused with exit 2, said once, without a log line or a stack.
    const again = await runCli(['run', join(dir, 'wf.json'), '--quiet', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--run-id', 'my-run-1'], { env: { REDIS_URL: redisUrl() }, cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr.trim()).toBe('flowgate: error: field "--run-id": a run with id "my-run-1" already exists under this prefix');
  });

  it('fails a node whose directory cannot be made as a "prepare" failure, with a crash record', async () => {
    const dir = tempDir('fg-run');
    const prefix = uniquePrefix('run');
    prefixes.push(prefix);
    // A file where the node's directory belongs.
    mkdirSync(join(dir, 'work', 'blocked'), { recursive: true });
    writeFileSync(join(dir, 'work', 'blocked', 'x'), '');
    const path = writeWorkflow(dir, 'wf.json', { name: 'blocked', nodes: [{ id: 'x', command: ['true'] }, { id: 'y', command: ['true'] }] });
    const res = await runCli(['run', path, '--json', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '1', '--memory-gb', '1'], { env: { REDIS_URL: redisUrl() }, cwd: dir });
    expect(res.code).toBe(1);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(node(summary, 'x').status).toBe('failed');
    expect(node(summary, 'x').reason).toContain(`cannot prepare node directory ${join(dir, 'work', 'blocked', 'x')}`);
    expect(existsSync(node(summary, 'x').crash_file ?? '')).toBe(true);
    expect(node(summary, 'y').status).toBe('succeeded');
  });

  it('reports a missing command as a clean failure', async () => {
    const { code, summary } = await run({ name: 'missing', nodes: [{ id: 'x', command: ['definitely-not-a-command-xyz'] }] }, ['--n-procs', '1', '--memory-gb', '1']);
    expect(code).toBe(1);
    expect(node(summary, 'x').reason).toBe('command not found: definitely-not-a-command-xyz');
  });

  it('cancels on SIGINT: exit 130, every node cancelled or finished, processes gone', async () => {
    const dir = tempDir('fg-sigint');
    const prefix = uniquePrefix('sigint');
    prefixes.push(prefix);
    const wf = {
      name: 'interrupt',
      nodes: [
        { id: 'quick', command: ['true'] },
        { id: 'slow', command: ['sh', '-c', 'echo $$ > pid; exec sleep 30'], needs: ['quick'] },
        { id: 'after', command: ['true'], needs: ['slow'] },
      ],
    };
    const path = writeWorkflow(dir, 'wf.json', wf);
    const p = startCli(['run', path, '--json', '--prefix', prefix, '--work-dir', join(dir, 'work'), '--n-procs', '2', '--memory-gb', '2'], {
      env: { REDIS_URL: redisUrl() },
    });
    const pidFile = join(dir, 'work', 'interrupt', 'slow', 'pid');
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 20_000, 'the slow node to start');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    p.child.kill('SIGINT');
    const res = await p.done;
    expect(res.code).toBe(130);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.status).toBe('cancelled');
    expect(node(summary, 'quick').status).toBe('succeeded');
    expect(node(summary, 'slow').status).toBe('cancelled');
    expect(node(summary, 'after').status).toBe('cancelled');
    await waitFor(() => !isAlive(pid), 10_000, 'the node process to be killed');
  });

  it('on a second SIGINT exits at once, with the run stored as cancelled (never left running)', async () => {
    const dir = tempDir('fg-sigint2');
    const prefix = uniquePrefix('sigint2');
    prefixes.push(prefix);
    const path = writeWorkflow(dir, 'wf.json', { name: 'twice', nodes: [{ id: 'slow', command: ['sh', '-c', 'echo $$ > pid; trap "" INT TERM; sleep 30'] }, { id: 'after', command: ['true'], needs: ['slow'] }] });
    const env = { REDIS_URL: redisUrl() };
    const p = startCli(['run', path, '--prefix', prefix, '--work-dir', join(dir, 'work'), '--run-id', 'twice-run'], { env });
    const pidFile = join(dir, 'work', 'twice', 'slow', 'pid');
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 20_000, 'the slow node to start');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    p.child.kill('SIGINT');
    await waitFor(() => p.stderr().includes('SIGINT received'), 10_000, 'the first SIGINT to be taken');
    p.child.kill('SIGINT');
    const res = await p.done;
    expect(res.code).toBe(130);
    const status = await runCli(['status', 'twice-run', '--json', '--prefix', prefix], { env });
    const run = JSON.parse(status.stdout) as { status: string; nodes: Array<{ id: string; state: string }> };
    expect(run.status).toBe('cancelled');
    expect(run.nodes.map((n) => n.state)).toEqual(['cancelled', 'cancelled']);
    await waitFor(() => !isAlive(pid), 10_000, 'the node process to be killed');
  });
});
