/**
 * The executor child processes of one worker. Each runs one function node at
 * a time. A node's memory and module state end after `maxTasksPerChild`
 * nodes (nipype's `maxtasksperchild`): JavaScript modules run in realms,
 * worker threads of the process that are replaced after that many nodes,
 * and the process after `realmsPerProcess` realms (realm-host.ts); a
 * TypeScript module's process is itself replaced after that many nodes. An
 * executor whose node is aborted (timeout, cancel, memory), ends its realm or
 * leaves an error behind is killed with its whole process group and replaced.
 *
 * Replacements start ahead, so the next node finds a process already
 * started — with the TypeScript loader already registered — instead of
 * waiting for a cold start after the old one retires. An executor's spare
 * starts as soon as the tasks it has left would take no longer than two
 * starts (both timed as the pool goes: the time from fork to ready, and from one
 * task handed to an executor to the next), and at the latest when it is
 * handed its last task; a killed executor's spare starts at once. One spare
 * per executor, so the processes never exceed twice the tasks run at once.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../shared/logger.js';
import { killGroup } from '../shared/process-group.js';
import type { ExecutorReply, ExecutorRequest } from './executor-protocol.js';

const ENTRY = fileURLToPath(new URL('./executor.js', import.meta.url));
const TS_MODULE = /\.(c|m)?tsx?$/;

/** One executor process. */
export interface Executor {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly typescript: boolean;
  /** Started ahead, as a replacement, before any task asked for it. */
  readonly spare: boolean;
  tasks: number;
  /** When it was last handed a task (performance.now() ms). */
  assignedAt?: number;
  /** Its replacement has been started. */
  replaced?: boolean;
}

/** Realms an executor process runs before it is replaced (JavaScript modules; see realm-host.ts). */
export const REALMS_PER_PROCESS = 10;
/** Weight of the newest sample in the pool's running timings. */
const TIMING_WEIGHT = 0.3;
/** A spare starts when the tasks left would take no longer than this many starts. */
const START_MARGIN = 2;

/**
 * A finished function call: the outputs as JSON text, or why it failed —
 * `threw` and `outputs` as the executor reported them, `died` when the
 * executor process ended (or could not be reached) before it replied.
 */
export type ExecResult =
  | { ok: true; json: string; recycle?: boolean }
  | { ok: false; failure: 'threw' | 'outputs' | 'died'; reason: string; error: string; recycle?: boolean };

/** What the pool reports about its processes (emitting never throws). */
export interface ExecutorPoolEvents {
  /** A process reported ready; `spare`: it was started ahead, as a replacement. */
  'executor:ready': [{ pid: number; typescript: boolean; spare: boolean }];
  /**
   * A task was handed to a process: an `idle` one (ready before the task
   * came), a spare still `starting` (the task waited for the rest of its
   * start-up) or one started `cold` for it.
   */
  'executor:assigned': [{ pid: number; task: number; from: 'idle' | 'starting' | 'cold' }];
  /** A process left the pool after `tasks` tasks (`killed`: with its process group). */
  'executor:retired': [{ pid: number; tasks: number; killed: boolean }];
}

function typescriptLoader(): string | undefined {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return undefined;
  }
}

/** A process being started; `claimed` once a task waits for it. */
interface Starting {
  readonly typescript: boolean;
  readonly spare: boolean;
  readonly ready: Promise<Executor>;
  claimed: boolean;
}

/** Pool of executors, recycled after `maxTasksPerChild` tasks. */
export class ExecutorPool extends EventEmitter<ExecutorPoolEvents> {
  private readonly idle: Executor[] = [];
  private readonly all = new Set<Executor>();
  /** Processes forked and not yet ready: killed too on close. */
  private readonly forked = new Set<ChildProcess>();
  private readonly starting: Starting[] = [];
  private nextId = 1;
  private closed = false;
  /** Running timings per kind (TypeScript or not): a start, fork to ready; a cycle, one task handed to an executor to its next. */
  private readonly startMs = new Map<boolean, number>();
  private readonly cycleMs = new Map<boolean, number>();

  constructor(
    private readonly maxTasksPerChild: number,
    private readonly logger: Logger,
    /** Environment of the executor processes (default: this process's). */
    private readonly env?: NodeJS.ProcessEnv,
    /** Realms a process runs before it is replaced (JavaScript modules). */
    private readonly realmsPerProcess = REALMS_PER_PROCESS,
  ) {
    super();
  }

  private report<K extends keyof ExecutorPoolEvents>(event: K, ...args: ExecutorPoolEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.logger.warn({ err, event }, 'executor:event listener threw');
    }
  }

  private spawn(typescript: boolean, spare: boolean): Starting {
    const execArgv: string[] = [];
    if (typescript) {
      const loader = typescriptLoader();
      if (loader === undefined) throw new Error('TypeScript function modules need the "tsx" package installed next to flowgate');
      execArgv.push('--import', loader);
    }
    // Own process group: an abort kills the executor and anything it started.
    const forkedAt = performance.now();
    // JavaScript runs in realms of maxTasksPerChild nodes, REALMS_PER_PROCESS per process.
    const args = typescript ? [] : ['--realms', String(this.maxTasksPerChild), String(this.realmsPerProcess)];
    const child = fork(ENTRY, args, { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'], detached: true, ...(this.env !== undefined ? { env: this.env } : {}) });
    this.forked.add(child);
    const ready = new Promise<Executor>((resolve, reject) => {
      const onExit = (code: number | null): void => {
        this.forked.delete(child);
        reject(new Error(`executor exited during start-up (code ${String(code)})`));
      };
      child.once('exit', onExit);
      child.once('message', (msg: ExecutorReply) => {
        child.off('exit', onExit);
        this.forked.delete(child);
        if (msg.type !== 'ready' || this.closed) {
          if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
          return reject(new Error(this.closed ? 'executor pool is closed' : 'executor did not report ready'));
        }
        this.time(this.startMs, typescript, performance.now() - forkedAt);
        const ex: Executor = { child, pid: msg.pid, typescript, spare, tasks: 0 };
        this.all.add(ex);
        child.once('exit', () => {
          this.all.delete(ex);
          const at = this.idle.indexOf(ex);
          if (at >= 0) this.idle.splice(at, 1);
        });
        this.report('executor:ready', { pid: ex.pid, typescript, spare });
        resolve(ex);
      });
    });
    return { typescript, spare, ready, claimed: false };
  }

  /**
   * Starts the replacement of an executor that will retire soon (or was
   * killed): the next task of that kind takes it when it is ready (or waits
   * for the rest of its start-up), never a cold start after a retirement.
   * `owner` is marked replaced while its spare is on its way: a spare that
   * cannot start leaves it unmarked, so it is tried again at its last task
   * or when it is killed.
   */
  private startSpare(typescript: boolean, owner?: Executor): void {
    if (this.closed) return;
    let s: Starting;
    try {
      s = this.spawn(typescript, true);
    } catch {
      return; // The next task spawns on demand and reports why it cannot.
    }
    if (owner !== undefined) owner.replaced = true;
    this.starting.push(s);
    s.ready.then(
      (ex) => {
        const at = this.starting.indexOf(s);
        if (at >= 0) this.starting.splice(at, 1);
        if (!s.claimed) this.idle.push(ex);
      },
      (err: unknown) => {
        const at = this.starting.indexOf(s);
        if (at >= 0) this.starting.splice(at, 1);
        if (owner !== undefined) owner.replaced = false;
        if (!this.closed) this.logger.warn({ err }, 'executor:spare failed to start');
      },
    );
  }

  private async acquire(typescript: boolean): Promise<{ ex: Executor; from: 'idle' | 'starting' | 'cold' }> {
    const usable = (e: Executor): boolean => e.child.connected && e.child.exitCode === null && e.child.signalCode === null;
    // Each kind runs in its own executors: JavaScript always in realms, so a
    // node behaves the same whatever ran before it.
    const fits = (kind: boolean): boolean => kind === typescript;
    // The idle executor closest to retiring first: a spare ready early waits
    // until the executor it replaces has run its last task.
    let at = -1;
    this.idle.forEach((e, i) => {
      if (usable(e) && fits(e.typescript) && (at < 0 || e.tasks > (this.idle[at] as Executor).tasks)) at = i;
    });
    if (at >= 0) return { ex: this.idle.splice(at, 1)[0] as Executor, from: 'idle' };
    const pending = this.starting.find((s) => !s.claimed && fits(s.typescript));
    if (pending !== undefined) {
      pending.claimed = true;
      try {
        return { ex: await pending.ready, from: 'starting' };
      } catch {
        // The spare died starting: this task starts its own.
      }
    }
    return { ex: await this.spawn(typescript, false).ready, from: 'cold' };
  }

  /** Adds a sample to a running timing. */
  private time(timings: Map<boolean, number>, typescript: boolean, ms: number): void {
    const before = timings.get(typescript);
    timings.set(typescript, before === undefined ? ms : before + TIMING_WEIGHT * (ms - before));
  }

  /**
   * Whether an executor just handed a task should have its replacement
   * started now: at its last task, or once the tasks it has left (this one
   * included) would take no longer than {@link START_MARGIN} starts (a start
   * made slower by the work running beside it is still ready in time).
   */
  private spareDue(ex: Executor): boolean {
    const left = this.lifetime(ex) - ex.tasks;
    if (left <= 0) return true;
    const start = this.startMs.get(ex.typescript);
    const cycle = this.cycleMs.get(ex.typescript);
    return start !== undefined && cycle !== undefined && (left + 1) * cycle <= START_MARGIN * start;
  }

  /** Tasks an executor runs before it is replaced: its realms of maxTasksPerChild tasks (JavaScript), or maxTasksPerChild (TypeScript). */
  private lifetime(ex: Executor): number {
    return ex.typescript ? this.maxTasksPerChild : this.maxTasksPerChild * this.realmsPerProcess;
  }

  private retire(ex: Executor, kill: boolean): void {
    this.all.delete(ex);
    if (kill) killGroup(ex.pid, 'SIGKILL');
    else ex.child.disconnect();
    this.report('executor:retired', { pid: ex.pid, tasks: ex.tasks, killed: kill });
  }

  /**
   * Runs `export` of `module` in an executor. `onStart` receives the
   * executor (for measuring it); aborting `signal` kills it.
   */
  async run(
    task: Omit<Extract<ExecutorRequest, { type: 'run' }>, 'type' | 'id'>,
    signal: AbortSignal,
    onStart: (ex: Executor) => void,
  ): Promise<ExecResult & { pid: number }> {
    if (this.closed) throw new Error('executor pool is closed');
    const { ex, from } = await this.acquire(TS_MODULE.test(task.module));
    if (this.closed) {
      this.retire(ex, true);
      throw new Error('executor pool is closed');
    }
    const id = this.nextId++;
    ex.tasks++;
    const now = performance.now();
    if (ex.assignedAt !== undefined) this.time(this.cycleMs, ex.typescript, now - ex.assignedAt);
    ex.assignedAt = now;
    if (ex.replaced !== true && this.spareDue(ex)) this.startSpare(ex.typescript, ex);
    this.report('executor:assigned', { pid: ex.pid, task: id, from });
    onStart(ex);
    const result = await this.call(ex, id, task, signal);
    // An error escaped the node's code: whatever it left running must not meet the next node.
    const dead = ex.child.exitCode !== null || ex.child.signalCode !== null || signal.aborted || result.recycle === true;
    if (dead || ex.tasks >= this.lifetime(ex) || this.closed) {
      // Its last task done (or the process is gone): replace it.
      this.retire(ex, dead || signal.aborted);
      if (!dead) this.logger.debug({ pid: ex.pid, tasks: ex.tasks }, 'executor:recycled');
      else if (ex.replaced !== true) this.startSpare(ex.typescript, ex);
    } else {
      this.idle.push(ex);
    }
    return { ...result, pid: ex.pid };
  }

  private call(ex: Executor, id: number, task: Omit<Extract<ExecutorRequest, { type: 'run' }>, 'type' | 'id'>, signal: AbortSignal): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve) => {
      const onMessage = (msg: ExecutorReply): void => {
        if (msg.type !== 'done' || msg.id !== id) return;
        finish(msg.ok ? { ok: true, json: msg.json, ...(msg.recycle === true ? { recycle: true } : {}) } : { ok: false, failure: msg.failure, reason: msg.reason, error: msg.error, recycle: msg.recycle });
      };
      const died = (why: string): ExecResult => ({ ok: false, failure: 'died', reason: why, error: why });
      const onExit = (code: number | null, sig: string | null): void => finish(died(`the executor process died (${sig !== null ? `signal ${sig}` : `exit code ${String(code)}`})`));
      const onAbort = (): void => {
        ex.child.send({ type: 'abort' } satisfies ExecutorRequest, () => undefined);
        // Functions cannot be interrupted safely: the executor goes, with its group.
        killGroup(ex.pid, 'SIGKILL');
      };
      const finish = (r: ExecResult): void => {
        ex.child.off('message', onMessage);
        ex.child.off('exit', onExit);
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      ex.child.on('message', onMessage);
      ex.child.once('exit', onExit);
      signal.addEventListener('abort', onAbort, { once: true });
      ex.child.send({ type: 'run', id, ...task } satisfies ExecutorRequest, (err) => {
        if (err !== null) finish(died(`cannot reach the executor: ${err.message}`));
      });
      if (signal.aborted) onAbort();
    });
  }

  /** Stops every executor, spares and those still starting included. */
  close(): void {
    this.closed = true;
    for (const ex of [...this.all]) this.retire(ex, true);
    for (const child of this.forked) if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    this.forked.clear();
    this.idle.length = 0;
  }
}
