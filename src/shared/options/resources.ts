/**
 * The named-resource budget of a run or of the scheduler service, given
 * three ways: `--resource NAME=N` (repeatable; the flag's text, also the
 * variable's), `resources: {NAME: N}` (the API) and `--n-gpu-procs N`
 * (nipype's `n_gpu_procs`, the same as `gpu=N`). The schemas check each form;
 * {@link compileResources} merges them into one `{NAME: N}` and refuses
 * forms that disagree, naming both.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { MAX_RESOURCE_SLOTS, parseResources, resourceCountProblem, resourceNameProblem } from '../host-capacity.js';
import type { FieldNamer } from './compile.js';

/** The named resource `n_gpu_procs` counts. */
export const GPU_RESOURCE = 'gpu';

/** Named resource counts, e.g. `{gpu: 2, licence_x: 1}`. */
export type ResourceBudget = Record<string, number>;

/** `NAME=N[,NAME=N...]` as given to `--resource` (repeated flags arrive joined by commas). */
const resourceText = z.string().transform((text, ctx): ResourceBudget => {
  try {
    return parseResources(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err), input: text });
    return z.NEVER;
  }
});

/** `{NAME: N}` as the API gives it, each entry checked by the rule of the text form. */
const resourceRecord = z.record(z.string(), z.unknown()).transform((given, ctx): ResourceBudget => {
  const out: ResourceBudget = {};
  for (const [name, n] of Object.entries(given)) {
    const problem = resourceNameProblem(name) ?? resourceCountProblem(name, n);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: problem, input: n });
    else out[name] = n as number;
  }
  return out;
});

/** The zod fields of a named-resource budget, shared by the run's and the service's options. */
export const resourceBudgetFields = {
  /** `--resource NAME=N[,NAME=N...]` (repeatable); default none. */
  resource: resourceText.optional(),
  /** Named resources as `{NAME: N}` (the API); default none. */
  resources: resourceRecord.optional(),
  /** nipype's `n_gpu_procs`: GPU slots, the same as `resource gpu=N`; default none. */
  n_gpu_procs: z.number().int().min(0).max(MAX_RESOURCE_SLOTS).optional(),
};

/** The budget fields as {@link resourceBudgetFields} compiled them. */
export interface ResourceBudgetInput {
  resource?: ResourceBudget | undefined;
  resources?: ResourceBudget | undefined;
  n_gpu_procs?: number | undefined;
}

/**
 * The one named-resource budget of the three forms (`{}` when none; zero
 * counts dropped). Two forms giving one resource different counts are an
 * `OPTIONS_INVALID` error naming both, as `name` calls them
 * (`--n-gpu-procs` and `--resource`, or `n_gpu_procs` and `resources`).
 */
export function compileResources(o: ResourceBudgetInput, name: FieldNamer): ResourceBudget {
  const sources: Array<[key: string, budget: ResourceBudget]> = [];
  if (o.resource !== undefined) sources.push(['resource', o.resource]);
  if (o.resources !== undefined) sources.push(['resources', o.resources]);
  if (o.n_gpu_procs !== undefined) sources.push(['n_gpu_procs', { [GPU_RESOURCE]: o.n_gpu_procs }]);
  const out: ResourceBudget = {};
  const from = new Map<string, string>();
  for (const [key, budget] of sources) {
    for (const [resource, n] of Object.entries(budget)) {
      const earlier = from.get(resource);
      const had = out[resource] ?? 0;
      if (earlier !== undefined && had !== n) {
        throw new ValidationError('OPTIONS_INVALID', [
          {
            field: name(key),
            message: `gives ${resource}=${n}, but ${name(earlier)} gives ${resource}=${had}; give each count once${resource === GPU_RESOURCE ? ` (${name('n_gpu_procs')} N is ${GPU_RESOURCE}=N)` : ''}`,
          },
        ]);
      }
      from.set(resource, key);
      out[resource] = n;
    }
  }
  for (const [resource, n] of Object.entries(out)) if (n === 0) delete out[resource];
  return out;
}
