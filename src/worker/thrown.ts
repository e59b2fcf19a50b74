/**
 * Describes whatever a function node threw, keeping its detail: the stack,
 * own fields such as `code`, the `cause` chain, the errors of an
 * AggregateError, the issues of a zod error (recognised by shape: the
 * executor does not load zod), and thrown values that are not errors (shown
 * as JSON, not `[object Object]`). Loaded by every executor process.
 */
import { inspect } from 'node:util';

/** One line for the node's reason, and the full text for stderr.log and the crash record. */
export interface ThrownDescription {
  summary: string;
  detail: string;
}

const MAX_DEPTH = 8;
const SUMMARY_FIELDS_CHARS = 200;

/** JSON when it can be, else Node's own rendering (circular values, BigInts). */
export function showValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    const json = JSON.stringify(v);
    if (json !== undefined) return json;
  } catch {
    // Circular or a BigInt: inspect below.
  }
  return inspect(v, { depth: 4, breakLength: Infinity });
}

interface ZodLikeIssue {
  message?: unknown;
  path?: unknown;
}

function zodIssues(e: Error): ZodLikeIssue[] | undefined {
  const issues = (e as { issues?: unknown }).issues;
  return e.name === 'ZodError' && Array.isArray(issues) ? (issues as ZodLikeIssue[]) : undefined;
}

function issuePath(issue: ZodLikeIssue): string {
  if (!Array.isArray(issue.path) || issue.path.length === 0) return '';
  return issue.path.map((p: unknown, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

function firstLine(s: string): string {
  const at = s.indexOf('\n');
  return at < 0 ? s : s.slice(0, at);
}

/** The frames of a stack (its `    at ...` lines). */
function frames(stack: string | undefined): string {
  if (stack === undefined) return '';
  return stack
    .split('\n')
    .filter((l) => /^\s+at /.test(l))
    .join('\n');
}

/** Own enumerable fields beyond the standard ones (`code`, `errno`, `path`, ...). */
function ownFields(e: Error): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(e)) {
    if (key === 'stack' || key === 'message' || key === 'cause' || key === 'name' || (key === 'issues' && zodIssues(e) !== undefined)) continue;
    (out ??= {})[key] = (e as unknown as Record<string, unknown>)[key];
  }
  return out;
}

function describeError(e: Error, seen: Set<unknown>, depth: number): ThrownDescription {
  const issues = zodIssues(e);
  let summary: string;
  let detail: string;
  if (issues !== undefined) {
    const one = (i: ZodLikeIssue): string => `${String(i.message ?? 'invalid')}${issuePath(i) === '' ? '' : ` at ${issuePath(i)}`}`;
    summary = `ZodError: ${issues.length === 0 ? 'invalid' : one(issues[0] as ZodLikeIssue)}${issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? 's' : ''})` : ''}`;
    const listed = issues.map((i) => `  ✖ ${String(i.message ?? 'invalid')}${issuePath(i) === '' ? '' : `\n    → at ${issuePath(i)}`}`);
    detail = [`ZodError: ${issues.length} issue${issues.length === 1 ? '' : 's'}`, ...listed, frames(e.stack)].filter((l) => l !== '').join('\n');
  } else {
    const head = e.message === '' ? e.name : `${e.name}: ${e.message}`;
    summary = firstLine(head);
    // The stack repeats name and message; a stack-less error gets them here.
    detail = typeof e.stack === 'string' && e.stack !== '' ? e.stack : head;
  }
  const fields = ownFields(e);
  if (fields !== undefined) {
    const shown = showValue(fields);
    summary += ` ${shown.length > SUMMARY_FIELDS_CHARS ? `${shown.slice(0, SUMMARY_FIELDS_CHARS)}…` : shown}`;
    detail += `\n  fields: ${shown}`;
  }
  const errors = (e as { errors?: unknown }).errors;
  if (e instanceof AggregateError && Array.isArray(errors)) {
    errors.forEach((inner: unknown, i) => {
      detail += `\n  errors[${i}]: ${describe(inner, seen, depth + 1).detail.replace(/\n/g, '\n  ')}`;
    });
  }
  if ('cause' in e && e.cause !== undefined) {
    const cause = describe(e.cause, seen, depth + 1);
    summary += ` (cause: ${cause.summary})`;
    detail += `\nCaused by: ${cause.detail}`;
  }
  return { summary, detail };
}

function describe(v: unknown, seen: Set<unknown>, depth: number): ThrownDescription {
  if (depth > MAX_DEPTH) return { summary: '…', detail: '… (causes nested too deeply)' };
  if (typeof v === 'object' && v !== null) {
    if (seen.has(v)) return { summary: '(circular cause)', detail: '(circular cause)' };
    seen.add(v);
  }
  if (v instanceof Error) return describeError(v, seen, depth);
  const shown = typeof v === 'string' ? v : showValue(v);
  return { summary: firstLine(shown), detail: `${shown}\n  (a thrown ${v === null ? 'null' : typeof v}, not an Error: no stack)` };
}

/** Describes a thrown value: a one-line summary and the full detail. */
export function describeThrown(v: unknown): ThrownDescription {
  return describe(v, new Set(), 0);
}
