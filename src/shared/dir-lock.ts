/**
 * Node directory locks: one run at a time in a node directory. Node
 * directories are shared between runs (that is what makes the cache work),
 * so a run takes a node's directory lock when the node becomes ready, the
 * worker that runs the node takes it over and renews it, and it is released
 * when the attempt's process tree has exited — not when a scheduler dies.
 * Another run that reaches the node waits without holding any budget.
 */
import { luaScript, withCommands } from './lua-commands.js';
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';

/** How long a lock lives without renewal. Holders renew it at a third of this. */
export const DIR_LOCK_TTL_MS = 30_000;

/** A lock as held: its key and the value that says whose it is. */
export interface DirLock {
  key: string;
  value: string;
}

/** The lock of node `index` of run `runId` in directory `path`. */
export function dirLock(prefix: string, runId: string, index: number, path: string): DirLock {
  return { key: new Keys(prefix).dirLock(path), value: `${runId}|${index}|${path}` };
}

/** The run id in a lock value. */
export function lockHolderRun(value: string): string {
  return value.slice(0, value.indexOf('|') >>> 0);
}

const scripts = {
  lock: luaScript('lock-dirs'),
  unlock: luaScript('unlock-dirs'),
};

type LockCommands = {
  fgLockDirs(numKeys: number, ...args: string[]): Promise<string[]>;
  fgUnlockDirs(numKeys: number, ...args: string[]): Promise<number>;
};

function withScripts(redis: Redis): Redis & LockCommands {
  // The number of keys varies per call: it is given as the first argument.
  return withCommands<LockCommands>(redis, { fgLockDirs: { lua: scripts.lock }, fgUnlockDirs: { lua: scripts.unlock } });
}

/**
 * Takes (`take`) or renews (`renew`) locks for run `runId`. Returns, per
 * lock, '' when it is the run's, else the value of another holder's lock
 * ('-' when a renewed lock had gone).
 */
export async function lockDirs(redis: Redis, runId: string, locks: readonly DirLock[], mode: 'take' | 'renew', ttlMs = DIR_LOCK_TTL_MS): Promise<string[]> {
  const out: string[] = [];
  // Each lock is taken on its own, so a large set goes in bounded chunks (a run's roots can be 100 000 nodes).
  for (let at = 0; at < locks.length; at += LOCK_CHUNK) {
    const chunk = locks.slice(at, at + LOCK_CHUNK);
    const result = await withScripts(redis).fgLockDirs(chunk.length, ...chunk.map((l) => l.key), String(ttlMs), runId, ...chunk.map((l) => l.value), mode);
    for (const r of result) out.push(r);
  }
  return out;
}

/** Releases the locks still held with these values; waiting runs hear of it. Returns how many were released. */
export async function unlockDirs(redis: Redis, prefix: string, locks: readonly DirLock[]): Promise<number> {
  let released = 0;
  for (let at = 0; at < locks.length; at += LOCK_CHUNK) {
    const chunk = locks.slice(at, at + LOCK_CHUNK);
    released += await withScripts(redis).fgUnlockDirs(chunk.length, ...chunk.map((l) => l.key), ...chunk.map((l) => l.value), new Keys(prefix).dirsReleased());
  }
  return released;
}

/** Locks per script call. */
const LOCK_CHUNK = 1000;
