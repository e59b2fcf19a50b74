/**
 * Processes of a chaos episode: the flowgate commands it starts (as a user
 * would, a real process each) and the node processes it finds in /proc by the
 * episode's tag, which every node carries in its environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** Path of the built CLI entry point. */
export const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');

/** How a flowgate process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A started `flowgate ...` process. */
export interface FlowgateProcess {
  /** What it is, for logs (`run`, `resume`, `scheduler#2`, ...). */
  label: string;
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  done: Promise<Exit>;
  /** Whether it has not exited yet. */
  alive(): boolean;
}

/** Starts `flowgate ...args` with `env` added to this process's environment. */
export function startFlowgate(label: string, args: readonly string[], env: NodeJS.ProcessEnv): FlowgateProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, FLOWGATE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    // Keep the tail only: a long-lived service logs for a whole episode.
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  let exited = false;
  const done = new Promise<Exit>((resolveExit) => {
    child.on('close', (code, signal) => {
      exited = true;
      resolveExit({ code, signal });
    });
  });
  return { label, child, pid: child.pid ?? -1, stdout: () => out, stderr: () => err, done, alive: () => !exited };
}

/** Sends `signal` to `pid`; false when it is gone already. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** A live process started for a node of the episode (the node's shell or any child of it). */
export interface NodeProcess {
  pid: number;
  run: string;
  node: string;
  command: string;
}

/** Live processes whose environment carries `CHAOS_TAG=<tag>`: the episode's node processes. */
export function nodeProcesses(tag: string): NodeProcess[] {
  const found: NodeProcess[] = [];
  const needle = `CHAOS_TAG=${tag}`;
  for (const pid of pids()) {
    const environ = readProc(pid, 'environ');
    if (environ === undefined || !environ.includes(needle)) continue;
    const vars = environ.split('\0');
    if (!vars.includes(needle)) continue;
    const get = (name: string): string => vars.find((v) => v.startsWith(`${name}=`))?.slice(name.length + 1) ?? '?';
    const state = readProc(pid, 'stat')?.split(') ')[1]?.[0];
    if (state === 'Z') continue; // exited, waiting for its parent to reap it
    found.push({ pid, run: get('FLOWGATE_RUN_ID'), node: get('FLOWGATE_NODE_ID'), command: (readProc(pid, 'cmdline') ?? '').split('\0').join(' ').trim() });
  }
  return found;
}

/**
 * pids of `flowgate worker` processes under `prefix` (the workers of a
 * `flowgate run` fleet carry it on their command line; the Redis URL is not).
 */
export function workersUnder(prefix: string): number[] {
  const found: number[] = [];
  for (const pid of pids()) {
    const argv = readProc(pid, 'cmdline')?.split('\0');
    if (argv !== undefined && argv.includes('worker') && argv.includes(prefix)) found.push(pid);
  }
  return found;
}

/**
 * Watches the episode's node processes twice a second and remembers
 * when each was last seen alive: the end of an execution that was killed
 * before it could write its ledger line.
 */
export class ProcessWatch {
  private readonly lastSeen = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tag: string,
    /** Period of the scans (one costs ~10 ms of a core on a quiet host). */
    readonly periodMs = 500,
  ) {}

  start(): void {
    const tick = (): void => {
      const now = Date.now();
      for (const p of nodeProcesses(this.tag)) this.lastSeen.set(p.pid, now);
    };
    tick();
    this.timer = setInterval(tick, this.periodMs);
  }

  /** When process `pid` was last seen alive (undefined: never seen). */
  lastSeenMs(pid: number): number | undefined {
    return this.lastSeen.get(pid);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
