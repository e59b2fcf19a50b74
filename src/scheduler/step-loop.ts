/**
 * The scheduler's step loop: events are queued as they arrive, and one step
 * at a time takes every queued event, applies it and acts on it. A step asked
 * for while one runs is folded into another pass of the same loop, so a
 * burst of events costs one step, not one each. The step itself is injected.
 */

/** What one step reports: `done` ends the loop for good (the run finished). */
export type StepResult = 'more' | 'done';

/** A loop of steps over queued events of type `E`. */
export class StepLoop<E> {
  private inbox: E[] = [];
  private running = false;
  private again = false;
  private stopped = false;
  /** Resolves when the current pass has ended. */
  private current: Promise<void> | undefined;
  private endCurrent: (() => void) | undefined;

  /**
   * @param step applies the events taken from the inbox and acts on them.
   * @param onError told when a step throws; the loop stops taking steps.
   */
  constructor(
    private readonly step: (events: E[]) => Promise<StepResult>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Queues events for the next step (does not ask for one: see {@link kick}). */
  push(...events: E[]): void {
    // One by one: a spread of a whole run's events would overflow the call stack.
    for (const e of events) this.inbox.push(e);
  }

  /** Whether more work is due: events queued, or another step asked for during this one. */
  get pending(): boolean {
    return this.again || this.inbox.length > 0;
  }

  /** Whether the loop takes steps (false once stopped, or after a step returned `done` or threw). */
  get active(): boolean {
    return !this.stopped;
  }

  /**
   * Asks for a step. Deferred to a microtask, so that a batch of events read
   * in one go is applied and answered together; during a step, another pass
   * follows it.
   */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.current = new Promise((resolve) => {
      this.endCurrent = resolve;
    });
    queueMicrotask(() => void this.run());
  }

  /** Another pass after the current step (work found during it). */
  requestAgain(): void {
    this.again = true;
  }

  /** Resolves once the steps asked for so far have run (at once when idle). */
  settled(): Promise<void> {
    return this.current ?? Promise.resolve();
  }

  /** Takes no further step; the one under way finishes its pass. */
  stop(): void {
    this.stopped = true;
    this.inbox = [];
  }

  private async run(): Promise<void> {
    try {
      do {
        if (this.stopped) return;
        this.again = false;
        const events = this.inbox;
        this.inbox = [];
        if ((await this.step(events)) === 'done') {
          this.stopped = true;
          return;
        }
      } while (this.pending);
    } catch (err) {
      this.stopped = true;
      this.onError(err);
    } finally {
      this.running = false;
      this.current = undefined;
      this.endCurrent?.();
      this.endCurrent = undefined;
    }
  }
}
