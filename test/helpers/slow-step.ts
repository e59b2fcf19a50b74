/**
 * A step (a release, a shutdown) that is slow on purpose: tests hold it
 * against a time cap. Its length is the input under test, not a wait for
 * something to happen.
 */

/** A step that runs `then` and resolves `ms` after it was started. */
export function slowStep(ms: number, then: () => void = () => undefined): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      setTimeout(() => {
        then();
        resolve();
      }, ms);
    });
}
