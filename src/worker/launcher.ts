/**
 * How a worker starts its node processes.
 *
 * Node's own `spawn` forks the whole worker process (copying its page tables)
 * and blocks the event loop until the child has exec'd: milliseconds per node
 * on a busy machine. The {@link Launcher} hands that to `flowgate-launcher`, a
 * small C helper started once per worker that uses posix_spawn and reaps the
 * children; {@link nodeSpawner} is the portable fallback. Both start a node
 * the same way: own session and process group, cwd = its directory, stdin from
 * /dev/null, stdout/stderr to files, the command looked up in the node's PATH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import { ValidationError } from '../shared/errors.js';
import { killGroup } from '../shared/process-group.js';
import type { SpawnerChoice } from '../shared/options/defaults.js';
import { BUILT_LAUNCHER, findLauncher } from './launcher-binary.js';

/** What to start. */
export interface SpawnSpec {
  argv: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdoutPath: string;
  stderrPath: string;
}

/** Why a process could not be started: `prepare` = its directory or log files; `exec` = the command itself. */
export interface SpawnFailure {
  stage: 'prepare' | 'exec';
  /** errno name, e.g. ENOENT. */
  code: string;
  message: string;
}

/** Callbacks of one started process; exactly one of `failed` or `started` then `exited` is called. */
/** What the kernel counted for an ended process and the children it waited for (wait4). */
export interface ExitUsage {
  cpu_s: number;
  peak_rss_mb: number;
}

export interface SpawnHandlers {
  started(pid: number): void;
  /** `usage` when the spawner has it (the launcher; not Node's spawn). */
  exited(code: number | null, signal: NodeJS.Signals | null, usage?: ExitUsage): void;
  failed(failure: SpawnFailure): void;
}

/** Starts node processes. */
export interface Spawner {
  readonly kind: 'launcher' | 'node';
  spawn(spec: SpawnSpec, handlers: SpawnHandlers): void;
  close(): void;
}

/** Where `npm run build` puts the compiled launcher (see launcher-binary.ts for the others). */
export const LAUNCHER_PATH = BUILT_LAUNCHER;

/** Which spawner a worker uses: `auto` = the launcher when one runs here, else Node's spawn. */
export { SPAWNERS as SPAWNER_CHOICES, type SpawnerChoice } from '../shared/options/defaults.js';

/** Whether a process launcher runs here (built, or compiled now, and self-tested). */
export function launcherAvailable(): boolean {
  return findLauncher().ok;
}

/** What `--spawner launcher` says when no launcher runs here. */
export function launcherProblem(): string | undefined {
  const check = findLauncher();
  return check.ok ? undefined : `the process launcher cannot run here: ${check.problem}; use --spawner node or auto`;
}

/**
 * Makes the spawner a worker asked for. `launcher` without a launcher that
 * passes its self-test is an error; `auto` then uses Node's spawn and calls
 * `onFallback` with the reason (not on other systems than Linux, where that
 * is expected).
 */
export function createSpawner(choice: SpawnerChoice, onFallback?: (problem: string) => void): Spawner {
  if (choice === 'node') return nodeSpawner();
  const check = findLauncher();
  if (check.ok) return new Launcher(check.path);
  if (choice === 'launcher') throw new ValidationError('OPTIONS_INVALID', [{ field: 'spawner', message: launcherProblem() ?? check.problem }]);
  if (process.platform === 'linux') onFallback?.(check.problem);
  return nodeSpawner();
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));
const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}

function envPairs(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const key in env) {
    const value = env[key];
    if (value !== undefined) out.push(`${key}=${value}`);
  }
  return out;
}

interface Pending {
  handlers: SpawnHandlers;
  pid: number | null;
}

/** Talks to one `flowgate-launcher` process, started on first use and again if it dies. */
export class Launcher implements Spawner {
  readonly kind = 'launcher';
  private child: ChildProcess | undefined;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  private partial = '';
  private closed = false;

  constructor(private readonly path: string) {}

  /** The launcher's own pid while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  spawn(spec: SpawnSpec, handlers: SpawnHandlers): void {
    if (this.closed) {
      handlers.failed({ stage: 'exec', code: 'ECANCELED', message: 'the worker is closing' });
      return;
    }
    const env = envPairs(spec.env);
    const fields = ['spawn', '', spec.cwd, spec.stdoutPath, spec.stderrPath, String(spec.argv.length), ...spec.argv, String(env.length), ...env];
    // Fields are NUL-terminated; Node's spawn refuses such strings too.
    if (fields.some((f) => f.includes('\0'))) {
      handlers.failed({ stage: 'exec', code: 'EINVAL', message: 'an argument or environment value contains a NUL byte' });
      return;
    }
    const child = this.ensure();
    const id = String(++this.seq);
    fields[1] = id;
    this.pending.set(id, { handlers, pid: null });
    this.hold();
    const body = Buffer.from(`${fields.join('\0')}\0`, 'utf8');
    const header = Buffer.alloc(4);
    header.writeUInt32LE(body.length, 0);
    child.stdin?.write(Buffer.concat([header, body]));
  }

  /** Ends the launcher (it kills whatever still runs, which is nothing after a graceful stop). */
  close(): void {
    this.closed = true;
    this.child?.stdin?.end();
  }

  private ensure(): ChildProcess {
    if (this.child !== undefined) return this.child;
    // Its own session: a Ctrl-C meant for the worker's terminal does not reach it.
    const child = spawn(this.path, [], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.onData(chunk));
    child.stdin?.on('error', () => undefined);
    child.on('error', (err) => this.lost(child, err.message));
    child.on('exit', (code, signal) => this.lost(child, signal !== null ? `killed by ${signal}` : `exit code ${String(code)}`));
    // The worker may exit while the launcher idles; the launcher follows when its stdin ends.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    this.child = child;
    return child;
  }

  /** Nodes are pending: keep the event loop alive until they have ended. */
  private hold(): void {
    (this.child?.stdout as unknown as { ref?: () => void } | null)?.ref?.();
  }

  private release(): void {
    if (this.pending.size === 0) (this.child?.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  }

  private onData(chunk: string): void {
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.onLine(line);
  }

  private onLine(line: string): void {
    const [kind, id = '', a = '', b = '', userUs, systemUs, maxRssKb] = line.split(' ');
    const p = this.pending.get(id);
    if (p === undefined) return;
    if (kind === 'started') {
      p.pid = Number(a);
      p.handlers.started(p.pid);
    } else if (kind === 'failed') {
      this.pending.delete(id);
      this.release();
      const code = errnoName(Number(b));
      const stage = a === 'exec' ? 'exec' : 'prepare';
      p.handlers.failed({ stage, code, message: a === 'cwd' ? `cannot enter the node directory (${code})` : a === 'open' ? `cannot create the node's log files (${code})` : code });
    } else if (kind === 'exited') {
      this.pending.delete(id);
      this.release();
      const code = Number(a);
      const signal = Number(b);
      const cpuUs = Number(userUs) + Number(systemUs);
      const usage = Number.isFinite(cpuUs) && Number.isFinite(Number(maxRssKb)) ? { cpu_s: cpuUs / 1e6, peak_rss_mb: Number(maxRssKb) / 1024 } : undefined;
      p.handlers.exited(code < 0 ? null : code, signal === 0 ? null : (SIGNAL_NAMES.get(signal) ?? null), usage);
    }
  }

  /** The launcher died: its nodes are killed and fail; the next spawn starts a new one. */
  private lost(child: ChildProcess, why: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.partial = '';
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      if (p.pid !== null) {
        killGroup(p.pid, 'SIGKILL');
        p.handlers.exited(null, 'SIGKILL');
      } else {
        p.handlers.failed({ stage: 'exec', code: 'ECHILD', message: `the process launcher died (${why})` });
      }
    }
  }
}

/** Node's own `spawn`: portable, but forks the whole worker for every node. */
export function nodeSpawner(): Spawner {
  return {
    kind: 'node',
    close: () => undefined,
    spawn(spec, handlers) {
      let outFd: number;
      let errFd: number;
      try {
        outFd = openSync(spec.stdoutPath, 'w');
        try {
          errFd = openSync(spec.stderrPath, 'w');
        } catch (err) {
          closeSync(outFd);
          throw err;
        }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
        handlers.failed({ stage: 'prepare', code, message: `cannot create the node's log files (${code})` });
        return;
      }
      let child: ChildProcess;
      const closeLogs = (): void => {
        closeSync(outFd);
        closeSync(errFd);
      };
      try {
        child = spawn(spec.argv[0] as string, spec.argv.slice(1), { cwd: spec.cwd, env: spec.env, stdio: ['ignore', outFd, errFd], detached: true });
      } catch (err) {
        // Invalid arguments are thrown synchronously rather than emitted.
        closeLogs();
        handlers.failed({ stage: 'exec', code: (err as NodeJS.ErrnoException).code ?? 'EINVAL', message: err instanceof Error ? err.message : String(err) });
        return;
      }
      let done = false;
      child.once('error', (err: NodeJS.ErrnoException) => {
        if (done) return;
        done = true;
        closeLogs();
        handlers.failed({ stage: 'exec', code: err.code ?? 'EIO', message: err.message });
      });
      if (child.pid !== undefined) handlers.started(child.pid);
      child.once('exit', (code, signal) => {
        if (done) return;
        done = true;
        closeLogs();
        handlers.exited(code, signal);
      });
    },
  };
}
