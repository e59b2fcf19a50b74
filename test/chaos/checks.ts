/**
 * The chaos suite's checks, pure: what the episode's node processes wrote
 * (the ledger and the begin log), the run summaries and the Redis keys left
 * go in, violations come out. The I/O that gathers them is in harness.ts.
 *
 * Every node of an episode appends, when it starts, a begin line to the
 * begin log: `<run> <node> <pid> <worker pid> <start_ms>`; and, when its work
 * is done, one ledger line: `<run> <node> <exec> <pid> <start_ms> <end_ms>
 * <n_procs> <mem_gb>` — times stamped by the node's own process on the
 * worker's host, `exec` the node's count of its own starts in the run (nodes
 * are not told their attempt number), resources as granted
 * (`FLOWGATE_N_PROCS`, `FLOWGATE_MEM_GB`).
 */

/** Kinds of violation the suite reports. */
export const VIOLATION_KINDS = [
  'run-stuck', // a run did not end within the episode's deadline
  'not-final', // a node of an ended run is not in a final state, or the run is not
  'run-not-succeeded', // a run did not succeed, even after the retries a user would make
  'lost-node', // a node succeeded but its work was never done (no ledger line)
  'double-run', // a node's work done more often than its attempt history accounts for, or twice at once
  'unseen-execution', // a node started more often than its attempt history accounts for
  'over-budget', // held resources above the budget at some instant
  'orphan-process', // a node process still alive after the episode
  'orphan-worker', // a worker of a finished `flowgate run` still alive
  'redis-leftover', // a lock, claim, hold or in-flight job left after the runs ended
  'harness-error', // the episode could not be carried out (reported, never hidden)
] as const;
/** A kind of violation. */
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

/** One violation. */
export interface Violation {
  kind: ViolationKind;
  detail: string;
}

/** One ledger line: an execution that did its work. */
export interface LedgerLine {
  run: string;
  node: string;
  exec: number;
  pid: number;
  startMs: number;
  endMs: number;
  nProcs: number;
  memGb: number;
}

/** One begin line: an execution that started. */
export interface BeginLine {
  run: string;
  node: string;
  pid: number;
  workerPid: number;
  startMs: number;
}

/** Parses the ledger; lines that do not parse are returned apart (a torn write is a finding too). */
export function parseLedger(text: string): { lines: LedgerLine[]; malformed: string[] } {
  const lines: LedgerLine[] = [];
  const malformed: string[] = [];
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    const f = raw.trim().split(' ');
    const nums = f.slice(2).map(Number);
    if (f.length !== 8 || nums.some((n) => !Number.isFinite(n))) {
      malformed.push(raw);
      continue;
    }
    const [exec = 0, pid = 0, startMs = 0, endMs = 0, nProcs = 0, memGb = 0] = nums;
    lines.push({ run: f[0] ?? '', node: f[1] ?? '', exec, pid, startMs, endMs, nProcs, memGb });
  }
  return { lines, malformed };
}

/** Parses the begin log. */
export function parseBegins(text: string): { lines: BeginLine[]; malformed: string[] } {
  const lines: BeginLine[] = [];
  const malformed: string[] = [];
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    const f = raw.trim().split(' ');
    const nums = f.slice(2).map(Number);
    if (f.length !== 5 || nums.some((n) => !Number.isFinite(n))) {
      malformed.push(raw);
      continue;
    }
    const [pid = 0, workerPid = 0, startMs = 0] = nums;
    lines.push({ run: f[0] ?? '', node: f[1] ?? '', pid, workerPid, startMs });
  }
  return { lines, malformed };
}

/** What a run summary says of one node (the fields the checks read). */
export interface NodeAccount {
  run: string;
  id: string;
  status: string;
  attempt_history: ReadonlyArray<{ attempt: number; status: string }>;
  attempts: number;
}

const key = (run: string, node: string): string => `${run} ${node}`;

function groupBy<T extends { run: string; node: string }>(items: readonly T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item.run, item.node);
    const list = map.get(k);
    if (list === undefined) map.set(k, [item]);
    else list.push(item);
  }
  return map;
}

/** How the executions of the episode add up, besides the violations. */
export interface ExecutionTally {
  /** Ledger lines of nodes whose history shows a killed execution before the one that finished: documented reruns. */
  documentedReruns: number;
  executions: number;
}

/**
 * Ledger lines against attempts: every succeeded node did its work at least
 * once; no node did it more often than its history has succeeded plus killed
 * executions; no node started more often than its history has entries (a
 * cancelled execution is one); no
 * two executions of one node overlapped in time.
 */
export function checkExecutions(
  nodes: readonly NodeAccount[],
  ledger: readonly LedgerLine[],
  begins: readonly BeginLine[],
): { violations: Violation[]; tally: ExecutionTally } {
  const violations: Violation[] = [];
  const done = groupBy(ledger);
  const started = groupBy(begins);
  let documentedReruns = 0;
  for (const n of nodes) {
    const k = key(n.run, n.id);
    const lines = done.get(k) ?? [];
    const starts = started.get(k) ?? [];
    const count = (status: string): number => n.attempt_history.filter((a) => a.status === status).length;
    const [succeeded, killed, failed, cancelled] = [count('succeeded'), count('killed'), count('failed'), count('cancelled')];
    if (n.status === 'succeeded' && lines.length === 0) {
      violations.push({ kind: 'lost-node', detail: `${k}: succeeded, but no execution did its work` });
    }
    if (lines.length > succeeded + killed) {
      violations.push({ kind: 'double-run', detail: `${k}: work done ${lines.length} times, history has ${succeeded} succeeded + ${killed} killed executions` });
    } else if (lines.length > 1) {
      documentedReruns += lines.length - 1;
    }
    // Every start is an entry: it finished (succeeded, failed), was killed and ran again, or was stopped by a cancel.
    if (starts.length > succeeded + killed + failed + cancelled) {
      violations.push({
        kind: 'unseen-execution',
        detail: `${k}: started ${starts.length} times, history has ${n.attempt_history.length} entries (${n.attempt_history.map((a) => `${a.attempt}:${a.status}`).join(', ') || 'none'}; attempts ${n.attempts}, status ${n.status})`,
      });
    }
    const sorted = [...lines].sort((a, b) => a.startMs - b.startMs);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1];
      const cur = sorted[i];
      if (prev !== undefined && cur !== undefined && cur.startMs < prev.endMs) {
        violations.push({ kind: 'double-run', detail: `${k}: executions overlapped (pid ${prev.pid} ${prev.startMs}-${prev.endMs}, pid ${cur.pid} ${cur.startMs}-${cur.endMs})` });
      }
    }
  }
  const known = new Set(nodes.map((n) => key(n.run, n.id)));
  for (const [k, lines] of done) {
    if (!known.has(k)) violations.push({ kind: 'double-run', detail: `${k}: ${lines.length} ledger lines for a node no summary lists` });
  }
  return { violations, tally: { documentedReruns, executions: begins.length } };
}

/** An interval during which a node's process held resources. */
export interface HeldInterval {
  label: string;
  startMs: number;
  endMs: number;
  nProcs: number;
  memGb: number;
}

/** The peak of what was held at once, and the first instant above the budget. */
export interface BudgetReport {
  peak: { n_procs: number; mem_gb: number; concurrent: number };
  violations: Violation[];
}

/**
 * Sums the resources held at every instant (an end and a start at the same
 * millisecond do not overlap) and reports each stretch above the budget once.
 */
export function checkBudget(intervals: readonly HeldInterval[], budget: { n_procs: number; memory_gb: number }): BudgetReport {
  const events: Array<{ t: number; sign: 1 | -1; item: HeldInterval }> = [];
  for (const item of intervals) {
    if (!(item.endMs > item.startMs)) continue;
    events.push({ t: item.startMs, sign: 1, item }, { t: item.endMs, sign: -1, item });
  }
  events.sort((a, b) => a.t - b.t || a.sign - b.sign);
  const open = new Set<HeldInterval>();
  let procs = 0;
  let mem = 0;
  let over = false;
  const peak = { n_procs: 0, mem_gb: 0, concurrent: 0 };
  const violations: Violation[] = [];
  for (const e of events) {
    procs += e.sign * e.item.nProcs;
    mem = Math.round((mem + e.sign * e.item.memGb) * 1e6) / 1e6;
    if (e.sign === 1) open.add(e.item);
    else open.delete(e.item);
    peak.n_procs = Math.max(peak.n_procs, procs);
    peak.mem_gb = Math.max(peak.mem_gb, mem);
    peak.concurrent = Math.max(peak.concurrent, open.size);
    const now = procs > budget.n_procs || mem > budget.memory_gb + 1e-9;
    if (now && !over) {
      violations.push({
        kind: 'over-budget',
        detail: `at ${e.t}: ${procs} procs / ${mem} GB held, budget ${budget.n_procs} / ${budget.memory_gb}, by ${[...open].map((i) => i.label).join(', ')}`,
      });
    }
    over = now;
  }
  return { peak, violations };
}

/** A run's keys and hashes as found in Redis after it ended (the parts the key check reads). */
export interface RedisSnapshot {
  /** Every key, without the `<prefix>:` part. */
  keys: string[];
  /** Per run: its claims hash (node index -> claim JSON). */
  claims: Record<string, Record<string, string>>;
  /** Job hashes (`nodes:<id>`) that lack the fields every job has. */
  halfWrittenJobs: string[];
  /** Runs whose meta has no summary or no final status. */
  unfinishedMeta: string[];
}

/**
 * Keys a finished run leaves, as measured on a fault-free run of each mode:
 * the run list, the run's meta, states, remaining counters, node records,
 * claims and outcomes, the work dir's latest-run pointer, BullMQ's completed
 * and failed sets, event stream, id counter, meta, stalled-check stamp and
 * job hashes; in service mode also the leader lease, the service record and
 * the registered workers (they are still running).
 */
const CLEAN_KEYS: RegExp[] = [
  /^fg:runs$/,
  /^fg:run:[^:]+:(meta|states|remaining|nodes|claims|outcomes)$/,
  /^fg:workdir:[0-9a-f]+$/,
  // A run that waited for another run's node directory marked it; the mark
  // goes with the lock's release, or expires with the lock's lifetime.
  /^fg:dirlock:[0-9a-f]+:waited$/,
  /^fg:(leader|service|workers|submitted)$/,
  /^fg:worker:.+$/,
  // The shared queue and the host queues (`nodes@<host id>`) every worker listens to.
  /^nodes(@[^:]+)?:(completed|failed|events|id|meta|stalled-check|marker)$/,
  /^nodes(@[^:]+)?:[^:]+\.\d+\.\d+$/,
];

/** Keys that must not outlive a run, with what they mean. */
const LEFTOVERS: Array<[RegExp, string]> = [
  [/^fg:run:[^:]+:holds$/, 'resource holds'],
  [/^fg:run:[^:]+:admits$/, 'admissions'],
  [/^fg:run:[^:]+:lease$/, 'run lease'],
  [/^fg:run:[^:]+:waiting$/, 'ready-queue snapshot'],
  [/^fg:dirlock:[0-9a-f]+$/, 'node directory lock'],
  [/^nodes(@[^:]+)?:.+:lock$/, 'job lock'],
  [/^nodes(@[^:]+)?:(active|wait|paused|delayed|prioritized|waiting-children|stalled)$/, 'jobs in flight'],
];

/** Redis after every run of the episode ended, against what a clean run leaves. */
export function checkRedisKeys(snapshot: RedisSnapshot): Violation[] {
  const violations: Violation[] = [];
  for (const k of snapshot.keys) {
    const leftover = LEFTOVERS.find(([re]) => re.test(k));
    if (leftover !== undefined) violations.push({ kind: 'redis-leftover', detail: `${k}: ${leftover[1]} left after the run ended` });
    else if (!CLEAN_KEYS.some((re) => re.test(k))) violations.push({ kind: 'redis-leftover', detail: `${k}: a key no clean run leaves` });
  }
  for (const [run, claims] of Object.entries(snapshot.claims)) {
    for (const [node, raw] of Object.entries(claims)) {
      let state: unknown;
      try {
        state = (JSON.parse(raw) as { state?: unknown }).state;
      } catch {
        state = 'unparseable';
      }
      if (state !== 'succeeded' && state !== 'failed') violations.push({ kind: 'redis-leftover', detail: `run ${run} node #${node}: claim left ${String(state)}` });
    }
  }
  for (const job of snapshot.halfWrittenJobs) violations.push({ kind: 'redis-leftover', detail: `${job}: half-written job hash` });
  for (const run of snapshot.unfinishedMeta) violations.push({ kind: 'redis-leftover', detail: `run ${run}: meta without a final status and summary` });
  return violations;
}

/** Nodes that are not in a final state, from `flowgate status --json`. */
export function checkFinalStates(run: string, status: string, nodes: ReadonlyArray<{ id: string; state: string }>): Violation[] {
  const finals = new Set(['succeeded', 'failed', 'skipped', 'cached', 'cancelled']);
  const violations: Violation[] = [];
  if (!['succeeded', 'failed', 'cancelled'].includes(status)) violations.push({ kind: 'not-final', detail: `run ${run} is ${status}` });
  for (const n of nodes) if (!finals.has(n.state)) violations.push({ kind: 'not-final', detail: `run ${run} node ${n.id} is ${n.state}` });
  return violations;
}
