/**
 * Releasing what a component acquired, the one way every long-lived component
 * does it: each resource registers its release as soon as it is acquired;
 * releasing runs them in reverse order, each step bounded in time, carries on
 * past failures and ends in one `AggregateError`. A step that failed stays
 * registered, so a failed close can be retried.
 */
import { FlowgateError } from './errors.js';

/** How long one release step may take before it is abandoned (default). */
export const RELEASE_STEP_MS = 3000;

/** Releases one resource; may return a promise. */
export type ReleaseFn = () => unknown;

interface Step {
  name: string;
  release: ReleaseFn;
  /** Its own time cap (Infinity: none), instead of the default. */
  stepMs: number | undefined;
}

/** `p`, or `onTimeout()` once `ms` have passed. */
export function withTimeout<T, U = undefined>(p: Promise<T>, ms: number, onTimeout: () => U = () => undefined as U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<U>((resolve, reject) => {
      timer = setTimeout(() => {
        try {
          resolve(onTimeout());
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      }, ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The releases of one component's resources, run last-in first-out. */
export class Releasers {
  private steps: Step[] = [];

  /** @param stepMs how long each release may take before it is abandoned (default {@link RELEASE_STEP_MS}). */
  constructor(private readonly stepMs = RELEASE_STEP_MS) {}

  /**
   * Registers the release of a resource just acquired; `name` appears in
   * errors. `stepMs` overrides the time cap for this step (`Infinity` for a
   * release that bounds itself, such as a graceful stop waiting for work).
   */
  add(name: string, release: ReleaseFn, stepMs?: number): void {
    this.steps.push({ name, release, stepMs });
  }

  /** Releases still registered. */
  get size(): number {
    return this.steps.length;
  }

  /**
   * Runs every registered release, the last registered first, each bounded
   * by the step time. Returns the errors (a step that ran out of time counts
   * as one); the steps that failed stay registered for another try.
   */
  async releaseAll(): Promise<unknown[]> {
    const steps = this.steps;
    this.steps = [];
    const errors: unknown[] = [];
    const failed: Step[] = [];
    for (let i = steps.length - 1; i >= 0; i--) {
      const step = steps[i] as Step;
      const ms = step.stepMs ?? this.stepMs;
      try {
        const released = Promise.resolve().then(step.release);
        await (ms === Infinity
          ? released
          : withTimeout(released, ms, () => {
              throw new FlowgateError('INFRASTRUCTURE', `releasing ${step.name} took longer than ${ms} ms; abandoned`);
            }));
      } catch (err) {
        errors.push(err);
        failed.unshift(step);
      }
    }
    // Registered meanwhile (a release that acquired something) go after the failed ones.
    this.steps = [...failed, ...this.steps];
    return errors;
  }

  /** Like {@link releaseAll}, but throws one `AggregateError` (with `message`) when any release failed. */
  async release(message: string): Promise<void> {
    const errors = await this.releaseAll();
    if (errors.length > 0) throw new AggregateError(errors, message);
  }
}

/**
 * Acquires resources with `acquire`, which registers the release of each; if
 * it throws, everything it acquired so far is released (in reverse order)
 * and its error is rethrown, with the release errors, if any, attached as
 * `releaseErrors`. On success the releasers are the caller's to run later.
 */
export async function withReleasers<T>(releasers: Releasers, acquire: (releasers: Releasers) => Promise<T>): Promise<T> {
  try {
    return await acquire(releasers);
  } catch (err) {
    const errors = await releasers.releaseAll();
    if (errors.length > 0 && err instanceof Error) Object.assign(err, { releaseErrors: errors });
    throw err;
  }
}
