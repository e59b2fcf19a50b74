/**
 * Crash records: one per failed node, as a JSON document plus a human-readable
 * text file with the same base name, `crash-<YYYYMMDD-HHMMSS>-<user>-<node>-<uuid>`
 * (or only one of the two: {@link CrashfileFormat}).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { NodeOutcome } from '../shared/payloads.js';
import type { NodeInput } from '../shared/workflow/model.js';
import type { CrashfileFormat } from '../shared/options/defaults.js';
import type { RanAs } from './incoming.js';
import type { NodeRuntime } from './run-graph.js';

/** Characters of inputs shown in the text form (the JSON form has them whole). */
const TEXT_INPUTS_CHARS = 8192;

/** Everything a crash record says about a failure. */
export interface CrashRecord {
  run_id: string;
  workflow: string;
  node: string;
  /**
   * The command as it ran (templates filled in; the workflow's template when
   * the node never ran), or `function <export> of <module>` for a function node.
   */
  command: string | readonly string[];
  /**
   * The node's resolved inputs (a map element's own); for a node that never
   * ran, its inputs as declared (connections as `{from: "node.output"}`).
   */
  inputs: Record<string, unknown> | null;
  reason: string;
  exit_code: number | null;
  signal: string | null;
  stderr_tail: string;
  stdout_tail: string;
  node_dir: string;
  stdout_path: string | null;
  stderr_path: string | null;
  host: string | null;
  worker: string | null;
  pid: number | null;
  attempt: number;
  start_ms: number | null;
  end_ms: number | null;
  skipped_descendants: string[];
  /** Earlier attempts of a retried node, oldest first (the last one is this failure). */
  attempt_history: ReadonlyArray<{ attempt: number; reason: string | null; start_ms: number | null; end_ms: number | null; worker: string | null }>;
}

function loginName(): string {
  try {
    return userInfo().username;
  } catch {
    return `UID${process.getuid?.() ?? 'unknown'}`;
  }
}

function stamp(date: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

function iso(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}

/** The text form of a crash record. */
export function crashText(r: CrashRecord): string {
  const cmd = typeof r.command === 'string' ? r.command : r.command.map((a) => JSON.stringify(a)).join(' ');
  const inputs = r.inputs === null || Object.keys(r.inputs).length === 0 ? '(none)' : JSON.stringify(r.inputs, null, 2);
  const tail = (s: string): string => (s.length > 0 ? s.replace(/\n$/, '').replace(/^/gm, '\t') : '\t(empty)');
  const lines = [
    `Node: ${r.workflow}.${r.node}`,
    `Run: ${r.run_id} (attempt ${r.attempt})`,
    `Working directory: ${r.node_dir}`,
    `Command: ${cmd}`,
    `Reason: ${r.reason}`,
    `Exit code: ${r.exit_code === null ? '-' : r.exit_code}`,
    `Signal: ${r.signal ?? '-'}`,
    `Host: ${r.host ?? '-'}`,
    `Worker: ${r.worker ?? '-'}`,
    `PID: ${r.pid ?? '-'}`,
    `Started: ${iso(r.start_ms)}`,
    `Ended: ${iso(r.end_ms)}`,
    `Stdout: ${r.stdout_path ?? '-'}`,
    `Stderr: ${r.stderr_path ?? '-'}`,
    `Skipped descendants: ${r.skipped_descendants.length > 0 ? r.skipped_descendants.join(', ') : '(none)'}`,
    `Attempts: ${r.attempt_history.map((a) => `#${a.attempt} ${a.reason ?? 'ok'}`).join('; ') || String(r.attempt)}`,
    '',
    'Inputs:',
    tail(inputs.length > TEXT_INPUTS_CHARS ? `${inputs.slice(0, TEXT_INPUTS_CHARS)}\n… (${inputs.length} characters; see the .json record)` : inputs),
    '',
    'Stdout (tail):',
    tail(r.stdout_tail),
    '',
    'Stderr (tail):',
    tail(r.stderr_tail),
    '',
  ];
  return lines.join('\n');
}

/** A node's inputs as declared: literal values and paths as they are, connections by name (as nipype's crash files list a node's inputs). */
function declaredInputs(inputs: Readonly<Record<string, NodeInput>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(inputs).map(([k, i]) => {
      if (i.kind === 'value') return [k, i.value];
      if (i.kind === 'path') return [k, i.path];
      if (i.kind === 'from') return [k, { from: `${i.node}.${i.output}` }];
      return [k, { from: i.sources.map((s) => `${s.node}.${s.output}`) }];
    }),
  );
}

/** The crash record of a node's final failure. */
export function crashRecordFor(
  runId: string,
  workflow: string,
  n: NodeRuntime,
  reason: string,
  outcome: NodeOutcome | undefined,
  skipped: readonly NodeRuntime[],
  ran?: RanAs,
): CrashRecord {
  const fn = n.node.function;
  return {
    run_id: runId,
    workflow,
    node: n.node.id,
    command: ran?.command ?? n.node.command ?? `function ${fn?.export ?? '?'} of ${fn?.module ?? '?'}`,
    inputs: ran?.inputs ?? declaredInputs(n.node.inputs),
    reason,
    exit_code: outcome?.exit_code ?? null,
    signal: outcome?.signal ?? null,
    stderr_tail: outcome?.stderr_tail ?? '',
    stdout_tail: outcome?.stdout_tail ?? '',
    node_dir: n.record.node_dir,
    stdout_path: outcome?.stdout_path ?? null,
    stderr_path: outcome?.stderr_path ?? null,
    host: outcome?.host ?? null,
    worker: outcome?.worker ?? null,
    pid: outcome?.pid ?? null,
    attempt: n.attempt,
    start_ms: outcome?.start_ms ?? null,
    end_ms: outcome?.end_ms ?? null,
    skipped_descendants: skipped.map((s) => s.node.id),
    attempt_history: n.record.attempt_history,
  };
}

/**
 * Which crash files a failure gets: `both` (default) a JSON record and its
 * text twin; `json` or `txt` one file only, as nipype writes one crash file
 * per failure (its `crashfile_format`).
 */
export { CRASHFILE_FORMATS, type CrashfileFormat } from '../shared/options/defaults.js';

/** Writes the crash files of `format`; returns the path of the JSON file, or of the text file with `txt`. */
export function writeCrashRecord(dir: string, record: CrashRecord, now = new Date(), format: CrashfileFormat = 'both'): string {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `crash-${stamp(now)}-${loginName()}-${record.node}-${randomUUID()}`);
  if (format !== 'txt') writeFileSync(`${base}.json`, `${JSON.stringify(record, null, 2)}\n`);
  if (format !== 'json') writeFileSync(`${base}.txt`, crashText(record));
  return format === 'txt' ? `${base}.txt` : `${base}.json`;
}
