/**
 * Cache decisions (nipype's node hash, done right): a node whose definition,
 * inputs, input files and upstream results are those of its finished record
 * is not run — it ends `cached` with the recorded outputs, using no
 * resources. Otherwise the reasons it runs are listed (for `--explain-cache`
 * and the summary).
 *
 * The key chains the result digests of every node the node depends on
 * (`needs` and connections alike), as Nextflow and Bazel chain theirs: a
 * node reading `../fetch/data.txt` by path reruns when `fetch` produced a new
 * result even though nothing in its own definition changed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { CACHE_FILE, CACHE_RECORD_VERSION, canonical, type CacheRecord, type CacheTicket, type HashMethod, type HashParts } from '../shared/cache-record.js';
import { pathFingerprint, projectFingerprint, sha256 } from '../shared/fingerprint.js';
import type { NodeJobData } from '../shared/payloads.js';
import { localModules } from './module-scan.js';

export { canonical } from '../shared/cache-record.js';

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

/** What the key of one node depends on besides its job data. */
export interface KeyContext {
  /** Result digest of every node it depends on, by id. */
  upstream: Record<string, string>;
  /** Declared path inputs (absolute): files or directories, always fingerprinted. */
  paths: readonly string[];
  /** The node's `code_version`: replaces the scan of a function module's imports. */
  codeVersion: string | null;
}

/** Fingerprints files and function modules; module hashes are kept for the dispatcher's (one run's) lifetime. */
export class Fingerprints {
  private readonly sources = new Map<string, string>();
  private readonly imports = new Map<string, Record<string, string>>();

  constructor(readonly method: HashMethod) {}

  /** The fingerprint of a file or directory under this method. */
  file(path: string): string {
    return pathFingerprint(path, this.method);
  }

  /** sha256 of one module's source. */
  module(path: string): string {
    let h = this.sources.get(path);
    if (h === undefined) {
      try {
        h = sha256(readFileSync(path));
      } catch {
        h = 'unreadable';
      }
      this.sources.set(path, h);
    }
    return h;
  }

  /** Source hashes of the local modules `entry` imports, transitively (itself excluded). */
  moduleImports(entry: string): Record<string, string> {
    let deps = this.imports.get(entry);
    if (deps === undefined) {
      deps = Object.fromEntries(
        localModules(entry)
          .filter((p) => p !== entry)
          .sort()
          .map((p) => [p, this.module(p)]),
      );
      this.imports.set(entry, deps);
    }
    return deps;
  }

  /** What the result of this job depends on. */
  parts(data: NodeJobData, ctx: KeyContext = { upstream: {}, paths: [], codeVersion: null }): HashParts {
    const fn = data.function;
    const definition: Record<string, unknown> = {
      command: data.command,
      function:
        fn === null
          ? null
          : {
              ...fn,
              source_sha256: this.module(fn.module),
              ...(ctx.codeVersion !== null ? { code_version: ctx.codeVersion } : { imports: this.moduleImports(fn.module) }),
            },
      env: data.env,
      // Only string commands have a shell (keeping other nodes' hashes as they were).
      ...(typeof data.command === 'string' ? { shell: data.shell ?? null } : {}),
      outputs: data.outputs ?? null,
      stdout_json: data.stdout_json ?? false,
    };
    const inputs: Record<string, string> = {};
    const paths = new Set<string>(ctx.paths);
    for (const [name, v] of Object.entries(data.inputs ?? {})) {
      inputs[name] = canonical(v);
      filesIn(v, paths);
    }
    const files: Record<string, string> = {};
    for (const p of [...paths].sort()) files[p] = this.file(p);
    return { definition, inputs, files, upstream: { ...ctx.upstream }, method: this.method };
  }
}

/** Files fingerprints as `method` compares them. */
function projected(files: Record<string, string>, method: HashMethod): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([p, f]) => [p, projectFingerprint(f, method) ?? `unknown under ${method}`]));
}

/**
 * The hash of hash parts. The method is left out and the file fingerprints
 * are taken as the method compares them, so switching `--hash-method` keeps
 * the key of a node without input files.
 */
export function hashOf(parts: HashParts): string {
  return sha256(canonical({ definition: parts.definition, inputs: parts.inputs, files: projected(parts.files, parts.method), upstream: parts.upstream }));
}

/** Reads a node's record; undefined when there is none (or it is unreadable, or of an older format). */
export function readCacheRecord(nodeDir: string): CacheRecord | undefined {
  const path = join(nodeDir, CACHE_FILE);
  // A node that never finished here has none; checking first is cheaper than a thrown ENOENT.
  if (!existsSync(path)) return undefined;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as CacheRecord;
    return r.version === CACHE_RECORD_VERSION && typeof r.hash === 'string' && typeof r.result === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

const SHORT = 80;

/**
 * Two differing strings as the reader needs them: whole when short, else
 * the region around the first difference on both sides, so "was" and "now"
 * never look alike.
 */
export function describeChange(a: string, b: string): { was: string; now: string } {
  if (a.length <= SHORT && b.length <= SHORT) return { was: a, now: b };
  let at = 0;
  while (at < a.length && at < b.length && a[at] === b[at]) at++;
  const cut = (s: string): string => {
    const start = Math.max(0, at - 30);
    const end = Math.min(s.length, at + 40);
    return `${start > 0 ? '…' : ''}${s.slice(start, end)}${end < s.length ? '…' : ''}`;
  };
  const where = at > 30 ? ` (from character ${at + 1})` : '';
  return { was: `${cut(a)}${where}`, now: cut(b) };
}

/** Why `now` differs from the record's parts, one line per difference; empty when they match. */
export function explainDifference(before: HashParts, now: HashParts): string[] {
  const out: string[] = [];
  const beforeUp = before.upstream ?? {};
  for (const id of new Set([...Object.keys(beforeUp), ...Object.keys(now.upstream)])) {
    const a = beforeUp[id];
    const b = now.upstream[id];
    if (a === undefined) out.push(`upstream ${id} is new`);
    else if (b === undefined) out.push(`upstream ${id} is no longer a dependency`);
    else if (a !== b) out.push(`upstream ${id} changed`);
  }
  for (const key of new Set([...Object.keys(before.definition), ...Object.keys(now.definition)])) {
    const a = canonical(before.definition[key]);
    const b = canonical(now.definition[key]);
    if (a === b) continue;
    const d = describeChange(a, b);
    out.push(`definition changed: ${key} was ${d.was}, now ${d.now}`);
  }
  for (const name of new Set([...Object.keys(before.inputs), ...Object.keys(now.inputs)])) {
    const a = before.inputs[name];
    const b = now.inputs[name];
    if (a === b) continue;
    const d = a !== undefined && b !== undefined ? describeChange(a, b) : { was: a ?? '(none)', now: b ?? '(none)' };
    out.push(`input ${name} changed: ${d.was} -> ${d.now}`);
  }
  for (const path of new Set([...Object.keys(before.files), ...Object.keys(now.files)])) {
    const a = before.files[path];
    const b = now.files[path];
    if (a === undefined || b === undefined) {
      out.push(`file ${path} changed: ${a ?? '(not an input)'} -> ${b ?? '(not an input)'}`);
      continue;
    }
    // Compared as the current method compares them: a record made with content
    // hashing also holds size and mtime, one made with timestamps has no content hash.
    const pa = projectFingerprint(a, now.method);
    const pb = projectFingerprint(b, now.method);
    if (pa === undefined) out.push(`file ${path}: recorded with ${before.method} hashing, now compared by ${now.method}`);
    else if (pa !== pb) out.push(`file ${path} changed: ${pa} -> ${pb ?? '(none)'}`);
  }
  return out;
}

/** Declared output files of a record that no longer exist. */
function missingOutputs(data: NodeJobData): string[] {
  const declared = Object.values(data.outputs ?? {});
  return declared.filter((p) => !existsSync(p));
}

/** A cache decision for one node; a hit carries the recorded result digest. */
export type CacheDecision =
  | { hit: true; outputs: unknown; note: string | null; result: string }
  | { hit: false; reasons: readonly string[]; ticket: CacheTicket };

/** What {@link decide} needs besides the job and fingerprints. */
export interface DecideOptions {
  overwrite: boolean;
  updateHash: boolean;
  /** Rewrites the record (update-hash), keeping its result digest. */
  write: (ticket: CacheTicket, outputs: unknown, result: string) => void;
}

// The two commonest reasons, one list each for every node they are given for
// (the reasons are kept in the node's record for the whole run).
const OVERWRITE: readonly string[] = Object.freeze(['overwrite: true']);
const NO_RECORD: readonly string[] = Object.freeze(['no cache record (never finished here, or its last run did not finish)']);
/** A node record's `cache` for those two: one frozen object each, not one per node. */
const SHARED_MISSES: ReadonlyMap<readonly string[], { readonly hit: false; readonly reasons: readonly string[] }> = new Map(
  [OVERWRITE, NO_RECORD].map((reasons) => [reasons, Object.freeze({ hit: false as const, reasons })]),
);

/** What a node's record keeps of a cache miss (shared for the commonest reasons; never changed once set). */
export function missRecord(reasons: readonly string[]): { readonly hit: false; readonly reasons: readonly string[] } {
  return SHARED_MISSES.get(reasons) ?? { hit: false, reasons };
}

/**
 * Decides whether the job's node can be taken from its record. With
 * `updateHash`, a record that differs is accepted (and rewritten with the new
 * hash) as long as its outputs still exist.
 */
export function decide(data: NodeJobData, fp: Fingerprints, ctx: KeyContext, options: DecideOptions): CacheDecision {
  const parts = fp.parts(data, ctx);
  const ticket: CacheTicket = { hash: hashOf(parts), parts };
  if (options.overwrite) return { hit: false, reasons: OVERWRITE, ticket };
  const record = readCacheRecord(data.node_dir);
  if (record === undefined) return { hit: false, reasons: NO_RECORD, ticket };
  const missing = missingOutputs(data);
  if (missing.length > 0) return { hit: false, reasons: [`output files missing: ${missing.join(', ')}`], ticket };
  if (record.hash === ticket.hash) return { hit: true, outputs: record.outputs, note: null, result: record.result };
  const reasons = explainDifference(record.parts, parts);
  if (reasons.length === 0) {
    // Only the way files are compared changed (another --hash-method), and they match under the new one.
    if (record.parts.method !== parts.method) return { hit: true, outputs: record.outputs, note: `rechecked with ${parts.method} hashing (recorded with ${record.parts.method}): input files unchanged`, result: record.result };
    reasons.push('the record does not match (unknown difference)');
  }
  if (options.updateHash) {
    options.write(ticket, record.outputs, record.result);
    return { hit: true, outputs: record.outputs, note: `update-hash: kept the outputs, accepted ${reasons.join('; ')}`, result: record.result };
  }
  return { hit: false, reasons, ticket };
}
