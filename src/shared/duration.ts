/**
 * Durations as users write them on the command line and in the environment:
 * a whole number and one unit, `30s`, `15m`, `12h`, `7d`, `2w`. Pure.
 */

/** Milliseconds per unit. */
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** What {@link parseDuration} accepts, for error messages. */
export const DURATION_HELP = 'a whole number with a unit s, m, h, d or w (e.g. 30s, 15m, 12h, 7d, 2w)';

/** The duration in milliseconds, or undefined when `text` is not one. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,9})([smhdw])$/.exec(text.trim());
  if (m === null || m[1] === undefined || m[2] === undefined) return undefined;
  const unit = UNIT_MS[m[2]];
  return unit === undefined ? undefined : Number(m[1]) * unit;
}

/** A duration in the largest unit that divides it (`604800000` → `7d`, `90000` → `90s`); days rather than weeks, as people say them. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const unit of ['d', 'h', 'm', 's']) {
    const size = UNIT_MS[unit] as number;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
