/**
 * Failed nodes of a run with what they took down, and their crash records
 * (read best-effort, bounded), for the run views.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseJsonOrUndefined } from './json.js';

/** Crash records larger than this are not parsed. */
const MAX_CRASH_BYTES = 256 * 1024;

/** A failed node with its crash record and what it took down. */
export interface FailureView {
  node: string;
  reason: string;
  crash_file: string | null;
  /** The crash record's JSON, when the file could be read; else null. */
  crash: Record<string, unknown> | null;
  /** Ids of the nodes skipped because this one failed. */
  skipped: string[];
}

/** What {@link listFailureViews} needs of a node. */
interface FailureSource {
  id: string;
  state: string;
  skipped_because: string | null;
  reason: string | null;
  crash_file: string | null;
}

/** Failed nodes with the nodes each one took down (crash records not read yet). */
export function listFailureViews(nodes: readonly FailureSource[]): FailureView[] {
  const skippedBy = new Map<string, string[]>();
  for (const n of nodes) {
    if (n.state !== 'skipped' || n.skipped_because === null) continue;
    const list = skippedBy.get(n.skipped_because) ?? [];
    list.push(n.id);
    skippedBy.set(n.skipped_because, list);
  }
  return nodes
    .filter((n) => n.state === 'failed')
    .map((n) => ({ node: n.id, reason: n.reason ?? 'failed', crash_file: n.crash_file, crash: null, skipped: skippedBy.get(n.id) ?? [] }));
}

/** A crash record, best-effort: only a `crash-*.json` file of at most 256 KB; else null. */
export async function readCrashRecord(path: string | null): Promise<Record<string, unknown> | null> {
  if (path === null || !/^crash-.*\.json$/.test(basename(path))) return null;
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (size > MAX_CRASH_BYTES) return null;
      const record = parseJsonOrUndefined(await fh.readFile('utf8'));
      return typeof record === 'object' && record !== null && !Array.isArray(record) ? (record as Record<string, unknown>) : null;
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}
