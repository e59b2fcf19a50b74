/**
 * Named resources (`{gpu: 2}`) and placements (host, slots) as the views
 * read them from stored JSON: defensively, since a record may be from an
 * older version, half-written or hand-edited. Pure.
 */

/** Named resource amounts in whole slots, by name. */
export type NamedAmounts = Record<string, number>;

/** Per named resource, the slot numbers held (`{gpu: [0, 1]}`). */
export type SlotMap = Record<string, number[]>;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Named amounts from stored JSON: finite non-negative numbers kept, anything else dropped; `{}` when absent. */
export function parseNamed(v: unknown): NamedAmounts {
  if (!isRecord(v)) return {};
  const out: NamedAmounts = {};
  for (const [name, n] of Object.entries(v)) if (typeof n === 'number' && Number.isFinite(n) && n >= 0) out[name] = n;
  return out;
}

/** Slots from stored JSON: arrays of whole numbers kept; null when there are none. */
export function parseSlots(v: unknown): SlotMap | null {
  if (!isRecord(v)) return null;
  const out: SlotMap = {};
  for (const [name, list] of Object.entries(v)) {
    if (Array.isArray(list)) out[name] = list.filter((i): i is number => typeof i === 'number' && Number.isInteger(i) && i >= 0);
  }
  return Object.keys(out).length > 0 ? out : null;
}

/** `{resources}` when `named` has any entry; else nothing (for optional fields under exactOptionalPropertyTypes). */
export function namedField(named: NamedAmounts): { resources?: NamedAmounts } {
  return Object.keys(named).length > 0 ? { resources: named } : {};
}

/** `gpu 2, licence_x 1` (empty text when none). */
export function describeNamed(named: Readonly<NamedAmounts>): string {
  return Object.entries(named)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
}

/** `gpu 0,1; licence_x 0` (empty text when none). */
export function describeSlots(slots: Readonly<SlotMap> | null | undefined): string {
  return Object.entries(slots ?? {})
    .map(([name, list]) => `${name} ${list.join(',')}`)
    .join('; ');
}

/** Adds `b` into `a` per name (in place); returns `a`. */
export function addNamed(a: NamedAmounts, b: Readonly<NamedAmounts>, sign: 1 | -1 = 1): NamedAmounts {
  for (const [name, n] of Object.entries(b)) a[name] = (a[name] ?? 0) + sign * n;
  return a;
}
