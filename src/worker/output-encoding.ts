/**
 * Turns what a function node returned into the JSON its outputs travel as —
 * or refuses, naming the path of the first value JSON would change silently
 * (a Map that would arrive as `{}`, NaN as `null`, a class instance without
 * its prototype, an `undefined` field that would vanish) or the size over the
 * limit. One pass over the value plus `JSON.stringify`: the work is
 * proportional to the size of the outputs and nothing else. Loaded by every
 * executor process, so it imports nothing.
 */

/** The outputs as JSON text, or why they cannot be stored. */
export type EncodedOutputs = { ok: true; json: string } | { ok: false; reason: string };

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function child(path: string, key: string): string {
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Whole bytes for people: `4 MB`, `1.5 MB`, `300 KB`, `12 bytes`. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / (1024 * 1024)) * 10) / 10} MB`;
  if (n >= 1024) return `${Math.round((n / 1024) * 10) / 10} KB`;
  return `${n} bytes`;
}

/** `4 MB (4194304 bytes)`, or `12 bytes`. */
export function sizeText(n: number): string {
  return n < 1024 ? `${n} bytes` : `${formatBytes(n)} (${n} bytes)`;
}

function tooLarge(path: string, size: string, max: number): string {
  return (
    `${path}: ${size} as JSON, over the ${sizeText(max)} allowed for a node's outputs ` +
    `(--max-output-bytes, max_output_bytes); write large results to a file in the node directory and return its path`
  );
}

/** Why a non-plain object cannot be stored, with the usual conversion. */
function describeObject(v: object): string {
  if (v instanceof Map) return 'a Map cannot be stored as JSON (it would arrive as {}); convert it with Object.fromEntries(...) or [...map]';
  if (v instanceof Set) return 'a Set cannot be stored as JSON (it would arrive as {}); convert it with [...set]';
  if (v instanceof Date) return 'a Date cannot be stored as JSON (it would arrive as a string); convert it with .toISOString() or .getTime()';
  if (v instanceof RegExp) return 'a RegExp cannot be stored as JSON (it would arrive as {}); convert it with .source';
  if (v instanceof Error) return `an Error cannot be stored as JSON (it would arrive as {}); convert it with { message: err.message }`;
  if (v instanceof Promise) return 'a Promise cannot be stored as JSON; await it';
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
    return `a ${v.constructor.name} cannot be stored as JSON faithfully; convert it with Array.from(...) or write it to a file and return its path`;
  }
  const name = (v.constructor as { name?: unknown } | undefined)?.name;
  const cls = typeof name === 'string' && name !== '' ? `an instance of class ${name}` : 'an object with a custom prototype';
  return `${cls} cannot be stored as JSON faithfully (it would arrive as a plain object without its prototype); return a plain object, e.g. { ...value }`;
}

function describePrimitive(v: unknown, inArray: boolean): string | undefined {
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? undefined : `${String(v)} cannot be stored as JSON (it would arrive as null); use null or a string`;
    case 'undefined':
      return inArray
        ? 'undefined (or an empty array slot) cannot be stored as JSON (it would arrive as null); use null'
        : 'undefined cannot be stored as JSON (the field would vanish); use null or leave the field out';
    case 'bigint':
      return 'a BigInt cannot be stored as JSON; convert it with String(...) or Number(...)';
    case 'function':
      return 'a function cannot be stored as JSON';
    case 'symbol':
      return 'a symbol cannot be stored as JSON';
    default:
      return undefined;
  }
}

/**
 * Walks `value`, returning the first problem as `path: why`. `budget` counts
 * characters of strings and keys so far: past `max` the outputs are too large
 * whatever their escaping, and the walk stops before stringifying megabytes.
 */
class Walker {
  private readonly ancestors = new Set<object>();
  private chars = 0;

  constructor(private readonly max: number) {}

  check(v: unknown, path: string, inArray: boolean): string | undefined {
    if (typeof v === 'string') {
      this.chars += v.length;
      return this.chars > this.max ? tooLarge('outputs', `more than ${sizeText(this.max)}`, this.max) : undefined;
    }
    if (typeof v !== 'object') {
      const why = describePrimitive(v, inArray);
      return why === undefined ? undefined : `${path}: ${why}`;
    }
    if (v === null) return undefined;
    if (this.ancestors.has(v)) return `${path}: a circular reference (the value contains itself) cannot be stored as JSON`;
    const isArray = Array.isArray(v);
    if (!isArray) {
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return `${path}: ${describeObject(v)}`;
    }
    this.ancestors.add(v);
    try {
      if (isArray) {
        const list = v as unknown[];
        for (let i = 0; i < list.length; i++) {
          const why = this.check(list[i], `${path}[${i}]`, true);
          if (why !== undefined) return why;
        }
        return undefined;
      }
      const record = v as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        this.chars += key.length;
        const why = this.check(record[key], child(path, key), false);
        if (why !== undefined) return why;
      }
      return undefined;
    } finally {
      this.ancestors.delete(v);
    }
  }
}

/**
 * Encodes a function node's return value as its outputs: an object of named
 * outputs, or null/undefined for none. Refuses anything else, and anything
 * JSON would not carry faithfully, with the path of the offending value
 * (`outputs.stats.byGene: a Map cannot be stored as JSON; ...`); refuses
 * outputs larger than `maxBytes` as UTF-8 JSON.
 */
export function encodeOutputs(value: unknown, maxBytes: number): EncodedOutputs {
  if (value === undefined || value === null) return { ok: true, json: 'null' };
  if (typeof value !== 'object' || Array.isArray(value)) {
    const got = Array.isArray(value) ? 'a list' : typeof value === 'string' ? 'a string' : typeof value === 'number' ? `the number ${String(value)}` : `a ${typeof value}`;
    return { ok: false, reason: `outputs: a function node returns an object of named outputs (or nothing), not ${got}; return e.g. { value: ... }` };
  }
  let why: string | undefined;
  try {
    why = new Walker(maxBytes).check(value, 'outputs', false);
  } catch (err) {
    // Only a stack overflow can come out of the walk: nesting JSON.stringify could not take either.
    return { ok: false, reason: `outputs: cannot be checked (${err instanceof Error ? err.message : String(err)}); nested too deeply?` };
  }
  if (why !== undefined) return { ok: false, reason: why };
  const json = JSON.stringify(value);
  // UTF-8 is at least one byte per UTF-16 unit: only long texts need counting.
  if (json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > maxBytes) return { ok: false, reason: tooLarge('outputs', sizeText(bytes), maxBytes) };
  }
  return { ok: true, json };
}
