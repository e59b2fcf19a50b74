/**
 * Small helpers of the run scheduler.
 */

/** How long each step of close() may take before it is abandoned. */
export const CLOSE_STEP_MS = 3000;

/** `p`, or undefined once `ms` have passed. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Turns BullMQ's failure reasons for jobs that never reported into ours. */
export function describeFailedReason(failedReason: string, stalls: number): string {
  if (/stalled more than allowable limit|started more than allowable limit/.test(failedReason)) {
    return `worker lost: the node's worker stopped responding ${stalls > 0 ? `${stalls} time(s) ` : ''}(${failedReason})`;
  }
  return failedReason;
}

/** Runs release steps one after the other, each bounded by `ms`; returns the errors. */
export async function releaseInTurn(steps: ReadonlyArray<() => unknown>, ms: number): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await withTimeout(Promise.resolve(step()), ms);
    } catch (err) {
      errors.push(err);
    }
  }
  return errors;
}
