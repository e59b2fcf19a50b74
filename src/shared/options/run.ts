/**
 * The options of a run, compiled once: `flowgate run` (its flags and
 * `FLOWGATE_*` variables, keys spelled `n_procs` for `--n-procs`), `submit`
 * and the API's `run()` all go through {@link runOptionsSchema}. Its output,
 * {@link CompiledRunOptions}, has every default applied.
 */
import { z } from 'zod';
import { newRunId, runIdProblem } from '../run-id.js';
import { compileOptions, apiField, type FieldNamer } from './compile.js';
import { CALLBACK_ERRORS, CRASHFILE_FORMATS, FLEETS, HASH_METHODS, OPTION_MINIMUMS, RUN_DEFAULTS, SCHEDULER_ORDERS, WORKER_DEFAULTS } from './defaults.js';
import { dirField, memoryGbField, nProcsField, prefixField, redisUrlField, wholeNumber, wholeNumberOr } from './fields.js';
import { compileResources, resourceBudgetFields, type ResourceBudget } from './resources.js';

/** A run id of the one rule (see `run-id.ts`). */
const runIdField = z.string().superRefine((id, ctx) => {
  const problem = runIdProblem(id);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** The schema of a run's options; unknown keys are dropped (the API's callbacks, CLI-only flags). */
export const runOptionsSchema = z.object({
  /** Thread budget; default: CPUs available to this process. */
  n_procs: nProcsField,
  /** Memory budget in GB; default: 90 % of the memory available. */
  memory_gb: memoryGbField,
  /** Named-resource budget: `resource` (flag text), `resources` (`{NAME: N}`), `n_gpu_procs`; compiled into `resources`, default none. */
  ...resourceBudgetFields,
  /** Where the workers come from: `local` (started by the run) or `external` (already registered); default `local`. */
  fleet: z.enum(FLEETS).default(RUN_DEFAULTS.fleet),
  /** Ready-node order; default `tsort`. */
  scheduler: z.enum(SCHEDULER_ORDERS).default(RUN_DEFAULTS.scheduler),
  /** Refuse nodes larger than the budget before anything runs; default true. */
  raise_insufficient: z.boolean().default(RUN_DEFAULTS.raise_insufficient),
  /** Stop admitting at the first failure; default false. */
  stop_on_first_crash: z.boolean().default(RUN_DEFAULTS.stop_on_first_crash),
  /** Executor children are replaced after this many nodes; default 10; `Infinity`: never. */
  max_tasks_per_child: z.union([z.literal(Infinity), wholeNumber(1)]).default(RUN_DEFAULTS.max_tasks_per_child),
  /** Kill a node above its memory grant × (1 + margin); default null: measured only. */
  enforce_memory: z.number().min(0).nullable().default(null),
  /** How often node process trees are measured, in ms; default 1000, at least 50. */
  sample_interval_ms: wholeNumberOr(OPTION_MINIMUMS.sample_interval_ms, WORKER_DEFAULTS.sample_interval_ms),
  /** Nodes start from a minimal environment; default false. */
  clean_env: z.boolean().default(RUN_DEFAULTS.clean_env),
  /** Worker processes of a local fleet; default: decided by the caller from the spawner and the budget. */
  workers: wholeNumber(1).optional(),
  /** Node directories, logs, summaries; default: decided by the caller (`<base>/flowgate-work`). */
  work_dir: dirField.optional(),
  /** Crash records; default `<work_dir>/_crashes`. */
  crashdump_dir: dirField.optional(),
  /** Crash files per failure; default `both`. */
  crashfile_format: z.enum(CRASHFILE_FORMATS).default(RUN_DEFAULTS.crashfile_format),
  /** Redis URL; default `$REDIS_URL`, else `redis://127.0.0.1:6379` (read in config.ts). */
  redis_url: redisUrlField.optional(),
  /** Key and queue prefix; default `$FLOWGATE_PREFIX`, else `flowgate` (read in config.ts). */
  prefix: prefixField.optional(),
  /** The run id; default: generated (`YYYYMMDD-HHMMSS-xxxxxx`). */
  run_id: runIdField.default(() => newRunId()),
  /** Largest outputs of a node in bytes of JSON; default 4194304 (4 MB). */
  max_output_bytes: wholeNumberOr(1, RUN_DEFAULTS.max_output_bytes),
  /** The most nodes one expansion may create; default 1000000. */
  max_nodes: wholeNumberOr(1, RUN_DEFAULTS.max_nodes),
  /** How input files are fingerprinted; default `timestamp`. */
  hash_method: z.enum(HASH_METHODS).default(RUN_DEFAULTS.hash_method),
  /** Accept the existing outputs of nodes whose inputs changed; default false. */
  update_hash: z.boolean().default(RUN_DEFAULTS.update_hash),
  /** Safety sweep period in ms; default 5000, at least 100. */
  reconcile_interval_ms: wholeNumberOr(OPTION_MINIMUMS.reconcile_interval_ms, RUN_DEFAULTS.reconcile_interval_ms),
  /** Redis unreachable longer than this ends the run, in ms; default 60000, at least 1000. */
  redis_outage_ms: wholeNumberOr(OPTION_MINIMUMS.redis_outage_ms, RUN_DEFAULTS.redis_outage_ms),
  /** What an exception of the API's `status_callback` does; default `abort`. */
  callback_errors: z.enum(CALLBACK_ERRORS).default(RUN_DEFAULTS.callback_errors),
});

/** A run's options as given (every field optional). */
export type RunOptionsInput = z.input<typeof runOptionsSchema>;

/** Options whose three forms of the named-resource budget are compiled into one `resources`. */
type WithResources<T> = Omit<T, 'resource' | 'resources' | 'n_gpu_procs'> & {
  /** Named-resource budget in whole slots (`{gpu: 2}`): `--resource`, `resources` and `n_gpu_procs` merged, zero counts dropped; `{}` when none. */
  resources: ResourceBudget;
};

/** A run's options compiled: every default applied. */
export type CompiledRunOptions = WithResources<z.output<typeof runOptionsSchema>>;

/** Compiles a run's options; a bad one is a validation error naming it (by `name`: `n_procs`, or `--n-procs` for flags). */
export function compileRunOptions(input: unknown, name: FieldNamer = apiField): CompiledRunOptions {
  const { resource, resources, n_gpu_procs, ...rest } = compileOptions(runOptionsSchema, input, name);
  return { ...rest, resources: compileResources({ resource, resources, n_gpu_procs }, name) };
}

/** The options of resuming a run: how to run, not what (that is stored with the run). */
export const resumeOptionsSchema = runOptionsSchema.pick({
  redis_url: true,
  prefix: true,
  workers: true,
  max_tasks_per_child: true,
  sample_interval_ms: true,
  clean_env: true,
  callback_errors: true,
  reconcile_interval_ms: true,
  redis_outage_ms: true,
  resource: true,
  resources: true,
  n_gpu_procs: true,
});

/** Resume options compiled: every default applied. */
export type CompiledResumeOptions = WithResources<z.output<typeof resumeOptionsSchema>>;

/** Compiles the options of resuming a run; a bad one is a validation error naming it. */
export function compileResumeOptions(input: unknown, name: FieldNamer = apiField): CompiledResumeOptions {
  const { resource, resources, n_gpu_procs, ...rest } = compileOptions(resumeOptionsSchema, input, name);
  return { ...rest, resources: compileResources({ resource, resources, n_gpu_procs }, name) };
}
