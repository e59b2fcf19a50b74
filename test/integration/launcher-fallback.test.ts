/**
 * A process launcher that cannot run on this machine (built for another
 * architecture, say): `flowgate run` with the default `--spawner auto` warns
 * once for its whole fleet and runs every node with Node's spawn, while
 * `--spawner launcher` (run or worker) refuses at once with exit code 2.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { runCli, tempDir, writeWorkflow } from '../helpers/cli.js';
import { foreignElf } from '../helpers/foreign-elf.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const WARNING = /the process launcher cannot be used \(FLOWGATE_LAUNCHER: cannot start [^)]*not an executable for this machine/g;
const prefixes: string[] = [];
afterEach(async () => {
  for (const p of prefixes.splice(0)) await deletePrefix(p);
});

function setup(): { dir: string; wf: string; prefix: string; env: NodeJS.ProcessEnv } {
  const dir = tempDir('fg-launcher-fallback');
  const prefix = uniquePrefix('lfall');
  prefixes.push(prefix);
  const wf = writeWorkflow(dir, 'wf.json', {
    name: 'fallback',
    nodes: [
      { id: 'a', command: ['sh', '-c', 'echo a > a.txt'] },
      { id: 'b', command: 'echo b', needs: ['a'] },
      { id: 'c', command: ['true'], needs: ['a'] },
    ],
  });
  return { dir, wf, prefix, env: { REDIS_URL: redisUrl(), FLOWGATE_LAUNCHER: foreignElf(join(dir, 'flowgate-launcher')) } };
}

describe.runIf(process.platform === 'linux')('a process launcher that cannot run here', () => {
  it('auto: one warning for the fleet, and every node succeeds with Node spawn', async () => {
    const { dir, wf, prefix, env } = setup();
    const res = await runCli(['run', wf, '--json', '--quiet', '--workers', '2', '--prefix', prefix, '--work-dir', join(dir, 'work')], { cwd: dir, env });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    expect(summary.counts).toMatchObject({ succeeded: 3, failed: 0 });
    expect(res.stderr.match(WARNING)?.length, res.stderr).toBe(1);
  });

  it('--spawner launcher: flowgate run and flowgate worker refuse with exit code 2 and say why', async () => {
    const { dir, wf, prefix, env } = setup();
    const run = await runCli(['run', wf, '--spawner', 'launcher', '--prefix', prefix, '--work-dir', join(dir, 'work')], { cwd: dir, env });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--spawner.*the process launcher cannot run here: FLOWGATE_LAUNCHER: cannot start .*not an executable for this machine.*use --spawner node or auto/);
    const worker = await runCli(['worker', '--spawner', 'launcher', '--prefix', prefix], { cwd: dir, env });
    expect(worker.code).toBe(2);
    expect(worker.stderr).toMatch(/the process launcher cannot run here/);
  });
});
