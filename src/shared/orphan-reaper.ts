/**
 * Reaps the processes a dead worker left behind. Every process a worker
 * starts for a node carries the worker's instance id in its environment
 * ({@link WORKER_INSTANCE_ENV}), and so do their children unless they clear
 * it. When a worker is found lost, whoever runs on its host looks through
 * `/proc` for processes carrying that id and SIGKILLs them with their process
 * groups, so that a node never runs on unnoticed next to its rerun.
 *
 * Hand-written rather than a process-tree library: those walk the parent
 * chain, which a dead worker's orphans no longer have (they are reparented
 * to init); the environment mark survives reparenting.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The environment variable that marks a worker's node processes with its instance id. */
export const WORKER_INSTANCE_ENV = 'FLOWGATE_WORKER_INSTANCE';

/** A process found carrying a worker's mark. */
export interface MarkedProcess {
  pid: number;
  /** Its process group. */
  pgid: number;
}

/** The process group of `pid` (field 5 of /proc/<pid>/stat), or undefined when it is gone. */
function processGroup(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgid = Number(fields[2]);
    return Number.isInteger(pgid) ? pgid : undefined;
  } catch {
    return undefined;
  }
}

/** Processes on this host whose environment carries `instance` (empty where /proc is not available). */
export function findMarkedProcesses(instance: string): MarkedProcess[] {
  if (!/^[0-9a-f]{8,64}$/.test(instance)) return [];
  const mark = Buffer.from(`${WORKER_INSTANCE_ENV}=${instance}\0`);
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: MarkedProcess[] = [];
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    let env: Buffer;
    try {
      env = readFileSync(`/proc/${pid}/environ`);
    } catch {
      continue; // Gone, or not ours to read.
    }
    // The mark is a whole entry: at the start or right after a NUL.
    const at = env.indexOf(mark);
    if (at < 0 || (at > 0 && env[at - 1] !== 0)) continue;
    const pgid = processGroup(pid);
    if (pgid !== undefined) out.push({ pid, pgid });
  }
  return out;
}

/**
 * SIGKILLs every process carrying `instance`'s mark, with the process groups
 * they lead (children that cleared their environment still die with their
 * group). Returns the pids that were signalled.
 */
export function reapWorkerProcesses(instance: string): number[] {
  const found = findMarkedProcesses(instance);
  const killed: number[] = [];
  const groups = new Set(found.filter((p) => p.pgid === p.pid).map((p) => p.pgid));
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const p of found) {
    try {
      if (!groups.has(p.pgid)) process.kill(p.pid, 'SIGKILL');
      killed.push(p.pid);
    } catch {
      // Already gone.
    }
  }
  return killed;
}
