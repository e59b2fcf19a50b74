/**
 * A worker's side of the shared work dir check (see
 * shared/work-dir-marker.ts): before it registers, the work dir of the
 * scheduler service that leads; before it claims a node, its run's work dir.
 * A work dir is read once per worker process and token; a run once per
 * process. Failures are not remembered: a volume mounted later is seen at
 * the next job.
 */
import type { Redis } from 'ioredis';
import { Keys } from '../shared/keys.js';
import { parseWorkDirCheck, WORK_DIR_CHECK_FIELD, workDirProblem, type CheckingWorker } from '../shared/work-dir-marker.js';

/** Runs remembered as checked, at most; past that the memory starts again (a check costs one read). */
const RUNS_REMEMBERED = 10_000;

/** Checks work dirs for one worker process, remembering what passed. */
export class WorkDirGate {
  private readonly keys: Keys;
  /** Work dir → the token its marker was seen to hold. */
  private readonly seen = new Map<string, string>();
  /** Runs whose work dir passed (or that record none to check). */
  private readonly runs = new Set<string>();

  constructor(
    private readonly redis: () => Redis,
    prefix: string,
    private readonly who: CheckingWorker,
  ) {
    this.keys = new Keys(prefix);
  }

  private passes(raw: string | null | undefined): string | undefined {
    const check = parseWorkDirCheck(raw);
    if (check === undefined || this.seen.get(check.path) === check.token) return undefined;
    const problem = workDirProblem(check, this.who);
    if (problem === undefined) this.seen.set(check.path, check.token);
    return problem;
  }

  /**
   * At start: what is wrong with the leading service's work dir as this
   * worker sees it, or undefined (also when no service leads: a record a
   * stopped service left says nothing about the volumes of today).
   */
  async checkService(): Promise<string | undefined> {
    const [[, leader], [, raw]] = (await this.redis().multi().exists(this.keys.leader()).hget(this.keys.service(), WORK_DIR_CHECK_FIELD).exec()) as [[unknown, number], [unknown, string | null]];
    return leader === 1 ? this.passes(raw) : undefined;
  }

  /** Before a claim: what is wrong with the run's work dir as this worker sees it, or undefined. */
  async checkRun(runId: string): Promise<string | undefined> {
    if (this.runs.has(runId)) return undefined;
    const problem = this.passes(await this.redis().hget(this.keys.runMeta(runId), WORK_DIR_CHECK_FIELD));
    if (problem !== undefined) return `run ${runId}: ${problem}`;
    if (this.runs.size >= RUNS_REMEMBERED) this.runs.clear();
    this.runs.add(runId);
    return undefined;
  }
}
