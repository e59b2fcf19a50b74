/**
 * A local fleet of `flowgate worker` processes, started by `flowgate run`.
 * Each worker is a child process connected by IPC: it stops when told to, and
 * on its own if this process dies. A worker that exits unexpectedly is
 * replaced, so the fleet keeps its capacity.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../shared/logger.js';
import { availableCpus } from '../shared/capacity.js';
import { killGroup } from '../shared/process-group.js';
import { registerOpen, unregisterOpen } from '../shared/open-components.js';
import { launcherAvailable, type SpawnerChoice } from '../worker/launcher.js';
import { findLauncher } from '../worker/launcher-binary.js';

/** Options of a {@link LocalFleet}. */
export interface FleetOptions {
  workers: number;
  /** Concurrency of each worker. */
  concurrency: number;
  maxTasksPerChild: number;
  /** Given to each worker in its `go` message, never on its command line. */
  redisUrl: string;
  prefix: string;
  /** Name prefix; workers are `<name>-<i>`. */
  name: string;
  logger: Logger;
  /** Extra flags for each worker. */
  extraArgs?: string[];
}

/** Messages from worker to fleet. */
export type WorkerMessage =
  | { type: 'loaded'; pid: number }
  | { type: 'ready'; name: string; pid: number }
  | { type: 'node'; event: 'spawned' | 'exited'; pid: number };
/**
 * Messages from fleet to worker. `go` carries the Redis URL: over the IPC
 * channel it is seen by no one else, whereas a command-line argument is
 * readable by every user of the host (`ps`, /proc/PID/cmdline) and an
 * environment variable would be inherited by every node.
 */
export type FleetMessage = { type: 'go'; redisUrl: string } | { type: 'stop'; force: boolean };

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const MAX_RESTARTS = 20;

/**
 * Default fleet size. With the process launcher one worker process is enough:
 * starting a node costs its event loop a pipe write, and one process loads and
 * connects faster than several (which matters on small machines). With Node's
 * spawn, which blocks a worker for every fork, one worker per available CPU,
 * at most 4 and never more than the thread budget. Either way a worker that
 * dies is replaced at once.
 */
export function defaultWorkers(nProcs: number, spawner: SpawnerChoice = 'auto'): number {
  if (spawner !== 'node' && launcherAvailable()) return 1;
  return Math.max(1, Math.min(availableCpus(), 4, nProcs));
}

/** Supervises worker processes. */
export class LocalFleet {
  private readonly children = new Map<number, ChildProcess>();
  /** Node process groups each worker slot is running. */
  private readonly nodePids = new Map<number, Set<number>>();
  private stopping = false;
  private restarts = 0;
  private closing: Promise<void> | undefined;
  private readyCount = 0;
  private readyWaiters: Array<() => void> = [];

  constructor(private readonly options: FleetOptions) {}

  private released = false;

  /**
   * Starts every worker process (does not wait for them). Workers load their
   * code at once but touch Redis only after {@link go}, so the fleet can be
   * started before the run's input has been validated.
   */
  private redisUrl: string | undefined;

  start(): void {
    registerOpen(this, `local worker fleet ${this.options.name}`);
    this.workerArgs = this.resolveSpawner();
    for (let i = 0; i < this.options.workers; i++) this.spawnWorker(i);
  }

  private workerArgs: string[] = [];

  /**
   * With `--spawner auto` (the default) and no launcher that runs here, says
   * so once for the whole fleet and starts the workers with `--spawner node`,
   * so that none of them tries (and warns) again.
   */
  private resolveSpawner(): string[] {
    const args = [...(this.options.extraArgs ?? [])];
    const at = args.indexOf('--spawner');
    const choice = at >= 0 ? args[at + 1] : 'auto';
    if (choice !== 'auto') return args;
    const check = findLauncher();
    if (check.ok) return args;
    if (process.platform === 'linux') this.options.logger.warn({ problem: check.problem }, `the process launcher cannot be used (${check.problem}); starting nodes with Node's spawn, slower per node`);
    if (at >= 0) args.splice(at, 2);
    return [...args, '--spawner', 'node'];
  }

  /** Lets the workers connect and take jobs (on `redisUrl` when given: the Redis chosen after the workers started loading). */
  go(redisUrl?: string): void {
    if (redisUrl !== undefined) this.redisUrl = redisUrl;
    this.released = true;
    for (const child of this.children.values()) if (child.connected) child.send(this.goMessage(), () => undefined);
  }

  private goMessage(): FleetMessage {
    return { type: 'go', redisUrl: this.redisUrl ?? this.options.redisUrl };
  }

  /** Resolves once every worker has reported ready. */
  whenReady(): Promise<void> {
    if (this.readyCount >= this.options.workers) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }


  private spawnWorker(slot: number): void {
    const o = this.options;
    const name = `${hostname()}:${o.name}-${slot}`;
    const args = [
      'worker',
      '--concurrency', String(o.concurrency),
      '--max-tasks-per-child', String(o.maxTasksPerChild),
      '--prefix', o.prefix,
      '--name', name,
      '--wait-for-go',
      ...this.workerArgs,
    ];
    const child = fork(MAIN, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.children.set(slot, child);
    const pids = new Set<number>();
    this.nodePids.set(slot, pids);
    child.on('message', (msg: WorkerMessage) => {
      if (msg.type === 'node') {
        if (msg.event === 'spawned') pids.add(msg.pid);
        else pids.delete(msg.pid);
        return;
      }
      // A replacement worker started after go() is released as soon as it loaded.
      if (msg.type === 'loaded' && this.released) child.send(this.goMessage(), () => undefined);
      if (msg.type === 'ready') {
        this.readyCount++;
        if (this.readyCount >= o.workers) for (const w of this.readyWaiters.splice(0)) w();
      }
    });
    child.on('exit', (code, signal) => {
      if (this.children.get(slot) === child) this.children.delete(slot);
      // A worker that died leaves its nodes' process groups behind (with Node's
      // spawn; the launcher kills them itself): kill them before their jobs
      // are found stalled and run again elsewhere.
      for (const pid of pids) killGroup(pid, 'SIGKILL');
      pids.clear();
      if (this.stopping) return;
      o.logger.warn({ worker: name, code, signal }, 'worker exited while the run goes on; starting a replacement');
      if (this.restarts++ < MAX_RESTARTS) this.spawnWorker(slot);
    });
  }

  /** Kills everything at once: every node process group, then every worker. */
  kill(): void {
    this.stopping = true;
    for (const pids of this.nodePids.values()) for (const pid of pids) killGroup(pid, 'SIGKILL');
    for (const child of this.children.values()) child.kill('SIGKILL');
  }

  /**
   * Stops every worker. Graceful: running nodes finish. Forced: their process
   * groups are killed. Workers still alive after `deadlineMs` are killed.
   */
  close(force: boolean, deadlineMs = 15_000): Promise<void> {
    this.stopping = true;
    for (const child of this.children.values()) {
      if (child.connected) child.send({ type: 'stop', force } satisfies FleetMessage, () => undefined);
      else child.kill('SIGTERM');
    }
    if (this.closing !== undefined && !force) return this.closing;
    this.closing = Promise.all(
      [...this.children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              resolve();
              return;
            }
            const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    ).then(() => unregisterOpen(this));
    return this.closing;
  }
}
