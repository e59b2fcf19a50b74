/**
 * The benchmark runner as a process: it runs the built CLI on a workload
 * directory, reports one JSON line per workload, and keeps every run's work
 * dir under one root that it removes when it ends.
 */
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { redisUrl } from '../helpers/redis.js';

const REPO = resolve(import.meta.dirname, '../..');

function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
    cwd: REPO,
    env: { ...process.env, REDIS_URL: redisUrl() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
}

describe('bench/run.ts', () => {
  it('runs a workload with its work dirs under --work-root, reports the file-creation cost and the spawn ceiling, and leaves nothing behind', async () => {
    const workloads = tempDir('fg-bench-wl');
    const nodes = ['a', 'b', 'c'].map((id, i) => ({ id, command: ['true'], needs: i === 0 ? [] : ['a'] }));
    writeFileSync(join(workloads, 'tiny.json'), JSON.stringify({ name: 'tiny', nodes }));
    writeFileSync(join(workloads, 'tiny.meta.json'), JSON.stringify({ n_procs: 2, memory_gb: 1, lower_bound_s: 0 }));
    const root = tempDir('fg-bench-root');
    const res = await bench([workloads, '--work-root', root, '--repeat', '2', '--ceiling']);
    expect(res.code, res.stderr).toBe(0);
    const line = JSON.parse(res.stdout.trim()) as Record<string, unknown>;
    expect(line['workflow']).toBe('tiny');
    expect(line['status']).toBe('succeeded');
    expect(line['fs_create_us']).toEqual(expect.any(Number));
    // --ceiling: the machine's spawn rate, measured in the same root, and the workload's share of it.
    const ceiling = line['spawn_ceiling_per_s'] as number;
    expect(ceiling).toBeGreaterThan(0);
    expect(line['of_spawn_ceiling']).toBeCloseTo((line['nodes_per_s'] as number) / ceiling, 2);
    expect(res.stderr).toMatch(new RegExp(`this machine starts ${ceiling} \`true\` processes a second`));
    expect(res.stderr).toContain(`work dirs under ${root}/fgbench-`);
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses a --work-root that is not a directory with exit code 2', async () => {
    const res = await bench(['--work-root', '/nonexistent/flowgate-bench']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--work-root: "/nonexistent/flowgate-bench" is not a directory');
  });
});
