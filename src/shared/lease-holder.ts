/**
 * Who holds a run's lease: `host:pid` of the scheduler driving it.
 */
import { hostname } from 'node:os';

/** Whether a lease holder (`host:pid`) is a process on this host that no longer exists. */
export function holderIsDeadHere(holder: string): boolean {
  const at = holder.lastIndexOf(':');
  const host = holder.slice(0, at);
  const pid = Number(holder.slice(at + 1));
  if (host !== hostname() || !Number.isInteger(pid)) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
