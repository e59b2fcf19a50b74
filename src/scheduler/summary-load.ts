/**
 * A finished run's summary read back from Redis: its run-level part from the
 * meta and its nodes from the node hash (see shared/stored-summary.ts), or,
 * for a run stored whole by an earlier version, the stored document.
 */
import type { Redis } from 'ioredis';
import { parseStoredSummary, storedNodeRecords } from '../shared/stored-summary.js';
import { loadStoredRun, type StoredRun } from './run-store.js';
import { summaryFromParts, type NodeSummary, type RunSummary, type SummaryHead } from './summary.js';

/**
 * The summary of run `runId` from its meta field `summary` (`raw`, read by
 * the caller with the status it checked) and its node records; undefined
 * when `raw` is no summary.
 */
export async function loadRunSummary(redis: Redis, prefix: string, runId: string, raw: string | null | undefined): Promise<RunSummary | undefined> {
  const stored = parseStoredSummary(raw);
  if (stored === undefined) return undefined;
  if (stored.legacyNodes !== undefined) return { ...stored.head, nodes: stored.legacyNodes } as unknown as RunSummary;
  const nodes: NodeSummary[] = [];
  for await (const r of storedNodeRecords(redis, prefix, runId, stored.nodeCount)) {
    // A record gone missing (deleted by hand) still takes its place, so indexes hold.
    nodes.push((r ?? { id: `#${nodes.length}`, status: 'unknown' }) as unknown as NodeSummary);
  }
  return summaryFromParts(stored.head as unknown as SummaryHead, nodes);
}

/**
 * A run as `resume` finds it: its stored state, and when it has ended (not
 * running, not still queued for the service), its summary.
 */
export async function loadRunToResume(redis: Redis, prefix: string, runId: string): Promise<{ stored: StoredRun | undefined; ended: RunSummary | undefined }> {
  const stored = await loadStoredRun(redis, prefix, runId);
  const status = stored?.meta['status'];
  const ended = status !== undefined && status !== 'running' && status !== 'submitted' ? await loadRunSummary(redis, prefix, runId, stored?.meta['summary']) : undefined;
  return { stored, ended };
}
