/**
 * One chaos episode, from its seed to its verdict: a private redis-server
 * behind a proxy, the planned workflows written with nodes that record their
 * executions, a driver that runs them to their end as a user would, the
 * planned faults injected one after another, then every check.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { faultGap } from '../helpers/fault-gap.js';
import { NetworkFaultProxy } from '../helpers/network-fault-proxy.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { waitFor } from '../helpers/wait-for.js';
import {
  checkBudget,
  checkExecutions,
  checkFinalStates,
  checkRedisKeys,
  parseBegins,
  parseLedger,
  type HeldInterval,
  type NodeAccount,
  type RedisSnapshot,
  type Violation,
} from './checks.js';
import { killFleet, RunDriver, ServiceDriver, type Driver } from './drivers.js';
import { injectFault, openExecutions, rerunDelays, resumeDelayMs, type FaultRecord } from './faults.js';
import { planEpisode, type EpisodePlan, type PlanLimits, type PlanOptions, type PlannedNode } from './plan.js';
import { nodeProcesses, ProcessWatch, signalPid, startFlowgate, workersUnder } from './processes.js';
import { loadRunSummary } from '../../src/scheduler/summary-load.js';

/** Settings of an episode. */
export interface EpisodeOptions extends PlanOptions {
  /** Limits the plan respects and the flags given to flowgate (defaults: 4 s outage limit, 15 s run lease, 30 s lock). */
  limits?: Partial<PlanLimits>;
  /** `--stalled-interval-ms` for every worker (default: flowgate's, 30 s). */
  stalledIntervalMs?: number;
  /** The episode's runs must end within this long after the last fault (default 240 s). */
  timeoutMs?: number;
  /** Keep the episode's directory (always kept when something was violated). */
  keepDir?: boolean;
  log?: (line: string) => void;
}

/** A fault as injected, with how long the work it interrupted took to come back. */
export interface FaultOutcome extends FaultRecord {
  /** From the fault to the next start of the nodes whose execution it killed. */
  rerun_ms?: number;
  /** From the fault's healing to the next node starting or finishing. */
  resume_ms?: number;
}

/** The verdict of one episode. */
export interface EpisodeResult {
  seed: number;
  mode: EpisodePlan['mode'];
  nodes: number;
  wall_ms: number;
  faults: FaultOutcome[];
  violations: Violation[];
  continuations: string[];
  runs: Array<{ id: string; status: string }>;
  executions: number;
  documented_reruns: number;
  peak: { n_procs: number; mem_gb: number; concurrent: number };
  budget: EpisodePlan['budget'];
  /** The episode's directory when it was kept. */
  dir?: string;
}

const DEFAULT_LIMITS: PlanLimits = { redisOutageMs: 4000, runLeaseMs: 15_000, lockDurationMs: 30_000 };

/** The node's command: a begin line, the work (a sleep), a first failure if flaky, the ledger line. */
function nodeCommand(n: PlannedNode): string {
  return [
    's=$(date +%s%3N)',
    'echo "$FLOWGATE_RUN_ID $FLOWGATE_NODE_ID $$ $FLOWGATE_WORKER_PID $s" >> "$CHAOS_BEGINS"',
    'x=$(grep -c "^$FLOWGATE_RUN_ID $FLOWGATE_NODE_ID " "$CHAOS_BEGINS" || true)',
    `sleep ${(n.sleepMs / 1000).toFixed(3)}`,
    ...(n.flaky ? ['if [ ! -e "$FLOWGATE_NODE_DIR/.chaos-failed" ]; then : > "$FLOWGATE_NODE_DIR/.chaos-failed"; exit 7; fi'] : []),
    'e=$(date +%s%3N)',
    'echo "$FLOWGATE_RUN_ID $FLOWGATE_NODE_ID $x $$ $s $e $FLOWGATE_N_PROCS $FLOWGATE_MEM_GB" >> "$CHAOS_LEDGER"',
  ].join('\n');
}

function writeWorkflows(plan: EpisodePlan, dir: string, env: Record<string, string>): string[] {
  return plan.workflows.map((wf) => {
    const path = join(dir, `${wf.name}.json`);
    const nodes = wf.nodes.map((n) => ({
      id: n.id,
      needs: n.needs,
      n_procs: n.n_procs,
      mem_gb: n.mem_gb,
      env,
      command: nodeCommand(n),
      ...(n.flaky ? { retries: 1 } : {}),
    }));
    writeFileSync(path, JSON.stringify({ name: wf.name, nodes }, null, 2));
    return path;
  });
}

async function snapshotRedis(client: Redis, prefix: string, runIds: readonly string[]): Promise<RedisSnapshot> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch.map((k) => k.slice(prefix.length + 1)));
  } while (cursor !== '0');
  const claims: RedisSnapshot['claims'] = {};
  const unfinishedMeta: string[] = [];
  for (const id of runIds) {
    claims[id] = await client.hgetall(`${prefix}:fg:run:${id}:claims`);
    const [status, summary] = await client.hmget(`${prefix}:fg:run:${id}:meta`, 'status', 'summary');
    if (!['succeeded', 'failed', 'cancelled'].includes(status ?? '') || summary === null) unfinishedMeta.push(id);
  }
  const halfWrittenJobs: string[] = [];
  for (const k of keys.filter((x) => /^nodes:[^:]+\.\d+\.\d+$/.test(x))) {
    const [name, data] = await client.hmget(`${prefix}:${k}`, 'name', 'data');
    if (name === null || data === null) halfWrittenJobs.push(k);
  }
  return { keys: keys.sort(), claims, halfWrittenJobs, unfinishedMeta };
}

/** Runs the episode seeded with `seed` and checks it. */
export async function runEpisode(seed: number, options: EpisodeOptions = {}): Promise<EpisodeResult> {
  const log = options.log ?? (() => undefined);
  const limits: PlanLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const plan = planEpisode(seed, limits, options);
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), `fg-chaos-${seed}-`));
  const tag = `chaos-${seed}-${process.pid}-${started}`;
  const prefix = tag;
  const ledgerPath = join(dir, 'ledger');
  const beginsPath = join(dir, 'begins');
  writeFileSync(ledgerPath, '');
  writeFileSync(beginsPath, '');
  mkdirSync(join(dir, 'redis'));
  const workflows = writeWorkflows(plan, dir, { CHAOS_TAG: tag, CHAOS_LEDGER: ledgerPath, CHAOS_BEGINS: beginsPath });
  const runs = workflows.map((workflow, i) => ({ id: `${tag}-r${i}`, workflow }));
  const violations: Violation[] = [];
  const faults: FaultRecord[] = [];
  const progress = (): { begins: ReturnType<typeof parseBegins>['lines']; ledger: ReturnType<typeof parseLedger>['lines'] } => ({
    begins: parseBegins(readFileSync(beginsPath, 'utf8')).lines,
    ledger: parseLedger(readFileSync(ledgerPath, 'utf8')).lines,
  });

  const redis = await PrivateRedis.create(join(dir, 'redis'));
  await redis.start();
  const proxy = new NetworkFaultProxy(redis.port);
  await proxy.start();
  const watch = new ProcessWatch(tag);
  watch.start();
  const lockFlags = [
    ...(limits.lockDurationMs !== DEFAULT_LIMITS.lockDurationMs ? ['--lock-duration-ms', String(limits.lockDurationMs)] : []),
    ...(options.stalledIntervalMs !== undefined ? ['--stalled-interval-ms', String(options.stalledIntervalMs)] : []),
  ];
  const settings = {
    prefix,
    proxyUrl: proxy.url,
    redis,
    workDir: join(dir, 'work'),
    budget: plan.budget,
    runs,
    runFlags: ['--redis-outage-ms', String(limits.redisOutageMs), ...lockFlags],
    workerFlags: lockFlags,
    maxRetries: 2,
    runLeaseMs: limits.runLeaseMs,
    log: (line: string) => log(`[${seed}] ${line}`),
  };
  const driver: Driver = plan.mode === 'run' ? new RunDriver(settings) : new ServiceDriver(settings);
  const client = new Redis(redis.url, { maxRetriesPerRequest: 3, lazyConnect: true });
  client.on('error', () => undefined);
  let done = false;
  try {
    await driver.start();
    const finished = driver.whenFinished().then(() => (done = true));
    for (const fault of plan.faults) {
      await faultGap(fault.afterMs, finished);
      if (done) {
        faults.push({ kind: fault.kind, atMs: Date.now(), healedMs: Date.now(), target: '', skipped: 'the runs had ended' });
        continue;
      }
      const record = await injectFault(fault, { target: driver, redis, proxy, progress });
      settings.log(`${record.kind}${record.skipped !== undefined ? ` skipped: ${record.skipped}` : `: ${record.target}`}`);
      faults.push(record);
    }
    const timeoutMs = options.timeoutMs ?? 240_000;
    // A driver that failed rejects `finished`: a harness error, as during the faults.
    await Promise.race([finished, waitFor(() => done, timeoutMs, 'the runs to end').catch(() => undefined)]);
    if (!done) violations.push({ kind: 'run-stuck', detail: `runs not ended ${timeoutMs} ms after the last fault` });
    settings.log(`runs ended after ${Date.now() - started} ms`);

    // Node processes and fleet workers must be gone once the runs ended.
    const leftovers = await waitFor(() => nodeProcesses(tag).length === 0, 10_000).then(() => [], () => nodeProcesses(tag));
    for (const p of leftovers) {
      violations.push({ kind: 'orphan-process', detail: `pid ${p.pid} of ${p.run}/${p.node} alive after the runs ended: ${p.command}` });
      signalPid(p.pid, 'SIGKILL');
    }
    if (plan.mode === 'run') {
      const workers = await waitFor(() => workersUnder(prefix).length === 0, 20_000).then(() => [], () => workersUnder(prefix));
      for (const pid of workers) violations.push({ kind: 'orphan-worker', detail: `worker ${pid} alive 20 s after the run ended` });
      killFleet(prefix);
    }

    settings.log(`processes checked after ${Date.now() - started} ms`);
    await client.connect();
    let snapshot = await snapshotRedis(client, prefix, runs.map((r) => r.id));
    // The last writes of a run that just ended may be a moment behind its status.
    await waitFor(async () => {
      snapshot = await snapshotRedis(client, prefix, runs.map((r) => r.id));
      return checkRedisKeys(snapshot).length === 0;
    }, 5000).catch(() => undefined);
    violations.push(...checkRedisKeys(snapshot));

    const accounts: NodeAccount[] = [];
    const runStates: Array<{ id: string; status: string }> = [];
    for (const run of runs) {
      const status = startFlowgate('status', ['status', run.id, '--json'], { REDIS_URL: redis.url, FLOWGATE_PREFIX: prefix });
      const exit = await status.done;
      if (exit.code !== 0) {
        violations.push({ kind: 'harness-error', detail: `status ${run.id} exited ${exit.code ?? exit.signal}: ${status.stderr().slice(-300)}` });
        continue;
      }
      const detail = JSON.parse(status.stdout()) as { status: string; nodes: Array<{ id: string; state: string }> };
      runStates.push({ id: run.id, status: detail.status });
      violations.push(...checkFinalStates(run.id, detail.status, detail.nodes));
      if (detail.status !== 'succeeded' && done) violations.push({ kind: 'run-not-succeeded', detail: `run ${run.id} ended ${detail.status} after ${driver.continuations.length} continuations` });
      const raw = await client.hget(`${prefix}:fg:run:${run.id}:meta`, 'summary');
      const summary = (await loadRunSummary(client, prefix, run.id, raw)) as { nodes: Array<Omit<NodeAccount, 'run'>> } | undefined;
      for (const n of summary?.nodes ?? []) accounts.push({ ...n, run: run.id });
    }

    const ledgerText = parseLedger(readFileSync(ledgerPath, 'utf8'));
    const beginText = parseBegins(readFileSync(beginsPath, 'utf8'));
    for (const line of [...ledgerText.malformed, ...beginText.malformed]) violations.push({ kind: 'double-run', detail: `torn line (two writers at once?): ${line}` });
    // A run that never ended has no summary to hold its executions against (it is reported as not final).
    const summarized = new Set(accounts.map((a) => a.run));
    const executions = checkExecutions(
      accounts,
      ledgerText.lines.filter((l) => summarized.has(l.run)),
      beginText.lines.filter((b) => summarized.has(b.run)),
    );
    violations.push(...executions.violations);

    const sizes = new Map(plan.workflows.flatMap((wf, i) => wf.nodes.map((n) => [`${runs[i]?.id} ${n.id}`, n] as const)));
    const held: HeldInterval[] = ledgerText.lines.map((l) => ({ label: `${l.run}/${l.node}#${l.exec}`, startMs: l.startMs, endMs: l.endMs, nProcs: l.nProcs, memGb: l.memGb }));
    // Executions killed before their ledger line: held from their start until last seen alive.
    for (const b of openExecutions(beginText.lines, ledgerText.lines)) {
      const n = sizes.get(`${b.run} ${b.node}`);
      const end = watch.lastSeenMs(b.pid);
      if (n !== undefined && end !== undefined) held.push({ label: `${b.run}/${b.node} (killed, pid ${b.pid})`, startMs: b.startMs, endMs: end, nProcs: n.n_procs, memGb: n.mem_gb });
    }
    const budget = checkBudget(held, plan.budget);
    violations.push(...budget.violations);

    const reruns = rerunDelays(faults, beginText.lines, ledgerText.lines, (pid) => watch.lastSeenMs(pid), watch.periodMs);
    const outcomes: FaultOutcome[] = faults.map((f, i) => {
      if (f.skipped !== undefined) return f;
      const rerun = reruns[i];
      const resume = resumeDelayMs(f, beginText.lines, ledgerText.lines);
      return { ...f, ...(rerun !== undefined ? { rerun_ms: rerun } : {}), ...(resume !== undefined ? { resume_ms: resume } : {}) };
    });
    return {
      seed,
      mode: plan.mode,
      nodes: plan.workflows.reduce((sum, wf) => sum + wf.nodes.length, 0),
      wall_ms: Date.now() - started,
      faults: outcomes,
      violations,
      continuations: driver.continuations,
      runs: runStates,
      executions: executions.tally.executions,
      documented_reruns: executions.tally.documentedReruns,
      peak: budget.peak,
      budget: plan.budget,
      ...(options.keepDir === true || violations.length > 0 ? { dir } : {}),
    };
  } catch (err) {
    violations.push({ kind: 'harness-error', detail: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    return {
      seed, mode: plan.mode, nodes: 0, wall_ms: Date.now() - started, faults, violations, continuations: driver.continuations, runs: [],
      executions: 0, documented_reruns: 0, peak: { n_procs: 0, mem_gb: 0, concurrent: 0 }, budget: plan.budget, dir,
    };
  } finally {
    watch.stop();
    await driver.close().catch(() => undefined);
    killFleet(prefix);
    for (const p of nodeProcesses(tag)) signalPid(p.pid, 'SIGKILL');
    client.disconnect();
    await proxy.close();
    await redis.stop('SIGKILL');
    if (options.keepDir !== true && violations.length === 0) rmSync(dir, { recursive: true, force: true });
  }
}
