/** Rounding of GB figures for display, shared by the ledgers and placement. */

/** Rounds GB figures for display. */
export function round(gb: number): number {
  return Math.round(gb * 1000) / 1000;
}
