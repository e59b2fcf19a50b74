/**
 * The options of a standalone `flowgate worker` (its flags and variables,
 * keys spelled `lock_duration_ms` for `--lock-duration-ms`), compiled once.
 * Workers under `flowgate run` skip zod (their start-up is on every run's
 * path): their run passes the settings it has, and `NodeWorker` applies the
 * same {@link WORKER_DEFAULTS} to the rest.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { availableCpus } from '../capacity.js';
import { compileOptions, flagField, type FieldNamer } from './compile.js';
import { OPTION_MINIMUMS, RUN_DEFAULTS, SPAWNERS, WORKER_DEFAULTS } from './defaults.js';
import { wholeNumber, wholeNumberOr } from './fields.js';
import { HOST_ID, HOST_ID_RULE, parseCapacity, parseLabels, type HostCapacity } from '../host-capacity.js';

/** A `KEY=VALUE,...` text through `parse`; its error becomes the field's issue. */
function parsedText<T>(parse: (text: string) => T) {
  return z
    .string()
    .default('')
    .transform((text, ctx): T => {
      try {
        return parse(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err), input: text });
        return z.NEVER;
      }
    });
}

/** The schema of a worker's options. */
export const workerOptionsSchema = z.object({
  /** Nodes run at once; default: CPUs available. */
  concurrency: wholeNumber(1).default(() => availableCpus()),
  /** nipype's maxtasksperchild; default 10. */
  max_tasks_per_child: wholeNumberOr(1, RUN_DEFAULTS.max_tasks_per_child),
  /** Worker name; default `host:pid`. */
  name: z.string().min(1).default(() => `${hostname()}:${process.pid}`),
  /** The host this worker belongs to (`flowgate hosts`); default: this host name. */
  host_id: z
    .string()
    .regex(HOST_ID, HOST_ID_RULE)
    .default(() => hostname()),
  /** What the host offers (`procs=16,mem_gb=64,gpu=2`); default: this host's CPUs and 90 % of its memory, no named resources. */
  capacity: parsedText<HostCapacity>((t) => parseCapacity(t)),
  /** Host labels (`gpu=a100,zone=b`); default none. */
  label: parsedText<Record<string, string>>(parseLabels),
  /** Job lock duration in ms; default 30000, at least 1000. */
  lock_duration_ms: wholeNumberOr(OPTION_MINIMUMS.lock_duration_ms, WORKER_DEFAULTS.lock_duration_ms),
  /** Stalled-job check period in ms; default 30000, at least 500. */
  stalled_interval_ms: wholeNumberOr(OPTION_MINIMUMS.stalled_interval_ms, WORKER_DEFAULTS.stalled_interval_ms),
  /** Times a lost job is run again before it fails as "worker lost"; default 1. */
  max_stalled_count: wholeNumberOr(0, WORKER_DEFAULTS.max_stalled_count),
  /** Heartbeat period in ms; default 2000, at least 100. */
  heartbeat_ms: wholeNumberOr(OPTION_MINIMUMS.heartbeat_ms, WORKER_DEFAULTS.heartbeat_ms),
  /** Resource sampling period in ms; default 1000, at least 50. */
  sample_interval_ms: wholeNumberOr(OPTION_MINIMUMS.sample_interval_ms, WORKER_DEFAULTS.sample_interval_ms),
  /** How node processes are started; default `auto`. */
  spawner: z.enum(SPAWNERS).default(WORKER_DEFAULTS.spawner),
  /** Nodes start from a minimal environment; default false. */
  clean_env: z.boolean().default(RUN_DEFAULTS.clean_env),
  /** After a graceful stop request, kill and requeue running nodes after this long (ms); default none: wait. */
  shutdown_deadline_ms: wholeNumber(0).optional(),
});

/** A worker's options compiled: every default applied. */
export type CompiledWorkerOptions = z.output<typeof workerOptionsSchema>;

/** Compiles a worker's options; a bad one is a validation error naming its flag. */
export function compileWorkerOptions(input: unknown, name: FieldNamer = flagField): CompiledWorkerOptions {
  return compileOptions(workerOptionsSchema, input, name);
}
