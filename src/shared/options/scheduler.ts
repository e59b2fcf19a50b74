/**
 * The options of the scheduler service (`flowgate scheduler`: its flags and
 * variables, keys spelled `leader_ttl_ms` for `--leader-ttl-ms`), compiled
 * once. Retention (`--retain-runs`, `--retain-for`) is read with the run's.
 */
import { z } from 'zod';
import { compileOptions, flagField, type FieldNamer } from './compile.js';
import { OPTION_MINIMUMS, PLACEMENTS, SERVICE_DEFAULTS } from './defaults.js';
import { dirField, memoryGbField, nProcsField, wholeNumberOr } from './fields.js';
import { compileResources, resourceBudgetFields, type ResourceBudget } from './resources.js';

/** The schema of the scheduler service's options. */
export const schedulerOptionsSchema = z.object({
  /** Thread budget shared by all runs; default: CPUs available. */
  n_procs: nProcsField,
  /** Memory budget in GB shared by all runs; default: 90 % of the memory available. */
  memory_gb: memoryGbField,
  /** Named-resource budget shared by all runs: `resource` (flag text), `resources`, `n_gpu_procs`; compiled into `resources`, default none. */
  ...resourceBudgetFields,
  /** `pool`: one budget for every worker (one host); `hosts`: one ledger per registered host; default `pool`. */
  placement: z.enum(PLACEMENTS).default(SERVICE_DEFAULTS.placement),
  /** Work dir of runs submitted without one; default `flowgate-work` (in the service's directory). */
  work_dir: dirField.default(SERVICE_DEFAULTS.work_dir),
  /** Leader lease in ms; default 10000, at least 1000. */
  leader_ttl_ms: wholeNumberOr(OPTION_MINIMUMS.leader_ttl_ms, SERVICE_DEFAULTS.leader_ttl_ms),
  /** Safety sweep period of each run in ms; default 5000, at least 100. */
  reconcile_interval_ms: wholeNumberOr(OPTION_MINIMUMS.reconcile_interval_ms, SERVICE_DEFAULTS.reconcile_interval_ms),
  /** Retention is applied at most once per this period (ms); default 10000, at least 100. */
  retention_interval_ms: wholeNumberOr(OPTION_MINIMUMS.retention_interval_ms, SERVICE_DEFAULTS.retention_interval_ms),
});

/** The scheduler service's options compiled: every default applied. */
export type CompiledSchedulerOptions = Omit<z.output<typeof schedulerOptionsSchema>, 'resource' | 'resources' | 'n_gpu_procs'> & {
  /** Named-resource budget shared by all runs (`{gpu: 2}`): `--resource` and `--n-gpu-procs` merged, zero counts dropped; `{}` when none. */
  resources: ResourceBudget;
};

/** Compiles the scheduler service's options; a bad one is a validation error naming its flag. */
export function compileSchedulerOptions(input: unknown, name: FieldNamer = flagField): CompiledSchedulerOptions {
  const { resource, resources, n_gpu_procs, ...rest } = compileOptions(schedulerOptionsSchema, input, name);
  return { ...rest, resources: compileResources({ resource, resources, n_gpu_procs }, name) };
}
