/**
 * The pieces every long-lived component's lifecycle is made of: a phase
 * changed by one checked setter, and start/close calls that return the call
 * already under way.
 */
import { FlowgateError } from './errors.js';
import type { Logger } from './logger.js';

/** Thrown on a phase change the component's transition table does not allow (a bug). */
export class IllegalPhaseError extends FlowgateError {
  constructor(component: string, from: string, to: string) {
    super('INTERNAL', `${component}: illegal phase change ${from} -> ${to}`);
    this.name = 'IllegalPhaseError';
  }
}

/**
 * A component's phase. {@link set} is the only way to change it: it checks
 * the transition table, logs the change (debug) and throws
 * {@link IllegalPhaseError} on a change the table does not list.
 */
export class PhaseMachine<P extends string> {
  private current: P;

  constructor(
    private readonly component: string,
    initial: P,
    private readonly allowed: Readonly<Record<P, readonly P[]>>,
    private readonly log: Logger,
  ) {
    this.current = initial;
  }

  /** The phase now. */
  get phase(): P {
    return this.current;
  }

  /** Whether the phase is one of `phases`. */
  is(...phases: readonly P[]): boolean {
    return phases.includes(this.current);
  }

  /** Whether `from -> to` is allowed. */
  can(to: P): boolean {
    return this.allowed[this.current].includes(to);
  }

  /** Changes the phase; throws on an illegal change. */
  set(to: P): void {
    const from = this.current;
    if (!this.can(to)) throw new IllegalPhaseError(this.component, from, to);
    this.current = to;
    this.log.debug({ component: this.component, from, to }, 'phase changed');
  }
}

/**
 * One call at a time: while a call is under way, calling again returns it.
 * A call that succeeded is not made again; one that failed is, when
 * `retryAfterFailure` (a failed close can be retried; a failed start cannot).
 */
export class SingleFlight {
  private current: Promise<void> | undefined;

  constructor(private readonly retryAfterFailure: boolean) {}

  /** The call made or under way, if any. */
  get pending(): Promise<void> | undefined {
    return this.current;
  }

  /** Runs `fn`, or returns the call already made or under way. */
  run(fn: () => Promise<void>): Promise<void> {
    this.current ??= fn().catch((err: unknown) => {
      if (this.retryAfterFailure) this.current = undefined;
      throw err;
    });
    return this.current;
  }
}

/**
 * A result that arrives once: {@link promise} resolves (or rejects) when it
 * is settled, at once if it already was. Settling again does nothing.
 */
export class Outcome<T> {
  readonly promise: Promise<T>;
  private resolveFn!: (value: T) => void;
  private rejectFn!: (err: unknown) => void;
  private settledNow = false;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    // Nobody may be waiting: a rejection is not an unhandled one.
    this.promise.catch(() => undefined);
  }

  /** Whether it was settled. */
  get settled(): boolean {
    return this.settledNow;
  }

  resolve(value: T): void {
    if (this.settledNow) return;
    this.settledNow = true;
    this.resolveFn(value);
  }

  reject(err: unknown): void {
    if (this.settledNow) return;
    this.settledNow = true;
    this.rejectFn(err);
  }
}
