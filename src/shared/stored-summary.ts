/**
 * How a finished run's summary is kept in Redis: per node, not as one value.
 * The run-level part (status, times, budget, counts, `node_count`) is the
 * meta field `summary`, a few hundred bytes whatever the run's size; each
 * node's final record is its field in the run's node hash
 * (`<prefix>:fg:run:<id>:nodes`, field = node index), written in chunks of
 * {@link SUMMARY_NODES_CHUNK} when the run ends. Runs stored by earlier
 * versions kept the whole summary, nodes included, in the meta field; they
 * read the same through {@link readStoredSummary}.
 */
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';
import { parseJsonOrUndefined } from './json.js';

/** Node records written or read per command. */
export const SUMMARY_NODES_CHUNK = 500;

/** A run's stored summary as read back. */
export interface StoredSummary {
  /** The run-level fields (no `nodes`). */
  head: Record<string, unknown>;
  /** Nodes in the summary. */
  nodeCount: number;
  /** A summary stored whole by an earlier version: its nodes; else undefined (read them with {@link storedNodeRecords}). */
  legacyNodes?: unknown[];
}

/** Parses the meta field `summary`; undefined when absent or malformed. */
export function parseStoredSummary(raw: string | null | undefined): StoredSummary | undefined {
  const parsed = parseJsonOrUndefined(raw);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { nodes, ...head } = parsed as Record<string, unknown>;
  if (Array.isArray(nodes)) return { head, nodeCount: nodes.length, legacyNodes: nodes };
  const count = head['node_count'];
  return { head, nodeCount: typeof count === 'number' && Number.isInteger(count) && count >= 0 ? count : 0 };
}

/** The stored summary of run `runId`; undefined while it has none (running, or no such run). */
export async function readStoredSummary(redis: Redis, prefix: string, runId: string): Promise<StoredSummary | undefined> {
  return parseStoredSummary(await redis.hget(new Keys(prefix).runMeta(runId), 'summary'));
}

/**
 * The run's node records in index order, parsed (null for a missing or
 * malformed one), read {@link SUMMARY_NODES_CHUNK} at a time.
 */
export async function* storedNodeRecords(redis: Redis, prefix: string, runId: string, count: number): AsyncGenerator<Record<string, unknown> | null> {
  const key = new Keys(prefix).runNodes(runId);
  for (let first = 0; first < count; first += SUMMARY_NODES_CHUNK) {
    const fields = Array.from({ length: Math.min(SUMMARY_NODES_CHUNK, count - first) }, (_, i) => String(first + i));
    for (const raw of await redis.hmget(key, ...fields)) {
      const r = parseJsonOrUndefined(raw);
      yield typeof r === 'object' && r !== null && !Array.isArray(r) ? (r as Record<string, unknown>) : null;
    }
  }
}

/**
 * Writes node records (index → record) into the run's node hash,
 * {@link SUMMARY_NODES_CHUNK} fields per command, one chunk at a time, so
 * neither a command nor the client's buffer grows with the run.
 */
export async function writeNodeRecords(redis: Redis, prefix: string, runId: string, records: readonly object[]): Promise<void> {
  const key = new Keys(prefix).runNodes(runId);
  for (let first = 0; first < records.length; first += SUMMARY_NODES_CHUNK) {
    const chunk = new Map<string, string>();
    records.slice(first, first + SUMMARY_NODES_CHUNK).forEach((r, i) => chunk.set(String(first + i), JSON.stringify(r)));
    await redis.hset(key, chunk);
  }
}
