/**
 * The cache record a finished node leaves in its directory: what its result
 * was computed from (definition, input values, input files) and its outputs.
 * Written by the worker only after the node succeeded (atomically), removed
 * before it starts, so a node killed mid-run never leaves a record that would
 * be taken as finished.
 */
import { existsSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The record's file name in the node directory. */
export const CACHE_FILE = '_flowgate_cache.json';

/** How input files are fingerprinted. */
export type HashMethod = 'timestamp' | 'content';
export const HASH_METHODS: readonly HashMethod[] = ['timestamp', 'content'];

/** What a node's result depends on. */
export interface HashParts {
  /** The node as it runs: rendered command (or function, with a hash of its module), env, declared outputs. */
  definition: Record<string, unknown>;
  /** Input values, canonical JSON each. */
  inputs: Record<string, string>;
  /** Input files by path: `size:<bytes> mtime:<ms>` or `sha256:<hex>`. */
  files: Record<string, string>;
  method: HashMethod;
}

/** The cache record of a finished node. */
export interface CacheRecord {
  version: 1;
  hash: string;
  parts: HashParts;
  finished_ms: number;
  /** The node's outputs when it finished. */
  outputs: unknown;
}

/** What a job carries so that its worker can leave the record. */
export interface CacheTicket {
  hash: string;
  parts: HashParts;
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

/** Writes the record after the node succeeded (temp file + rename: never half-written). */
export function writeCacheRecord(nodeDir: string, ticket: CacheTicket, outputs: unknown, now = Date.now()): void {
  const record: CacheRecord = { version: 1, hash: ticket.hash, parts: ticket.parts, finished_ms: now, outputs: outputs ?? null };
  const tmp = join(nodeDir, `${CACHE_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(record)}\n`);
  renameSync(tmp, join(nodeDir, CACHE_FILE));
}
