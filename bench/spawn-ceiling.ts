/**
 * How fast this machine can start and finish node processes at all, without
 * flowgate's queue or scheduler: N `true` processes, 8 at a time, each with
 * its own directory and stdout/stderr files as a node gets, started through
 * the worker's launcher and through Node's spawn. The ceiling that
 * fanout-2000's nodes/s is measured against. One JSON line per spawner.
 *
 *   npx tsx bench/spawn-ceiling.ts [--n N]
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Launcher, LAUNCHER_PATH, nodeSpawner, type Spawner } from '../src/worker/launcher.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '2000' } } });
const N = Number(values.n);
if (!Number.isInteger(N) || N < 1) {
  process.stderr.write(`--n must be a whole number >= 1, received "${values.n}"\n`);
  process.exit(2);
}
const CONCURRENCY = 8;

// Removed only at the end: on ext4 without a journal, creating files right
// after many were deleted is much slower, which would penalise the second spawner.
const root = mkdtempSync(join(tmpdir(), 'fgbench-spawn-'));

async function measure(spawner: Spawner): Promise<void> {
  const dir = join(root, spawner.kind);
  mkdirSync(dir);
  const env = { ...process.env };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let started = 0;
  let failed = 0;
  await new Promise<void>((resolve) => {
    let done = 0;
    const next = (): void => {
      if (started >= N) return;
      const i = started++;
      const cwd = join(dir, `n${i}`);
      mkdirSync(cwd);
      const end = (): void => {
        if (++done === N) resolve();
        else next();
      };
      spawner.spawn(
        { argv: ['true'], cwd, env, stdoutPath: join(cwd, 'stdout.log'), stderrPath: join(cwd, 'stderr.log') },
        {
          started: () => undefined,
          exited: (code) => {
            if (code !== 0) failed++;
            end();
          },
          failed: () => {
            failed++;
            end();
          },
        },
      );
    };
    for (let i = 0; i < CONCURRENCY; i++) next();
  });
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  spawner.close();
  process.stdout.write(
    `${JSON.stringify({
      bench: 'spawn-ceiling',
      spawner: spawner.kind,
      processes: N,
      concurrency: CONCURRENCY,
      failed,
      wall_s: Math.round(wallS * 1000) / 1000,
      processes_per_s: Math.round(N / wallS),
      caller_cpu_ms_per_process: Math.round(((cpu.user + cpu.system) / 1000 / N) * 100) / 100,
    })}\n`,
  );
}

try {
  await measure(new Launcher(LAUNCHER_PATH));
  await measure(nodeSpawner());
} finally {
  rmSync(root, { recursive: true, force: true });
}
