/**
 * Admission across the runs of the scheduler service: one ledger over the
 * host budget, shared by every run. Policy: runs are served in submission
 * order; within each run, its own order (`tsort` or `mem_thread`) and first
 * fit, as nipype does. An older run's ready nodes are always offered the free
 * resources first; a younger run's nodes take what they leave, so a small node
 * of a young run can start beside an old run's large node that does not fit.
 */
import { ResourceLedger, type Ledger, type Resources } from './ledger.js';
import type { NodeRuntime } from './run-graph.js';
import type { AdmissionRun, SharedAdmission } from './scheduler-types.js';

/** The service's admission: every run's pass over one ledger, oldest run first. */
export class ServiceAdmission implements SharedAdmission {
  readonly ledger: Ledger;
  /** Runs in submission order. */
  private readonly runs: AdmissionRun[] = [];

  /** `budget`: one pooled budget (with its named resources); or a ledger of its own (per-host placement). */
  constructor(budget: (Resources & { resources?: Readonly<Record<string, number>> }) | Ledger) {
    this.ledger = 'fits' in budget ? budget : new ResourceLedger(budget, budget.resources);
  }

  /** Asks every run for a step (hosts came or went: what fits has changed). */
  kickAll(): void {
    if (this.pauses === 0) for (const run of this.runs) run.kick();
  }

  /** The runs, oldest first. */
  get all(): readonly AdmissionRun[] {
    return this.runs;
  }

  /** Adds a run; runs are ordered by `order` (submission time), ties by arrival. */
  add(run: AdmissionRun, order: number): void {
    this.order.set(run, order);
    this.runs.push(run);
    this.runs.sort((a, b) => (this.order.get(a) ?? 0) - (this.order.get(b) ?? 0));
  }
  private readonly order = new Map<AdmissionRun, number>();

  /** Removes a run and releases whatever it still holds. */
  remove(run: AdmissionRun): void {
    const at = this.runs.indexOf(run);
    if (at >= 0) this.runs.splice(at, 1);
    this.order.delete(run);
    run.graph.releaseAll();
  }

  get size(): number {
    return this.runs.length;
  }

  private pauses = 0;

  /**
   * Stops admission while runs are adopted (a new leader taking over, a run
   * resumed): a resumed run's running nodes hold resources that are in the
   * ledger only once the run restored them, so nothing may be admitted for
   * anyone before then. Calls nest; admission resumes at the last
   * {@link resume}, which asks every run for a step.
   */
  pause(): void {
    this.pauses++;
  }

  resume(): void {
    if (this.pauses === 0) return;
    this.pauses--;
    if (this.pauses === 0) for (const run of this.runs) run.kick();
  }

  get paused(): boolean {
    return this.pauses > 0;
  }

  /**
   * One admission pass over every run, oldest first. Returns what `requester`
   * was admitted; nodes admitted for other runs are handed to them.
   */
  admit(requester: AdmissionRun): NodeRuntime[] {
    if (this.pauses > 0) return [];
    let mine: NodeRuntime[] = [];
    let seen = false;
    for (const run of this.runs) {
      if (this.ledger.free.n_procs < 1) break;
      const got = run.graph.admit();
      if (run === requester) {
        mine = got;
        seen = true;
      } else {
        run.hand(got);
      }
    }
    // A run not (or no longer) registered admits nothing: it is being
    // started or closed, and must not take resources behind the service's back.
    return seen ? mine : [];
  }
}
