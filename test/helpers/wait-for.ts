/**
 * The one bounded polling helper tests may use: resolves as soon as the
 * predicate holds, fails with a message after `timeoutMs`.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, timeoutMs: number, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value !== undefined && value !== null && value !== false) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      // A starved process can pass its deadline with the awaited message already in
      // its socket: timers run before I/O is read, so let I/O run once and look again.
      await new Promise((r) => setImmediate(r));
      try {
        const value = await predicate();
        if (value !== undefined && value !== null && value !== false) return value as NonNullable<T>;
      } catch (err) {
        last = err;
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
