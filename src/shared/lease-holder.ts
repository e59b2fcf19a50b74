/**
 * Lease holders are `host:pid` strings (run leases, the service's leader
 * lease). A holder on this host whose process is gone is known dead at once,
 * without waiting for its lease to expire.
 */
import { hostname } from 'node:os';

/** The holder string of this process. */
export function thisHolder(): string {
  return `${hostname()}:${process.pid}`;
}

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
