/**
 * zod fields more than one component's options share: the budget, bounded
 * whole numbers, the connection. Defaults and bounds come from
 * `./defaults.ts`; each field here is written once.
 */
import { z } from 'zod';
import { availableCpus, defaultMemoryBudgetGb, MAX_MEM_GB, MAX_N_PROCS } from '../capacity.js';
import { PREFIX_PATTERN, redisUrlProblem } from '../config.js';

/** A whole number of at least `min`. */
export function wholeNumber(min: number): z.ZodNumber {
  return z.number().int().min(min);
}

/** A whole number of at least `min`, `def` when absent. */
export function wholeNumberOr(min: number, def: number): z.ZodDefault<z.ZodNumber> {
  return wholeNumber(min).default(def);
}

/** Thread budget: a whole number from 1 to {@link MAX_N_PROCS}; default: CPUs available to this process. */
export const nProcsField = z.number().int().min(1).max(MAX_N_PROCS).default(() => availableCpus());

/** Memory budget in GB: > 0, at most {@link MAX_MEM_GB}; default: 90 % of the memory available. */
export const memoryGbField = z.number().positive().max(MAX_MEM_GB).default(() => defaultMemoryBudgetGb());

/** A directory: a non-empty path. */
export const dirField = z.string().min(1, 'must be a non-empty path');

/** A Redis URL flowgate accepts (see `redisUrlProblem`). */
export const redisUrlField = z.string().superRefine((url, ctx) => {
  const problem = redisUrlProblem(url);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** A key and BullMQ prefix. */
export const prefixField = z.string().regex(PREFIX_PATTERN, 'must be 1-64 letters, digits, ".", "_" or "-"');
