/**
 * The gap a fault plan leaves before its next fault. Its length is part of
 * the plan (it decides what the fault hits), not a wait for something to
 * happen; the gap ends early when there is nothing left to hit.
 */

/** Resolves `afterMs` from now, or when `ended` does if that is sooner (and rejects with it). */
export async function faultGap(afterMs: number, ended: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gap = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, afterMs);
  });
  try {
    await Promise.race([gap, ended]);
  } finally {
    clearTimeout(timer);
  }
}
