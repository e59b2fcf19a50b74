/** JSON text read back from Redis or disk. */

/** Parses `raw`; undefined when it is missing, empty or not JSON. */
export function parseJsonOrUndefined(raw: string | null | undefined): unknown {
  if (raw === null || raw === undefined || raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}
