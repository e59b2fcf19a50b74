/**
 * Drive an episode's runs to their end the way a user would, whatever the
 * faults do: under `flowgate run`, `flowgate resume` after the run process
 * died and `flowgate retry` after it was cancelled or failed; in service
 * mode, schedulers and workers restarted whenever one exits (as a container
 * restart policy does) and `flowgate retry` for a run that ended failed.
 */
import { Redis } from 'ioredis';
import { holderIsDeadHere } from '../../src/shared/lease-holder.js';
import { answersPing, type PrivateRedis } from '../helpers/private-redis.js';
import { waitFor } from '../helpers/wait-for.js';
import type { FaultTarget } from './faults.js';
import { signalPid, startFlowgate, workersUnder, type FlowgateProcess } from './processes.js';

/** Where and how an episode's flowgate processes run. */
export interface DriverSettings {
  prefix: string;
  /** The proxy's URL: every flowgate process talks to Redis through it. */
  proxyUrl: string;
  redis: PrivateRedis;
  workDir: string;
  budget: { n_procs: number; memory_gb: number };
  /** Runs to drive: id and workflow file. */
  runs: Array<{ id: string; workflow: string }>;
  /** Extra flags for `run` / `resume` / `retry` (outage limit, lock settings). */
  runFlags: string[];
  /** Extra flags for `flowgate worker` (lock settings). */
  workerFlags: string[];
  /** A run that ended failed or cancelled is retried at most this often. */
  maxRetries: number;
  /** The run lease's time to live: a lease nobody let go is gone this long after its last renewal. */
  runLeaseMs: number;
  log(line: string): void;
}

const MAX_CONTINUATIONS = 20;
/** Longest wait for the private Redis to answer again after a fault stopped it. */
const REDIS_BACK_MS = 120_000;
/** Longest wait for the next run of a service to end before the driver looks again (it stops sooner when closed). */
const RUN_END_MS = 30_000;

/** A driver: the fault target plus the run lifecycle the episode waits on. */
export interface Driver extends FaultTarget {
  start(): Promise<void>;
  /** Resolves once every run has ended for good (continuations included). */
  whenFinished(): Promise<void>;
  /** What the driver did to continue runs (`resume after SIGKILL`, ...). */
  readonly continuations: string[];
  /** Stops every process it started (node processes of killed workers are the launcher's business). */
  close(): Promise<void>;
}

/** A Redis client straight to the private Redis (never through the proxy), giving up fast while it is down. */
function directClient(redis: PrivateRedis): Redis {
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1, commandTimeout: 2000, retryStrategy: () => 250, lazyConnect: true });
  client.on('error', () => undefined);
  return client;
}

/** Until the private Redis answers (a fault may have stopped it); gives up quietly after {@link REDIS_BACK_MS}. */
async function redisUp(redis: PrivateRedis): Promise<void> {
  await waitFor(async () => redis.running && (await answersPing(redis.port)), REDIS_BACK_MS, 'the private Redis to answer').catch(() => undefined);
}

/** The stored status of run `id`: `missing` when it was never stored, undefined when Redis cannot say now. */
async function storedStatus(client: Redis, prefix: string, id: string): Promise<string | undefined> {
  try {
    return (await client.hget(`${prefix}:fg:run:${id}:meta`, 'status')) ?? 'missing';
  } catch {
    return undefined;
  }
}

async function stop(p: FlowgateProcess, graceMs: number): Promise<void> {
  if (!p.alive()) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.done;
  clearTimeout(timer);
}

/** One run under `flowgate run`, continued with `resume` and `retry`. */
export class RunDriver implements Driver {
  readonly continuations: string[] = [];
  private current: FlowgateProcess | undefined;
  private finished: Promise<void> | undefined;
  private closing = false;
  private readonly client: Redis;

  constructor(private readonly s: DriverSettings) {
    this.client = directClient(s.redis);
  }

  private get run(): { id: string; workflow: string } {
    const run = this.s.runs[0];
    if (run === undefined) throw new Error('RunDriver needs one run');
    return run;
  }

  private launch(command: 'run' | 'resume' | 'retry'): FlowgateProcess {
    // `run` again after a `run` killed before it stored anything: the same id, which was never taken.
    const s = this.s;
    const what = command === 'run' ? [this.run.workflow, '--run-id', this.run.id, '--n-procs', String(s.budget.n_procs), '--memory-gb', String(s.budget.memory_gb), '--work-dir', s.workDir] : [this.run.id];
    const p = startFlowgate(command, [command, ...what, '--json', '--quiet', '--prefix', s.prefix, '--workers', '2', ...s.runFlags], { REDIS_URL: s.proxyUrl });
    this.current = p;
    return p;
  }

  start(): Promise<void> {
    this.finished = this.supervise(this.launch('run'));
    return Promise.resolve();
  }

  private async supervise(first: FlowgateProcess): Promise<void> {
    let proc = first;
    let retries = 0;
    for (let n = 0; n < MAX_CONTINUATIONS; n++) {
      const exit = await proc.done;
      if (this.closing) return;
      await redisUp(this.s.redis);
      const status = await storedStatus(this.client, this.s.prefix, this.run.id);
      const how = `${proc.label} ended ${exit.signal ?? `exit ${exit.code}`} with the run ${status ?? 'unknown'}`;
      if (status === 'succeeded') return;
      // A retry killed by a fault is not one of the retries a user makes: they would retry again.
      if (proc.label.startsWith('retry') && exit.signal !== null && retries > 0) retries--;
      if ((status === 'failed' || status === 'cancelled') && retries >= this.s.maxRetries) return;
      // Killed before it stored the run (a run is stored whole or not at all): start it again.
      const next = status === 'failed' || status === 'cancelled' ? 'retry' : status === 'missing' ? 'run' : 'resume';
      await this.leaseFreeFor(next);
      if (next === 'retry') retries++;
      this.continuations.push(`${next} after ${proc.label} ${exit.signal ?? `exit ${exit.code}`}`);
      this.s.log(`${how}: ${next}`);
      proc = this.launch(next);
    }
    this.s.log(`gave up after ${MAX_CONTINUATIONS} continuations`);
  }

  /**
   * Until `next` can take the run's lease, so that it is not refused at once:
   * `run` and `resume` displace a holder that died on this host, `retry`
   * needs the lease gone (let go, or expired {@link DriverSettings.runLeaseMs}
   * after a holder that could not let go, as while Redis was away).
   */
  private async leaseFreeFor(next: 'run' | 'resume' | 'retry'): Promise<void> {
    const key = `${this.s.prefix}:fg:run:${this.run.id}:lease`;
    await waitFor(
      async () => {
        const holder = await this.client.get(key);
        return holder === null || (next !== 'retry' && holderIsDeadHere(holder));
      },
      this.s.runLeaseMs + 2000,
      `the lease of run ${this.run.id} to be free for ${next}`,
    ).catch(() => undefined);
  }

  whenFinished(): Promise<void> {
    return this.finished ?? Promise.resolve();
  }

  workerPids(): number[] {
    return workersUnder(this.s.prefix);
  }

  runProcessPid(): number | undefined {
    return this.current?.alive() === true ? this.current.pid : undefined;
  }

  leaderPid(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.current !== undefined) await stop(this.current, 5000);
    this.client.disconnect();
  }
}

/**
 * A service process kept running: started again whenever it exits, once the
 * private Redis answers (a service started while a fault keeps Redis away
 * would only exit again), until it is stopped.
 */
class Kept {
  proc: FlowgateProcess;
  private stopping = false;

  constructor(
    private readonly label: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly redis: PrivateRedis,
  ) {
    this.proc = this.launch();
  }

  private launch(): FlowgateProcess {
    const p = startFlowgate(this.label, this.args, this.env);
    void p.done.then(async () => {
      if (this.stopping) return;
      await redisUp(this.redis);
      if (this.stopping) return;
      this.proc = this.launch();
    });
    return p;
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    await stop(this.proc, graceMs);
  }
}

/** Runs submitted to `flowgate scheduler` services (a leader and a standby) and `flowgate worker`s. */
export class ServiceDriver implements Driver {
  readonly continuations: string[] = [];
  private readonly schedulers: Kept[] = [];
  private readonly workers: Kept[] = [];
  private finished: Promise<void> | undefined;
  private closing = false;
  private readonly client: Redis;

  constructor(private readonly s: DriverSettings) {
    this.client = directClient(s.redis);
  }

  private env(): NodeJS.ProcessEnv {
    return { REDIS_URL: this.s.proxyUrl, FLOWGATE_PREFIX: this.s.prefix };
  }

  async start(): Promise<void> {
    const s = this.s;
    const schedulerEnv = { ...this.env(), FLOWGATE_N_PROCS: String(s.budget.n_procs), FLOWGATE_MEMORY_GB: String(s.budget.memory_gb), FLOWGATE_WORK_DIR: s.workDir };
    for (let i = 0; i < 2; i++) this.schedulers.push(new Kept(`scheduler#${i}`, ['scheduler'], schedulerEnv, s.redis));
    for (let i = 0; i < 2; i++) {
      this.workers.push(new Kept(`worker#${i}`, ['worker', '--concurrency', String(s.budget.n_procs), '--heartbeat-ms', '1000', ...s.workerFlags], this.env(), s.redis));
    }
    for (const run of s.runs) {
      const p = startFlowgate('submit', ['submit', run.workflow, '--run-id', run.id, '--quiet'], this.env());
      const exit = await p.done;
      if (exit.code !== 0) throw new Error(`submit ${run.id} failed (${exit.code ?? exit.signal}): ${p.stderr()}`);
    }
    this.finished = this.supervise();
  }

  private async supervise(): Promise<void> {
    const retries = new Map<string, number>();
    const open = new Set(this.s.runs.map((r) => r.id));
    while (open.size > 0 && !this.closing) {
      await this.untilOneEnds(open);
      for (const id of [...open]) {
        const status = await storedStatus(this.client, this.s.prefix, id);
        if (status === 'succeeded') open.delete(id);
        if (status !== 'failed' && status !== 'cancelled') continue;
        const n = retries.get(id) ?? 0;
        if (n >= this.s.maxRetries) {
          open.delete(id);
          continue;
        }
        retries.set(id, n + 1);
        this.continuations.push(`retry ${id} after it ended ${status}`);
        this.s.log(`run ${id} ended ${status}: retry`);
        const p = startFlowgate('retry', ['retry', id, '--quiet'], this.env());
        const exit = await p.done;
        if (exit.code !== 0) this.s.log(`retry ${id} exited ${exit.code ?? exit.signal}: ${p.stderr().slice(-500)}`);
      }
    }
  }

  /** Until one of the `open` runs has ended (succeeded, failed or cancelled) or the driver closes. */
  private async untilOneEnds(open: ReadonlySet<string>): Promise<void> {
    const ended = async (id: string): Promise<boolean> => ['succeeded', 'failed', 'cancelled'].includes((await storedStatus(this.client, this.s.prefix, id)) ?? '');
    await waitFor(
      async () => {
        if (this.closing) return true;
        for (const id of open) if (await ended(id)) return true;
        return false;
      },
      RUN_END_MS,
      'a run to end',
    ).catch(() => undefined);
  }

  whenFinished(): Promise<void> {
    return this.finished ?? Promise.resolve();
  }

  workerPids(): number[] {
    return this.workers.filter((w) => w.proc.alive()).map((w) => w.proc.pid);
  }

  runProcessPid(): number | undefined {
    return undefined;
  }

  async leaderPid(): Promise<number | undefined> {
    let holder: string | null;
    try {
      holder = await this.client.get(`${this.s.prefix}:fg:leader`);
    } catch {
      return undefined;
    }
    const pid = Number(holder?.split(':').pop());
    return this.schedulers.some((k) => k.proc.alive() && k.proc.pid === pid) ? pid : undefined;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.finished;
    await Promise.all([...this.schedulers, ...this.workers].map((k) => k.stop(15_000)));
    this.client.disconnect();
  }
}

/** Kills what is left of a run's fleet (its workers carry the prefix on their command line). */
export function killFleet(prefix: string): number {
  let killed = 0;
  for (const pid of workersUnder(prefix)) if (signalPid(pid, 'SIGKILL')) killed++;
  return killed;
}
