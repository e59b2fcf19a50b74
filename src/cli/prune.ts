/**
 * `flowgate prune`: removes finished runs from Redis (their keys, index entry
 * and BullMQ jobs) and, with --work-dirs, the node directories no remaining
 * run uses. Running, submitted and leased runs are never touched.
 */
import { ExitCode, ValidationError } from '../shared/errors.js';
import { checkRedis, createRedis } from '../shared/redis.js';
import { selectForPrune } from '../scheduler/prune-plan.js';
import { openJobRemover } from '../scheduler/retention.js';
import { pruneRuns, readRunEntries, type PruneReport } from '../scheduler/run-pruner.js';
import { Flags, parseArgs } from './args.js';
import { PRUNE_FLAGS } from './prune-flags.js';
import { connectionFrom } from './connection.js';


function when(ms: number): string {
  return ms === 0 ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** The report in text. */
export function pruneText(r: PruneReport): string {
  const lines = r.runs.map((run) => `  ${run.run_id}  ${run.status ?? '(orphaned index entry)'}  finished ${when(run.finished_ms)}  ${run.jobs} jobs${run.node_dirs.length > 0 ? `  ${run.node_dirs.length} node dirs` : ''}`);
  if (r.dry_run) {
    const dirs = r.runs.reduce((n, run) => n + run.node_dirs.length, 0);
    lines.unshift(r.runs.length === 0 ? 'nothing to remove' : `would remove ${r.runs.length} run${r.runs.length === 1 ? '' : 's'}${dirs > 0 ? ` and ${dirs} node directories` : ''}:`);
    return lines.join('\n');
  }
  lines.unshift(`removed ${r.removed_runs} run${r.removed_runs === 1 ? '' : 's'}, ${r.removed_jobs} jobs${r.removed_dirs.length > 0 ? `, ${r.removed_dirs.length} node directories` : ''}${r.runs.length > 0 ? ':' : ''}`);
  if (r.skipped.length > 0) lines.push(`left alone (changed meanwhile): ${r.skipped.join(', ')}`);
  return lines.join('\n');
}

/** Prunes finished runs; returns the exit code. */
export async function pruneCommand(argv: readonly string[]): Promise<number> {
  const flags = new Flags(parseArgs(argv, PRUNE_FLAGS));
  if (flags.positionals.length > 0) throw new ValidationError('OPTIONS_INVALID', [{ message: `unexpected argument "${flags.positionals[0] ?? ''}"; usage: flowgate prune --older-than DURATION [--keep N]` }]);
  const olderThanMs = flags.num('older-than') ?? null;
  const keep = flags.num('keep');
  if (olderThanMs === null && keep === undefined) {
    throw new ValidationError('OPTIONS_INVALID', [{ field: '--older-than / --keep', message: 'say which runs to remove: --older-than DURATION, --keep N, or both' }]);
  }
  const { redisUrl, prefix } = connectionFrom(flags);
  await checkRedis(redisUrl);
  const redis = createRedis(redisUrl, { maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  await redis.connect();
  let jobs: Awaited<ReturnType<typeof openJobRemover>> | undefined;
  try {
    const dryRun = flags.bool('dry-run', false);
    jobs = await openJobRemover(redisUrl, prefix);
    const entries = await readRunEntries(redis, prefix);
    const selected = selectForPrune(entries, { olderThanMs, keep: keep ?? 0 }, Date.now());
    const report = await pruneRuns({ redis, prefix, jobs, entries, selected, workDirs: flags.bool('work-dirs', false), dryRun });
    process.stdout.write(`${flags.bool('json', false) ? JSON.stringify(report) : pruneText(report)}\n`);
    return ExitCode.ok;
  } finally {
    await jobs?.close().catch(() => undefined);
    redis.disconnect();
  }
}
