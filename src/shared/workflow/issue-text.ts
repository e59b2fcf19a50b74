/**
 * Schema problems of a workflow in flowgate's words: what was expected, what
 * was received, and for a field written in one of several forms (`shell`,
 * `host`), the problem of the form it was written in. Pure.
 */
import type { z } from 'zod';

/** A zod issue path as a field: `nodes[3].resources.gpu`. */
export function fieldName(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out.length === 0 ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** One schema issue as a message (the field is named by the caller). */
export function describeIssue(zi: z.core.$ZodIssue): string {
  if (zi.code === 'invalid_type' && zi.expected === 'int' && typeof zi.input === 'number') {
    return `must be a whole number, received ${zi.input}`;
  }
  if (zi.code === 'invalid_type') {
    return `expected ${zi.expected}, received ${zi.input === undefined ? 'nothing (field is required)' : describeValue(zi.input)}`;
  }
  if (zi.code === 'invalid_key') return `"${String(zi.input)}" ${zi.issues[0]?.message ?? 'is not a valid name'}`;
  if (zi.code === 'invalid_union' && zi.path[zi.path.length - 1] === 'shell') return describeShellUnion(zi);
  if (zi.code === 'invalid_union' && zi.path[zi.path.length - 1] === 'host') return describeHostUnion(zi);
  if (zi.code === 'invalid_union') return 'expected an argv array of strings or a shell command string';
  if (zi.code === 'custom') return zi.message;
  if (zi.code === 'invalid_value') return `${zi.message}, received ${describeValue(zi.input)}`;
  return `${zi.message}${'input' in zi && zi.input !== undefined ? `, received ${describeValue(zi.input)}` : ''}`;
}

/** A bad `shell`: the problem of the form it was written in (a path string or {path, flags}). */
function describeShellUnion(zi: z.core.$ZodIssueInvalidUnion): string {
  const expected = 'expected a shell path (string) or {path, flags}';
  const input = zi.input;
  const branch = typeof input === 'string' ? zi.errors[0] : typeof input === 'object' && input !== null && !Array.isArray(input) ? zi.errors[1] : undefined;
  const first = branch?.[0];
  if (first === undefined) return `${expected}, received ${describeValue(input)}`;
  const where = first.path.length > 0 ? `${fieldName(first.path)}: ` : '';
  if (first.code === 'unrecognized_keys') return `${where}unknown key${first.keys.length > 1 ? 's' : ''} ${first.keys.map((k) => `"${k}"`).join(', ')} (a shell is {path, flags})`;
  return `${where}${describeIssue(first)}`;
}

/** A bad `host`: the problem of the form it was written in (an id, or a list of ids). */
function describeHostUnion(zi: z.core.$ZodIssueInvalidUnion): string {
  const branch = typeof zi.input === 'string' ? zi.errors[0] : Array.isArray(zi.input) ? zi.errors[1] : undefined;
  const first = branch?.[0];
  if (first === undefined) return `expected a host id or a list of host ids, received ${describeValue(zi.input)}`;
  return `${first.path.length > 0 ? `${fieldName(first.path)}: ` : ''}${describeIssue(first)}`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

