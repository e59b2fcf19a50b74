/**
 * JSON text read back from Redis or disk, and its values read defensively
 * (a record may be from an older version, half-written or hand-edited).
 */

/** Parses `raw`; undefined when it is missing, empty or not JSON. */
export function parseJsonOrUndefined(raw: string | null | undefined): unknown {
  if (raw === null || raw === undefined || raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

/** Whether `v` is a plain JSON object. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A finite number from a number or numeric string; else null. */
export function num(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

/** `v` when it is a string; else null. */
export function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
