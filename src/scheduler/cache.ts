/**
 * Cache decisions (nipype's node hash, done right): a node whose inputs,
 * input files and definition are those of its finished record is not run —
 * it ends `cached` with the recorded outputs, using no resources. Otherwise
 * the reasons it runs are listed (for `--explain-cache` and the summary).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { CACHE_FILE, type CacheRecord, type CacheTicket, type HashMethod, type HashParts } from '../shared/cache-record.js';
import type { NodeJobData } from '../shared/payloads.js';

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

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Absolute paths of existing files among the strings of a value (lists and objects searched too). */
function filesIn(value: unknown, out: Set<string>): void {
  if (typeof value === 'string') {
    if (isAbsolute(value) && value.length < 4096) {
      try {
        if (statSync(value).isFile()) out.add(value);
      } catch {
        // Not a file: a plain string.
      }
    }
  } else if (Array.isArray(value)) for (const v of value) filesIn(v, out);
  else if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) filesIn(v, out);
}

/** Fingerprints files and function modules; module hashes are kept for the scheduler's lifetime. */
export class Fingerprints {
  private readonly modules = new Map<string, string>();

  constructor(readonly method: HashMethod) {}

  file(path: string): string {
    try {
      const st = statSync(path);
      return this.method === 'content' ? `sha256:${sha256(readFileSync(path))}` : `size:${st.size} mtime:${Math.round(st.mtimeMs)}`;
    } catch {
      return 'missing';
    }
  }

  module(path: string): string {
    let h = this.modules.get(path);
    if (h === undefined) {
      try {
        h = sha256(readFileSync(path));
      } catch {
        h = 'unreadable';
      }
      this.modules.set(path, h);
    }
    return h;
  }

  /** What the result of this job depends on. */
  parts(data: NodeJobData): HashParts {
    const definition: Record<string, unknown> = {
      command: data.command,
      function: data.function === null ? null : { ...data.function, source_sha256: this.module(data.function.module) },
      env: data.env,
      // Only string commands have a shell (keeping other nodes' hashes as they were).
      ...(typeof data.command === 'string' ? { shell: data.shell ?? null } : {}),
      outputs: data.outputs ?? null,
      stdout_json: data.stdout_json ?? false,
    };
    const inputs: Record<string, string> = {};
    const paths = new Set<string>();
    for (const [name, v] of Object.entries(data.inputs ?? {})) {
      inputs[name] = canonical(v);
      filesIn(v, paths);
    }
    const files: Record<string, string> = {};
    for (const p of [...paths].sort()) files[p] = this.file(p);
    return { definition, inputs, files, method: this.method };
  }
}

/** The hash of hash parts. */
export function hashOf(parts: HashParts): string {
  return sha256(canonical(parts));
}

/** Reads a node's record; undefined when there is none (or it is unreadable). */
export function readCacheRecord(nodeDir: string): CacheRecord | undefined {
  const path = join(nodeDir, CACHE_FILE);
  // A node that never finished here has none; checking first is cheaper than a thrown ENOENT.
  if (!existsSync(path)) return undefined;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as CacheRecord;
    return r.version === 1 && typeof r.hash === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

function short(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Why `now` differs from the record's parts, one line per difference. */
export function explainDifference(before: HashParts, now: HashParts): string[] {
  const out: string[] = [];
  if (before.method !== now.method) out.push(`hash method changed: ${before.method} -> ${now.method}`);
  for (const key of new Set([...Object.keys(before.definition), ...Object.keys(now.definition)])) {
    const a = canonical(before.definition[key]);
    const b = canonical(now.definition[key]);
    if (a !== b) out.push(`definition changed: ${key} was ${short(a)}, now ${short(b)}`);
  }
  for (const name of new Set([...Object.keys(before.inputs), ...Object.keys(now.inputs)])) {
    const a = before.inputs[name];
    const b = now.inputs[name];
    if (a !== b) out.push(`input ${name} changed: ${a === undefined ? '(none)' : short(a)} -> ${b === undefined ? '(none)' : short(b)}`);
  }
  for (const path of new Set([...Object.keys(before.files), ...Object.keys(now.files)])) {
    const a = before.files[path];
    const b = now.files[path];
    if (a !== b) out.push(`file ${path} changed: ${a ?? '(not an input)'} -> ${b ?? '(not an input)'}`);
  }
  return out.length > 0 ? out : ['the record does not match (unknown difference)'];
}

/** Declared output files of a record that no longer exist. */
function missingOutputs(data: NodeJobData): string[] {
  const declared = Object.values(data.outputs ?? {});
  return declared.filter((p) => !existsSync(p));
}

/** A cache decision for one node. */
export type CacheDecision =
  | { hit: true; outputs: unknown; note: string | null }
  | { hit: false; reasons: string[]; ticket: CacheTicket };

/**
 * Decides whether the job's node can be taken from its record. With
 * `updateHash`, a record that differs is accepted (and rewritten with the new
 * hash) as long as its outputs still exist.
 */
export function decide(data: NodeJobData, fp: Fingerprints, options: { overwrite: boolean; updateHash: boolean; write: (ticket: CacheTicket, outputs: unknown) => void }): CacheDecision {
  const parts = fp.parts(data);
  const ticket: CacheTicket = { hash: hashOf(parts), parts };
  if (options.overwrite) return { hit: false, reasons: ['overwrite: true'], ticket };
  const record = readCacheRecord(data.node_dir);
  if (record === undefined) return { hit: false, reasons: ['no cache record (never finished here, or its last run did not finish)'], ticket };
  const missing = missingOutputs(data);
  if (missing.length > 0) return { hit: false, reasons: [`output files missing: ${missing.join(', ')}`], ticket };
  if (record.hash === ticket.hash) return { hit: true, outputs: record.outputs, note: null };
  const reasons = explainDifference(record.parts, parts);
  if (options.updateHash) {
    options.write(ticket, record.outputs);
    return { hit: true, outputs: record.outputs, note: `update-hash: kept the outputs, accepted ${reasons.join('; ')}` };
  }
  return { hit: false, reasons, ticket };
}
