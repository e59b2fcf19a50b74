/**
 * The cache record a finished node leaves in its directory: what its result
 * was computed from (definition, input values, input files, the results of
 * the nodes it depends on), its outputs and the digest of its result.
 * Written by the worker only after the node succeeded (atomically), removed
 * before it starts, so a node killed mid-run never leaves a record that would
 * be taken as finished.
 */
import { existsSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathFingerprint, projectFingerprint, sha256, type HashMethod } from './fingerprint.js';

export type { HashMethod } from './fingerprint.js';

/** The record's file name in the node directory. */
export const CACHE_FILE = '_flowgate_cache.json';

/** The record format this version reads and writes; older records count as absent. */
export const CACHE_RECORD_VERSION = 2;

/** The hash methods, for validating options. */
export { HASH_METHODS } from './options/defaults.js';

/** What a node's result depends on. */
export interface HashParts {
  /** The node as it runs: rendered command (or function, with a hash of its module and its local imports), env, declared outputs. */
  definition: Record<string, unknown>;
  /** Input values, canonical JSON each. */
  inputs: Record<string, string>;
  /** Input files and directories by path (see `src/shared/fingerprint.ts` for the format). */
  files: Record<string, string>;
  /** Result digest of every node this one depends on (`needs` and connections), by node id. */
  upstream: Record<string, string>;
  /** The method the files were fingerprinted with (not part of the hash: see {@link projectFingerprint}). */
  method: HashMethod;
}

/** The cache record of a finished node. */
export interface CacheRecord {
  version: typeof CACHE_RECORD_VERSION;
  hash: string;
  parts: HashParts;
  finished_ms: number;
  /** The node's outputs when it finished. */
  outputs: unknown;
  /** The digest of the node's result, chained into its successors' keys ({@link resultDigest}). */
  result: string;
}

/** What a job carries so that its worker can leave the record. */
export interface CacheTicket {
  hash: string;
  parts: HashParts;
}

/** Canonical JSON: object keys sorted, so equal values hash equally. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The digest of a finished node's result, which its successors chain into
 * their keys. With content hashing it is the declared outputs: their values
 * and the content of the declared output files, so a node that reruns and
 * produces the same outputs leaves its successors cached. A node that
 * declares no outputs is known only by what it was computed from (its key).
 * With timestamp hashing it is the key and the finish time: every rerun
 * changes it, as it changes its output files' mtimes.
 */
export function resultDigest(ticket: CacheTicket, outputs: unknown, outputFiles: readonly string[], finishedMs: number): string {
  if (ticket.parts.method === 'timestamp') return sha256(`${ticket.hash} ${finishedMs}`);
  const hasValues = typeof outputs === 'object' && outputs !== null ? Object.keys(outputs).length > 0 : outputs !== undefined && outputs !== null;
  if (!hasValues && outputFiles.length === 0) return sha256(`key ${ticket.hash}`);
  const files = Object.fromEntries([...outputFiles].sort().map((p) => [p, projectFingerprint(pathFingerprint(p, 'content'), 'content') ?? 'missing']));
  return sha256(canonical({ outputs: outputs ?? null, files }));
}

/** Removes the node's record before it runs. */
export function removeCacheRecord(nodeDir: string): void {
  const path = join(nodeDir, CACHE_FILE);
  // Usually there is none; checking first is cheaper than a thrown ENOENT.
  if (!existsSync(path)) return;
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Writes the record after the node succeeded (temp file + rename: never
 * half-written). `result` is the node's result digest (see {@link resultDigest}).
 */
export function writeCacheRecord(nodeDir: string, ticket: CacheTicket, outputs: unknown, result: string, now = Date.now()): void {
  const record: CacheRecord = { version: CACHE_RECORD_VERSION, hash: ticket.hash, parts: ticket.parts, finished_ms: now, outputs: outputs ?? null, result };
  const tmp = join(nodeDir, `${CACHE_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(record)}\n`);
  renameSync(tmp, join(nodeDir, CACHE_FILE));
}
