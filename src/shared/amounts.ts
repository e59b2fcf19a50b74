/** Resource amounts as people read them: GB rounding and "2 procs, 8 GB, gpu 1". Shared by the ledgers, placement and the listings. */

/** Rounds GB figures for display. */
export function round(gb: number): number {
  return Math.round(gb * 1000) / 1000;
}

/** Threads, memory and named resources: a request, a grant, a capacity, what is held or free. */
export interface AmountsLike {
  readonly n_procs: number;
  readonly mem_gb: number;
  readonly resources?: Readonly<Record<string, number>>;
}

/**
 * "2 procs, 8 GB, gpu 1". Named resources at zero are left out unless
 * `zeros` (a listing of what is free shows "gpu 0": none left).
 */
export function describeAmounts(a: AmountsLike, zeros = false): string {
  const named = Object.entries(a.resources ?? {})
    .filter(([, n]) => zeros || n > 0)
    .map(([name, n]) => `, ${name} ${n}`)
    .join('');
  return `${a.n_procs} procs, ${round(a.mem_gb)} GB${named}`;
}
