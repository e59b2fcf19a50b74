/**
 * The flowgate processes of one integration test, under a Redis prefix and a
 * directory of their own: schedulers, workers, boards and submissions started
 * as a user starts them, sharing REDIS_URL and FLOWGATE_PREFIX, and what
 * `flowgate hosts` and `flowgate workers` report of them. After each test,
 * {@link closeFleets} stops what is still running and deletes the keys.
 */
import { expect } from 'vitest';
import type { ListedWorker } from '../../src/shared/worker-registry.js';
import { runCli, startCli, tempDir, type CliProcess } from './cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from './redis.js';
import { waitFor } from './wait-for.js';

/** One test's processes under one prefix. */
export interface Fleet {
  readonly prefix: string;
  /** A fresh temporary directory (workflows, work dirs, marks). */
  readonly dir: string;
  /** REDIS_URL and FLOWGATE_PREFIX of every process of the fleet. */
  readonly env: NodeJS.ProcessEnv;
  /** Starts `flowgate ...args` with the fleet's environment, plus `env`. */
  start(args: readonly string[], env?: NodeJS.ProcessEnv): CliProcess;
}

const started: CliProcess[] = [];
const prefixes: string[] = [];

/** A fleet with a unique prefix and a temporary directory, both named after `label`; `env` is added to its environment. */
export function fleet(label: string, env: NodeJS.ProcessEnv = {}): Fleet {
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  const shared = { REDIS_URL: redisUrl(), FLOWGATE_PREFIX: prefix, ...env };
  return {
    prefix,
    dir: tempDir(label),
    env: shared,
    start: (args, extra = {}) => {
      const p = startCli(args, { env: { ...shared, ...extra } });
      started.push(p);
      return p;
    },
  };
}

/** For `afterEach`: kills (SIGKILL) what the fleets started that still runs, waits for it to exit, and deletes their keys. */
export async function closeFleets(): Promise<void> {
  const running = started.splice(0).filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  for (const p of running) p.child.kill('SIGKILL');
  await Promise.all(running.map((p) => p.done));
  for (const p of prefixes.splice(0)) await deletePrefix(p);
}

/** Waits until scheduler `p` says it leads. */
export async function leading(p: CliProcess, what = 'the scheduler to lead', timeoutMs = 20_000): Promise<void> {
  await waitFor(() => p.stderr().includes('leading as'), timeoutMs, what);
}

/** Waits until `flowgate hosts` under `f`'s prefix lists exactly `n` live hosts; returns their ids, sorted. */
export async function liveHosts(f: Pick<Fleet, 'env'>, n: number): Promise<string[]> {
  return waitFor(async () => {
    const res = await runCli(['hosts', '--json'], { env: f.env });
    const alive = (JSON.parse(res.stdout) as Array<{ host_id: string; status: string }>).filter((h) => h.status === 'alive');
    return alive.length === n ? alive.map((h) => h.host_id).sort() : undefined;
  }, 20_000, `${n} live host(s)`);
}

/** What `flowgate workers --json` lists under `prefix`. */
export async function listWorkers(prefix: string): Promise<ListedWorker[]> {
  const res = await runCli(['workers', '--json', '--prefix', prefix], { env: { REDIS_URL: redisUrl() } });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as ListedWorker[];
}
