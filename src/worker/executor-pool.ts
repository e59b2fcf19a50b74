/**
 * The executor child processes of one worker. Each runs one function node at
 * a time and is replaced after `maxTasksPerChild` nodes (nipype's
 * `maxtasksperchild`), so memory a node leaks dies with its process. An
 * executor whose node is aborted (timeout, cancel, memory) is killed with its
 * whole process group and replaced.
 */
import { fork, type ChildProcess } from 'node:child_process';
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
  tasks: number;
}

/**
 * A finished function call: the outputs as JSON text, or why it failed —
 * `threw` and `outputs` as the executor reported them, `died` when the
 * executor process ended (or could not be reached) before it replied.
 */
export type ExecResult =
  | { ok: true; json: string }
  | { ok: false; failure: 'threw' | 'outputs' | 'died'; reason: string; error: string; recycle?: boolean };

function typescriptLoader(): string | undefined {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return undefined;
  }
}

/** Pool of executors, recycled after `maxTasksPerChild` tasks. */
export class ExecutorPool {
  private readonly idle: Executor[] = [];
  private readonly all = new Set<Executor>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly maxTasksPerChild: number,
    private readonly logger: Logger,
    /** Environment of the executor processes (default: this process's). */
    private readonly env?: NodeJS.ProcessEnv,
  ) {}

  private spawn(typescript: boolean): Promise<Executor> {
    const execArgv: string[] = [];
    if (typescript) {
      const loader = typescriptLoader();
      if (loader === undefined) throw new Error('TypeScript function modules need the "tsx" package installed next to flowgate');
      execArgv.push('--import', loader);
    }
    // Own process group: an abort kills the executor and anything it started.
    const child = fork(ENTRY, [], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'], detached: true, ...(this.env !== undefined ? { env: this.env } : {}) });
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`executor exited during start-up (code ${String(code)})`));
      child.once('exit', onExit);
      child.once('message', (msg: ExecutorReply) => {
        child.off('exit', onExit);
        if (msg.type !== 'ready') return reject(new Error('executor did not report ready'));
        const ex: Executor = { child, pid: msg.pid, typescript, tasks: 0 };
        this.all.add(ex);
        child.once('exit', () => {
          this.all.delete(ex);
          const at = this.idle.indexOf(ex);
          if (at >= 0) this.idle.splice(at, 1);
        });
        resolve(ex);
      });
    });
  }

  private async acquire(typescript: boolean): Promise<Executor> {
    const usable = (e: Executor): boolean => e.child.connected && e.child.exitCode === null && e.child.signalCode === null;
    const at = this.idle.findIndex((e) => usable(e) && (e.typescript === typescript || (typescript === false && e.typescript)));
    if (at >= 0) return this.idle.splice(at, 1)[0] as Executor;
    return this.spawn(typescript);
  }

  private retire(ex: Executor, kill: boolean): void {
    this.all.delete(ex);
    if (kill) killGroup(ex.pid, 'SIGKILL');
    else ex.child.disconnect();
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
    const ex = await this.acquire(TS_MODULE.test(task.module));
    const id = this.nextId++;
    ex.tasks++;
    onStart(ex);
    const result = await new Promise<ExecResult>((resolve) => {
      const onMessage = (msg: ExecutorReply): void => {
        if (msg.type !== 'done' || msg.id !== id) return;
        finish(msg.ok ? { ok: true, json: msg.json } : { ok: false, failure: msg.failure, reason: msg.reason, error: msg.error, recycle: msg.recycle });
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
    // An error escaped the node's code: whatever it left running must not meet the next node.
    const dead = ex.child.exitCode !== null || ex.child.signalCode !== null || signal.aborted || (!result.ok && result.recycle === true);
    if (dead || ex.tasks >= this.maxTasksPerChild || this.closed) {
      // maxtasksperchild reached (or the process is gone): replace it.
      this.retire(ex, dead || signal.aborted);
      if (!dead) this.logger.debug({ pid: ex.pid, tasks: ex.tasks }, 'executor:recycled');
    } else {
      this.idle.push(ex);
    }
    return { ...result, pid: ex.pid };
  }

  /** Stops every executor. */
  close(): void {
    this.closed = true;
    for (const ex of [...this.all]) this.retire(ex, true);
    this.idle.length = 0;
  }
}
