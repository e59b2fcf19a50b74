/**
 * A simulated multi-host fleet on this machine for `bench/multihost.ts`: one
 * `flowgate scheduler --placement hosts` and, per simulated host `hN`, worker
 * processes `flowgate worker --host-id hN --capacity ...` (the built CLI), all
 * under one private Redis prefix. `close()` kills every process it started
 * (and node processes left by killed workers), deletes the prefix's keys and
 * removes its directory, whatever happened before.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { RunSummary } from '../src/scheduler/summary.js';
import { parseNodeJobId } from '../src/shared/payloads.js';
import { groupHosts, listWorkers, type ListedWorker } from '../src/shared/worker-registry.js';
import { deletePrefix } from './redis-keys.js';

/** Keeps the last `max` characters of a stream. */
function collect(stream: NodeJS.ReadableStream | null, max: number): () => string {
  let text = '';
  stream?.on('data', (d: Buffer) => (text = (text + d.toString()).slice(-max)));
  return () => text;
}

/** Polls `probe` every `everyMs` until it returns a value, or throws naming `what` after `timeoutMs`. */
export async function until<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A started flowgate process. */
interface Proc {
  role: string;
  child: ChildProcess;
  stderr: () => string;
}

/** What `flowgate submit --wait --json` gave. */
export interface SubmitResult {
  code: number | null;
  summary: RunSummary | null;
  stderr: string;
  processWallS: number;
}

/** Every fleet not yet closed, for the signal handler. */
export const openFleets = new Set<Fleet>();

/** One scheduler service and its worker groups under one prefix. */
export class Fleet {
  readonly dir: string;
  private readonly procs: Proc[] = [];
  private readonly redis: Redis;
  private readonly env: NodeJS.ProcessEnv;
  /** When the scheduler said it leads (this machine's clock). */
  leadingAtMs: number | null = null;
  private closing: Promise<number> | undefined;

  constructor(
    private readonly cli: string,
    readonly redisUrl: string,
    readonly prefix: string,
    workRoot: string,
  ) {
    this.dir = mkdtempSync(join(workRoot, `${prefix}-`));
    this.env = { ...process.env, REDIS_URL: redisUrl, FLOWGATE_PREFIX: prefix, FLOWGATE_LOG_LEVEL: 'warn' };
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
    this.redis.on('error', () => {}); // failures surface on the commands themselves
    openFleets.add(this);
  }

  private start(role: string, args: string[]): Proc {
    const child = spawn(process.execPath, [this.cli, ...args], { env: this.env, cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.resume();
    const p = { role, child, stderr: collect(child.stderr, 256 * 1024) };
    child.on('error', () => {}); // seen as a process that never leads or registers
    this.procs.push(p);
    return p;
  }

  /** Starts the scheduler service and waits until it leads. */
  async startScheduler(timeoutMs = 60_000): Promise<void> {
    const s = this.start('scheduler', ['scheduler', '--placement', 'hosts', '--work-dir', join(this.dir, 'work')]);
    await until(
      () => {
        if (s.stderr().includes('leading as')) return true;
        if (s.child.exitCode !== null) throw new Error(`the scheduler exited ${s.child.exitCode}: ${s.stderr().slice(-2000)}`);
        return undefined;
      },
      timeoutMs,
      'the scheduler to lead',
    );
    this.leadingAtMs = Date.now();
  }

  /** Starts `workers` worker processes of host `id` (names `<id>-w1`...), each with concurrency = the host's procs. */
  startHost(id: string, procs: number, memGb: number, workers: number, heartbeatMs: number): void {
    for (let i = 1; i <= workers; i++) {
      this.start(`worker ${id}-w${i}`, [
        'worker',
        '--name',
        `${id}-w${i}`,
        '--host-id',
        id,
        '--capacity',
        `procs=${procs},mem_gb=${memGb}`,
        '--concurrency',
        String(procs),
        '--heartbeat-ms',
        String(heartbeatMs),
      ]);
    }
  }

  /** The registered workers with their liveness. */
  workers(): Promise<ListedWorker[]> {
    return listWorkers(this.redis, this.prefix);
  }

  /**
   * Waits until every host in `ids` is alive in the registry and the service
   * has taken them in: its published budget (the live hosts' sum) is `total`.
   * The service reads the registry once a second; a run it picks up before
   * it saw any host is not checked against the hosts (placement-check.ts).
   */
  async waitHosts(ids: readonly string[], total: { n_procs: number; memory_gb: number }, timeoutMs = 60_000): Promise<void> {
    await until(
      async () => {
        const dead = this.procs.find((p) => p.role.startsWith('worker') && p.child.exitCode !== null);
        if (dead !== undefined) throw new Error(`${dead.role} exited ${dead.child.exitCode}: ${dead.stderr().slice(-2000)}`);
        const alive = new Set(groupHosts(await this.workers()).filter((h) => h.status === 'alive').map((h) => h.host_id));
        if (!ids.every((id) => alive.has(id))) return undefined;
        const raw = await this.redis.hget(`${this.prefix}:fg:service`, 'budget');
        const b = raw === null ? null : (JSON.parse(raw) as { n_procs?: number; memory_gb?: number });
        return b?.n_procs === total.n_procs && Math.abs((b.memory_gb ?? 0) - total.memory_gb) < 1e-6 ? true : undefined;
      },
      timeoutMs,
      `hosts ${ids.join(', ')} to register and the service to count them (${total.n_procs} procs, ${total.memory_gb} GB)`,
      200,
    );
  }

  /**
   * Starts `flowgate submit FILE --wait --json --run-id ID` with a work dir of
   * its own (a repeat in the same dir would be served from the node cache);
   * resolves when it exits.
   */
  submit(file: string, runId: string, timeoutMs: number): Promise<SubmitResult> {
    const t0 = performance.now();
    const p = this.start(`submit ${runId}`, ['submit', file, '--wait', '--json', '--quiet', '--run-id', runId, '--work-dir', join(this.dir, `work-${runId}`)]);
    let stdout = '';
    p.child.stdout?.removeAllListeners('data');
    p.child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
    return new Promise((done) => {
      p.child.on('close', (code, signal) => {
        clearTimeout(timer);
        let summary: RunSummary | null = null;
        try {
          summary = JSON.parse(stdout) as RunSummary;
        } catch {
          summary = null;
        }
        const why = signal === 'SIGKILL' ? `killed after ${timeoutMs} ms without an end\n` : '';
        done({ code, summary, stderr: why + p.stderr(), processWallS: (performance.now() - t0) / 1000 });
      });
    });
  }

  /** `flowgate cancel RUN` (a run that should not be left waiting); its exit code. */
  cancel(runId: string): Promise<number | null> {
    const p = this.start(`cancel ${runId}`, ['cancel', runId, '--reason', 'bench: should have been refused']);
    return new Promise((done) => p.child.on('close', (code) => done(code)));
  }

  /** SIGKILLs every worker process of host `id`; returns their pids. */
  killHost(id: string): number[] {
    const pids: number[] = [];
    for (const p of this.procs) {
      if (!p.role.startsWith(`worker ${id}-w`) || p.child.pid === undefined) continue;
      p.child.kill('SIGKILL');
      pids.push(p.child.pid);
    }
    return pids;
  }

  /**
   * --second-kill: waits for a node placed again (attempt 2 or later) to run
   * on a live host, then SIGKILLs that host's workers: the node loses its
   * host a second time. Throws if the run ends first (`finished`).
   */
  async killHostOfReplaced(finished: () => boolean, timeoutMs: number): Promise<{ host: string; nodes: string[]; pids: number[]; at_ms: number }> {
    const attempt = (jobId: string): number => parseNodeJobId(jobId)?.attempt ?? 1;
    const target = await until(
      async () => {
        if (finished()) throw new Error('the run ended before a placed-again node ran');
        const w = (await this.workers()).find((x) => x.status === 'alive' && x.current.some((c) => attempt(c.job_id) >= 2));
        return w === undefined ? undefined : { host: w.host_id ?? w.host, nodes: w.current.map((c) => `${c.node_id}#${attempt(c.job_id)}`) };
      },
      timeoutMs,
      'a placed-again node to run',
    );
    const atMs = Date.now();
    return { ...target, pids: this.killHost(target.host), at_ms: atMs };
  }

  /** The `time` (ms) of the scheduler's first `host:lost` log line for `host`, if any. */
  hostLostAtMs(host: string): number | null {
    const s = this.procs.find((p) => p.role === 'scheduler');
    for (const line of (s?.stderr() ?? '').split('\n')) {
      if (!line.includes('host:lost') || !line.startsWith('{')) continue;
      try {
        const rec = JSON.parse(line) as { time?: number; host?: string };
        if (rec.host === host && typeof rec.time === 'number') return rec.time;
      } catch {
        // a partial line
      }
    }
    return null;
  }

  /** The scheduler's warnings and errors (pino level >= 40) counted by message, for the report. */
  schedulerWarnings(): Record<string, number> {
    const s = this.procs.find((p) => p.role === 'scheduler');
    const out: Record<string, number> = {};
    for (const line of (s?.stderr() ?? '').split('\n')) {
      if (!/^\{"level":[4-6]\d/.test(line)) continue;
      let msg = line.slice(0, 120);
      try {
        msg = String((JSON.parse(line) as { msg?: unknown }).msg);
      } catch {
        // a partial line: counted by its start
      }
      out[msg] = (out[msg] ?? 0) + 1;
    }
    return out;
  }

  /**
   * Stops everything (SIGTERM, SIGKILL after `graceMs`), kills node processes
   * left by killed workers, deletes the prefix's keys and the directory.
   * Idempotent; returns the number of keys deleted.
   */
  close(graceMs = 10_000): Promise<number> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<number> {
    const live = this.procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    const exited = live.map((p) => new Promise((r) => p.child.once('exit', r)));
    for (const p of live) p.child.kill('SIGTERM');
    const timer = setTimeout(() => live.forEach((p) => p.child.kill('SIGKILL')), graceMs);
    await Promise.all(exited);
    clearTimeout(timer);
    for (const pid of processesOfPrefix(this.prefix)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    let deleted = 0;
    try {
      deleted = await deletePrefix(this.redis, this.prefix);
    } finally {
      this.redis.disconnect();
      rmSync(this.dir, { recursive: true, force: true });
      openFleets.delete(this);
    }
    return deleted;
  }
}

/** Pids of this user's processes whose environment has `FLOWGATE_PREFIX=<prefix>` (node processes of our workers). */
export function processesOfPrefix(prefix: string): number[] {
  const want = `FLOWGATE_PREFIX=${prefix}\0`;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(want)) out.push(Number(entry));
    } catch {
      // not ours, or gone
    }
  }
  return out;
}
