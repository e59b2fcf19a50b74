/**
 * Small helpers of the run scheduler.
 */

/** How long each step of close() may take before it is abandoned. */
export const CLOSE_STEP_MS = 3000;

/** Turns BullMQ's failure reasons for jobs that never reported into ours. */
export function describeFailedReason(failedReason: string, stalls: number): string {
  if (/stalled more than allowable limit|started more than allowable limit/.test(failedReason)) {
    return `worker lost: the node's worker stopped responding ${stalls > 0 ? `${stalls} time(s) ` : ''}(${failedReason})`;
  }
  return failedReason;
}
