/**
 * `flowgate status [RUN_ID]`: the runs under a prefix, or one run with its
 * nodes, ready queue and failures, read from Redis (works for runs of
 * `flowgate run` and of the scheduler service alike).
 */
import { ExitCode, FlowgateError, ValidationError } from '../shared/errors.js';
import { Keys } from '../shared/keys.js';
import { createRedis, redactUrl } from '../shared/redis.js';
import { jsonChunks, writeChunks } from '../shared/json-stream.js';
import { listRuns, readRun } from '../shared/run-reader.js';
import { FINAL_NODE_STATES } from '../shared/effective-state.js';
import type { RunDetail, RunListItem } from '../shared/run-view.js';
import { describeNamed, describeSlots } from '../shared/named-view.js';
import { Flags, parseArgs, type FlagSpec } from './args.js';
import { LOOKUP_WORK_DIR_FLAG, CONNECTION_FLAGS } from './connection.js';
import { redisForCommand } from './private-redis.js';
import { SERVICE_DEFAULTS } from '../shared/options/defaults.js';

export const STATUS_FLAGS: readonly FlagSpec[] = [
  { name: 'json', type: 'boolean', help: 'print JSON (the list, or the run with every node)' },
  { name: 'limit', type: 'int', min: 1, value: 'N', help: 'runs listed, newest first (default 20)' },
  ...CONNECTION_FLAGS,
  LOOKUP_WORK_DIR_FLAG,
];

function when(ms: number | null): string {
  return ms === null || ms === 0 ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function duration(r: RunListItem, now: number): string {
  if (r.wall_s !== null) return `${r.wall_s.toFixed(1)}s`;
  if (r.status === 'submitted' || r.started_ms === 0) return '-';
  return `${((now - r.started_ms) / 1000).toFixed(1)}s`;
}

function done(r: RunListItem): number {
  return [...FINAL_NODE_STATES].reduce((sum, s) => sum + (r.counts[s as keyof RunListItem['counts']] ?? 0), 0);
}

/** The runs as a table. */
export function runsTable(runs: readonly RunListItem[], now = Date.now()): string {
  const rows = [['RUN', 'WORKFLOW', 'STATUS', 'DONE', 'FAILED', 'STARTED (UTC)', 'DURATION']];
  for (const r of runs) rows.push([r.run_id, r.workflow, r.status, `${done(r)}/${r.total}`, String(r.counts.failed), when(r.started_ms), duration(r, now)]);
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  const table = rows.map((row) => row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  const orphaned = runs.filter((r) => r.continue_with !== null);
  if (orphaned.length > 0) table.push('', `orphaned (no scheduler drives them): continue with ${orphaned.map((r) => `\`${r.continue_with ?? ''}\``).join(', ')}`);
  return table.join('\n');
}

type NodeLine = RunDetail['nodes'][number];

/** ` @host [gpu 0,1]`: where a node was placed, when it says anything. */
function placedText(n: Pick<NodeLine, 'host' | 'slots'>): string {
  const slots = describeSlots(n.slots);
  return `${n.host !== null ? ` @${n.host}` : ''}${slots !== '' ? ` [${slots}]` : ''}`;
}

function inFlightText(n: NodeLine): string {
  const where = n.worker !== null ? ` on ${n.worker}` : '';
  if (n.state === 'queued') return `${n.id}${placedText(n)} (queued)`;
  return `${n.id}${where}${placedText(n)}${n.finishing !== null ? ` (${n.finishing}, being recorded)` : ''}`;
}

/** Nodes with attempts that did not end as attempts do (`killed`, `lost`) shown with their history at most. */
const HISTORY_SHOWN = 20;

/** `long: attempt 1 lost on a1 (host lost: ...); attempt 1 succeeded on b1`, for nodes an execution of which was killed or lost. */
function historyLines(nodes: readonly NodeLine[]): string[] {
  const marked = nodes.filter((n) => n.attempt_history.some((a) => a.status === 'lost' || a.status === 'killed'));
  if (marked.length === 0) return [];
  const lines = ['  attempts killed or lost (run again):'];
  for (const n of marked.slice(0, HISTORY_SHOWN)) {
    const steps = n.attempt_history.map((a) => `attempt ${a.attempt} ${a.status}${a.worker !== null ? ` on ${a.worker}` : ''}${a.reason !== null && a.status !== 'succeeded' ? ` (${a.reason})` : ''}`);
    lines.push(`    ${n.id}: ${steps.join('; ')}`);
  }
  if (marked.length > HISTORY_SHOWN) lines.push(`    … (${marked.length} nodes in all)`);
  return lines;
}

/** `4 procs / 8 GB, gpu 2`. */
function budgetText(b: { n_procs: number; memory_gb?: number; mem_gb?: number; resources?: Record<string, number> }): string {
  const named = describeNamed(b.resources ?? {});
  return `${b.n_procs} procs / ${Math.round((b.memory_gb ?? b.mem_gb ?? 0) * 1000) / 1000} GB${named !== '' ? `, ${named}` : ''}`;
}

/** One run in text. */
export function runText(r: RunDetail, now = Date.now()): string {
  // While the run goes on, the scheduler's own snapshot has the live budget (a fleet's grows and shrinks with its hosts).
  const budget = r.waiting?.budget ?? r.budget;
  const lines = [
    `run ${r.run_id} of ${r.workflow}: ${r.status} (${done(r)}/${r.total} done, ${duration(r, now)}), budget ${r.status === 'submitted' && budget.n_procs === 0 ? "the scheduler service's, once it takes the run" : budgetText(budget)}, scheduler ${r.scheduler}`,
    `  ${Object.entries(r.counts).filter(([, n]) => n > 0).map(([s, n]) => `${s} ${n}`).join(', ')}`,
  ];
  if (r.continue_with !== null) {
    const service = r.mode === 'service' ? ' and no scheduler service leads that would adopt it' : '';
    lines.push(`  orphaned: no scheduler drives this run any more (its scheduler is gone${service}); continue it with \`${r.continue_with}\`${r.mode === 'service' ? ' or by starting `flowgate scheduler`' : ''}`);
  }
  if (r.queue_paused && (r.status === 'running' || r.status === 'orphaned' || r.status === 'submitted')) {
    lines.push('  queue paused: nodes are admitted but no worker takes them; resume the queue with `flowgate queue resume` (or in Bull Board)');
  }
  const inFlight = r.nodes.filter((n) => n.state === 'running' || n.state === 'queued');
  if (inFlight.length > 0) lines.push(`  in flight: ${inFlight.map(inFlightText).join(', ')}`);
  const perHost = new Map<string, number>();
  for (const n of r.nodes) if (n.host !== null) perHost.set(n.host, (perHost.get(n.host) ?? 0) + 1);
  if (perHost.size > 0) lines.push(`  placed on hosts: ${[...perHost].map(([h, k]) => `${h} ${k} node${k === 1 ? '' : 's'}`).join(', ')}`);
  if (r.waiting !== null && r.waiting.waiting.length > 0) {
    const named = describeNamed(r.waiting.free.resources ?? {});
    lines.push(`  ready, waiting (free ${r.waiting.free.n_procs} procs, ${Math.round(r.waiting.free.mem_gb * 100) / 100} GB${named !== '' ? `, ${named}` : ''}):`);
    for (const w of r.waiting.waiting.slice(0, 20)) lines.push(`    ${w.id}: ${w.reason}`);
  }
  const byId = new Map(r.nodes.map((n) => [n.id, n]));
  for (const f of r.failures) {
    const n = byId.get(f.node);
    lines.push(`  failed ${f.node}${n !== undefined ? placedText(n) : ''}: ${f.reason}`);
    if (f.crash_file !== null) lines.push(`    crash record: ${f.crash_file}`);
    if (f.skipped.length > 0) lines.push(`    skipped because of it: ${f.skipped.join(', ')}`);
  }
  lines.push(...historyLines(r.nodes));
  return lines.join('\n');
}

async function* jsonLine(run: RunDetail): AsyncGenerator<string> {
  yield* jsonChunks(run as unknown as Record<string, unknown>, 'nodes', run.nodes);
  yield '\n';
}

/** Prints runs or one run; returns the exit code. */
export async function statusCommand(argv: readonly string[]): Promise<number> {
  const flags = new Flags(parseArgs(argv, STATUS_FLAGS));
  if (flags.positionals.length > 1) throw new ValidationError('OPTIONS_INVALID', [{ message: 'usage: flowgate status [RUN_ID] [options]' }]);
  const chosen = await redisForCommand(flags);
  const { url: redisUrl, conn: { prefix } } = chosen;
  const json = flags.bool('json', false);
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
    const runId = flags.positionals[0];
    if (runId === undefined) {
      const runs = await listRuns(redis, prefix, { limit: flags.num('limit') ?? 20 });
      if (json) {
        process.stdout.write(`${JSON.stringify(runs)}\n`);
        return ExitCode.ok;
      }
      const service = await redis.hmget(new Keys(prefix).service(), 'holder', 'heartbeat_ms', 'lease_ttl_ms');
      const [holder, beat, ttl] = service;
      if (holder !== null && holder !== undefined) {
        const age = Date.now() - Number(beat ?? 0);
        const alive = age <= Number(ttl ?? SERVICE_DEFAULTS.leader_ttl_ms);
        process.stdout.write(`scheduler service: ${alive ? `led by ${holder}` : `none alive (last leader ${holder}, ${Math.round(age / 1000)} s ago)`}\n`);
      }
      if ((await redis.hexists(new Keys(prefix).nodeQueueMeta(), 'paused')) === 1) {
        process.stdout.write('queue paused: nodes are admitted but no worker takes them; resume the queue with `flowgate queue resume` (or in Bull Board)\n');
      }
      process.stdout.write(runs.length === 0 ? `no runs under prefix "${prefix}"\n` : `${runsTable(runs)}\n`);
      return ExitCode.ok;
    }
    const run = await readRun(redis, prefix, runId);
    if (run === undefined) throw new FlowgateError('RUN_NOT_FOUND', `no run "${runId}" under prefix "${prefix}" at ${redactUrl(redisUrl)}`);
    // The run with every node: streamed node by node, never one string.
    if (json) await writeChunks(process.stdout, jsonLine(run));
    else process.stdout.write(`${runText(run)}\n`);
    return ExitCode.ok;
  } finally {
    redis.disconnect();
    await chosen.private?.releaseIfStarted();
  }
}
