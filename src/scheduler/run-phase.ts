/**
 * The phases of a run's scheduler and the changes allowed between them.
 *
 * `new` → `starting` → `running` (→ `cancelling`) → `finished`; a fatal error
 * (Redis gone for too long, the lease lost, a failed step or start) makes it
 * `failed`; `close()` goes through `closing` to `closed` from any of these.
 * Only `running` and `cancelling` admit nodes and enqueue jobs.
 */

/** Every phase of a run's scheduler. */
export type RunPhase = 'new' | 'starting' | 'running' | 'cancelling' | 'failed' | 'finished' | 'closing' | 'closed';

/** Allowed phase changes. */
export const RUN_PHASES: Readonly<Record<RunPhase, readonly RunPhase[]>> = {
  new: ['starting', 'closing'],
  starting: ['running', 'failed'],
  running: ['cancelling', 'finished', 'failed', 'closing'],
  cancelling: ['finished', 'failed', 'closing'],
  // finished -> failed: a fatal error while the summary is being written (it is not stored).
  failed: ['closing'],
  finished: ['failed', 'closing'],
  // A failed close stays closing: close() may be called again.
  closing: ['closed'],
  closed: [],
};

/** Phases in which the run admits nodes, enqueues jobs and applies their events. */
export const ACTIVE_PHASES: readonly RunPhase[] = ['running', 'cancelling'];
