/**
 * Injecting one planned fault into a running episode and healing it: signals
 * to workers, to `flowgate run` and to the leading scheduler service; Redis
 * stopped and started again; the proxy delaying, stalling or cutting the
 * connections to Redis. Continuing afterwards as a user would (resume, retry,
 * restarting a service) is the drivers' business (drivers.ts).
 */
import type { NetworkFaultProxy } from '../helpers/network-fault-proxy.js';
import type { PrivateRedis } from '../helpers/private-redis.js';
import type { BeginLine, LedgerLine } from './checks.js';
import type { FaultKind, PlannedFault } from './plan.js';
import { signalPid } from './processes.js';

/** What a fault can be aimed at: the driver of the episode's runs. */
export interface FaultTarget {
  /** Worker processes alive now. */
  workerPids(): number[];
  /** The `flowgate run` / `resume` / `retry` process driving the run now (run mode). */
  runProcessPid(): number | undefined;
  /** The pid of the leading scheduler service, when it is one of the episode's (service mode). */
  leaderPid(): Promise<number | undefined>;
}

/** What the fault injector needs of the episode. */
export interface FaultContext {
  target: FaultTarget;
  redis: PrivateRedis;
  proxy: NetworkFaultProxy;
  /** The begin and ledger lines written so far. */
  progress(): { begins: BeginLine[]; ledger: LedgerLine[] };
}

/** One fault as it was injected. */
export interface FaultRecord {
  kind: FaultKind;
  /** Injected (epoch ms). */
  atMs: number;
  /** Healed: Redis back, proxy transparent again (= atMs for one-shot faults). */
  healedMs: number;
  /** What it hit. */
  target: string;
  /** Why it was not injected (nothing to aim at); absent when it was. */
  skipped?: string;
}

/** Executions that started and have not written their ledger line yet. */
export function openExecutions(begins: readonly BeginLine[], ledger: readonly LedgerLine[]): BeginLine[] {
  const finished = new Set(ledger.map((l) => `${l.run} ${l.node} ${l.pid}`));
  return begins.filter((b) => !finished.has(`${b.run} ${b.node} ${b.pid}`));
}

function aimAtWorker(ctx: FaultContext): { pid: number; running: string[] } | undefined {
  const workers = ctx.target.workerPids();
  if (workers.length === 0) return undefined;
  const { begins, ledger } = ctx.progress();
  const open = openExecutions(begins, ledger).filter((b) => workers.includes(b.workerPid));
  const busy = open[open.length - 1];
  const pid = busy?.workerPid ?? workers[0] ?? -1;
  return { pid, running: open.filter((b) => b.workerPid === pid).map((b) => `${b.run}/${b.node}`) };
}

/** Injects `fault`, waits out its duration and heals it. */
export async function injectFault(fault: PlannedFault, ctx: FaultContext): Promise<FaultRecord> {
  const atMs = Date.now();
  const record = (target: string, skipped?: string): FaultRecord => ({ kind: fault.kind, atMs, healedMs: Date.now(), target, ...(skipped !== undefined ? { skipped } : {}) });
  switch (fault.kind) {
    case 'worker-kill':
    case 'worker-term': {
      const aim = aimAtWorker(ctx);
      if (aim === undefined) return record('', 'no worker alive');
      const signal = fault.kind === 'worker-kill' ? 'SIGKILL' : 'SIGTERM';
      if (!signalPid(aim.pid, signal)) return record(`worker ${aim.pid}`, 'worker gone');
      return record(`worker ${aim.pid} running [${aim.running.join(' ')}]`);
    }
    case 'run-kill':
    case 'run-term': {
      const pid = ctx.target.runProcessPid();
      if (pid === undefined) return record('', 'no run process alive');
      signalPid(pid, fault.kind === 'run-kill' ? 'SIGKILL' : 'SIGTERM');
      return record(`run process ${pid}`);
    }
    case 'leader-kill':
    case 'leader-term': {
      const pid = await ctx.target.leaderPid();
      if (pid === undefined) return record('', 'no leader of ours');
      signalPid(pid, fault.kind === 'leader-kill' ? 'SIGKILL' : 'SIGTERM');
      return record(`leader ${pid}`);
    }
    case 'redis-restart':
    case 'redis-outage-long': {
      await ctx.redis.downFor(fault.durationMs, fault.signal);
      return record(`redis ${fault.signal}, down ${Date.now() - atMs} ms`);
    }
    case 'proxy-delay':
      await ctx.proxy.delayFor(fault.delayMs, fault.durationMs);
      return record(`+${fault.delayMs} ms per chunk for ${fault.durationMs} ms`);
    case 'proxy-stall':
      await ctx.proxy.stallFor(fault.durationMs);
      return record(`stalled ${fault.durationMs} ms`);
    case 'proxy-cut':
      ctx.proxy.cut();
      return record('every connection reset');
  }
}

/**
 * How long the work each fault interrupted took to come back. Every execution
 * that never wrote its ledger line died during the last fault injected before
 * it was last seen alive (give or take a watch period); a fault's figure is
 * the largest delay from the fault to the next start of the node of an
 * execution that died during it. Undefined for a fault that killed none.
 */
export function rerunDelays(
  faults: readonly FaultRecord[],
  begins: readonly BeginLine[],
  ledger: readonly LedgerLine[],
  lastSeenMs: (pid: number) => number | undefined,
  watchPeriodMs = 250,
): Array<number | undefined> {
  const delays: Array<number | undefined> = faults.map(() => undefined);
  for (const k of openExecutions(begins, ledger)) {
    const last = lastSeenMs(k.pid);
    if (last === undefined) continue;
    let at = -1;
    faults.forEach((f, i) => {
      if (f.skipped === undefined && f.atMs >= k.startMs && f.atMs <= last + watchPeriodMs) at = i;
    });
    const fault = faults[at];
    if (fault === undefined) continue;
    const next = begins.filter((b) => b.run === k.run && b.node === k.node && b.startMs > fault.atMs).sort((a, b) => a.startMs - b.startMs)[0];
    if (next === undefined) continue;
    delays[at] = Math.max(delays[at] ?? 0, next.startMs - fault.atMs);
  }
  return delays;
}

/** Time from the fault's healing to the next node starting or finishing (undefined: nothing happened after it). */
export function resumeDelayMs(fault: FaultRecord, begins: readonly BeginLine[], ledger: readonly LedgerLine[]): number | undefined {
  const after = [...begins.map((b) => b.startMs), ...ledger.map((l) => l.endMs)].filter((t) => t >= fault.healedMs);
  return after.length === 0 ? undefined : Math.min(...after) - fault.healedMs;
}
