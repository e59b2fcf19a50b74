/**
 * Process groups: every node runs as the leader of its own group, so signals
 * reach its children and grandchildren too.
 */

/** Signals a whole process group, ignoring "no such process". */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
