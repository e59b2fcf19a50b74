/**
 * The files of a node's attempt in its directory: the directory made, what an
 * earlier run of the node left there removed (its logs released, its cache
 * record, a stale inputs.json), inputs.json written before the node runs,
 * and outputs.json and the cache record after it succeeded. Writing them
 * never fails the node (the same facts are in the run summary); a directory
 * that cannot be made does, as a "prepare" failure.
 */
import { existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { releaseNodeLogs } from '../shared/attempt-logs.js';
import { removeCacheRecord, resultDigest, writeCacheRecord } from '../shared/cache-record.js';
import type { Logger } from '../shared/logger.js';
import type { NodeJobData, NodeOutcome } from '../shared/payloads.js';

/**
 * Makes the node's directory ready for the attempt; false when it cannot be
 * made (the node's start then reports why, as a "prepare" failure).
 */
export function prepareAttemptFiles(data: NodeJobData): boolean {
  const dir = prepareDir(data.node_dir);
  const dirReady = dir !== 'failed';
  // A directory made just now holds nothing of an earlier run: nothing to
  // check for or remove (four file-system calls per node saved).
  const earlierFiles = dir === 'existing';
  // The earlier attempt's logs (kept under its run) are not truncated by this one.
  if (data.logs_dir !== undefined && earlierFiles) releaseNodeLogs(data.node_dir);
  // No record may claim a result while the node runs (or after it was killed).
  if (data.cache !== undefined && earlierFiles) removeCacheRecord(data.node_dir);
  if (data.inputs !== undefined && Object.keys(data.inputs).length > 0) writeNodeFile(data.node_dir, 'inputs.json', data.inputs);
  else if (earlierFiles) removeNodeFile(data.node_dir, 'inputs.json');
  return dirReady;
}

/** After the node succeeded: its outputs.json (command nodes) and its cache record, with the result digest set on `outcome`. */
export function writeResultFiles(data: NodeJobData, outcome: NodeOutcome, logger: Logger): void {
  if (data.command !== null && outcome.outputs !== undefined) writeNodeFile(data.node_dir, 'outputs.json', outcome.outputs);
  if (data.cache !== undefined) {
    try {
      const now = Date.now();
      outcome.result_digest = resultDigest(data.cache, outcome.outputs, Object.values(data.outputs ?? {}), now);
      writeCacheRecord(data.node_dir, data.cache, outcome.outputs, outcome.result_digest, now);
    } catch (err) {
      // The node succeeded; without its record it only runs again next time.
      logger.warn({ err, node: data.node_id }, 'cannot write the cache record');
    }
  }
}

/**
 * Creates the node's directory: `created` when it did not exist (so it holds
 * nothing of an earlier run), `existing`, or `failed` when it cannot be made
 * (the node's start then reports why, as a "prepare" failure).
 */
function prepareDir(dir: string): 'created' | 'existing' | 'failed' {
  try {
    // Recursive mkdir returns the first directory it made, undefined when the path existed.
    return mkdirSync(dir, { recursive: true }) === undefined ? 'existing' : 'created';
  } catch {
    return 'failed';
  }
}

/** Removes what an earlier run of the node left that this one does not write. */
function removeNodeFile(dir: string, name: string): void {
  const path = join(dir, name);
  if (!existsSync(path)) return;
  try {
    unlinkSync(path);
  } catch {
    // Usually: there is none.
  }
}

/** Writes a small JSON file into the node's directory (inputs.json, outputs.json); never fails the node. */
function writeNodeFile(dir: string, name: string, value: unknown): void {
  try {
    writeFileSync(join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
  } catch {
    // The same facts are in the run summary.
  }
}
