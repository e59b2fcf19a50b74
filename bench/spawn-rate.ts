/**
 * How fast a spawner starts and finishes `n` `true` processes, `concurrency`
 * at a time, each with its own new directory and `stdout.log`/`stderr.log`
 * as a node gets: no queue, no scheduler, no Redis. Used by
 * bench/spawn-ceiling.ts and by `bench/run.ts --ceiling`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Spawner } from '../src/worker/launcher.js';

export interface SpawnRate {
  spawner: string;
  processes: number;
  concurrency: number;
  failed: number;
  wall_s: number;
  processes_per_s: number;
  /** CPU of the calling process (user + system) per process started. */
  caller_cpu_ms_per_process: number;
}

/** Starts the processes under `dir` (made here; the caller removes it) and closes the spawner. */
export async function spawnRate(spawner: Spawner, n: number, concurrency: number, dir: string): Promise<SpawnRate> {
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let started = 0;
  let failed = 0;
  await new Promise<void>((resolve) => {
    let done = 0;
    const next = (): void => {
      if (started >= n) return;
      const i = started++;
      const cwd = join(dir, `n${i}`);
      mkdirSync(cwd);
      const end = (): void => {
        if (++done === n) resolve();
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
    for (let i = 0; i < concurrency; i++) next();
  });
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  spawner.close();
  return {
    spawner: spawner.kind,
    processes: n,
    concurrency,
    failed,
    wall_s: Math.round(wallS * 1000) / 1000,
    processes_per_s: Math.round(n / wallS),
    caller_cpu_ms_per_process: Math.round(((cpu.user + cpu.system) / 1000 / n) * 100) / 100,
  };
}
