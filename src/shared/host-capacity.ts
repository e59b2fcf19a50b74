/**
 * A host's capacity and labels as a worker declares them
 * (`--capacity procs=16,mem_gb=64,gpu=2`, `--label gpu=a100`): parsed and
 * checked here, with errors naming the key, so every entry point (flags,
 * environment, API) reads them the same way.
 */
import { availableCpus, defaultMemoryBudgetGb, MAX_MEM_GB, MAX_N_PROCS } from './capacity.js';
import { describeAmounts } from './amounts.js';

/** A host's capacity: threads, memory and named resources in whole slots. */
export interface HostCapacity {
  n_procs: number;
  mem_gb: number;
  resources: Record<string, number>;
}

/** Names of named resources and label keys: `gpu`, `licence_x`. */
export const RESOURCE_NAME = /^[a-z][a-z0-9_]{0,31}$/;
/** The rule of {@link RESOURCE_NAME} in words, for messages. */
export const RESOURCE_NAME_RULE = 'lower-case letters, digits and _, starting with a letter, at most 32';
/** Largest count of one named resource on one host (and in one budget or node). */
export const MAX_RESOURCE_SLOTS = 4096;
/** Names that are not named resources: threads and memory have fields of their own. */
export const RESERVED_RESOURCE_NAMES: readonly string[] = ['procs', 'n_procs', 'mem_gb', 'mem', 'memory_gb'];
const RESERVED = new Set(RESERVED_RESOURCE_NAMES);

/** Host ids (`flowgate worker --host-id`, a node's `host`): 1-63 letters, digits, `.`, `_`, `-`. */
export const HOST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** The rule of {@link HOST_ID} in words, for messages. */
export const HOST_ID_RULE = 'must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit';
/** Label values (`--label gpu=a100`, a node's `host_labels`). */
export const LABEL_VALUE = /^[\w.-]{1,64}$/;
/** The rule of {@link LABEL_VALUE} in words, for messages. */
export const LABEL_VALUE_RULE = 'must be 1-64 letters, digits, ".", "_" or "-"';

/** Why `name` cannot name a named resource, or undefined when it can. */
export function resourceNameProblem(name: string): string | undefined {
  if (RESERVED.has(name)) return `"${name}" is not a named resource (threads and memory are budgeted as n_procs and mem_gb)`;
  if (!RESOURCE_NAME.test(name)) return `"${name}" is not a resource name (${RESOURCE_NAME_RULE})`;
  return undefined;
}

/** Why `count` is not a count of `name` slots (a whole number from 0 to {@link MAX_RESOURCE_SLOTS}), or undefined. */
export function resourceCountProblem(name: string, count: unknown): string | undefined {
  if (typeof count === 'number' && Number.isInteger(count) && count >= 0 && count <= MAX_RESOURCE_SLOTS) return undefined;
  const received = typeof count === 'string' ? `"${count}"` : typeof count === 'number' ? String(count) : count === null ? 'null' : Array.isArray(count) ? 'an array' : typeof count;
  return `"${name}" must be a whole number of slots from 0 to ${MAX_RESOURCE_SLOTS}, received ${received}`;
}

/**
 * Named resource counts from `NAME=N[,NAME=N...]` (`--resource gpu=2`), each
 * checked (zero counts kept: the caller decides what 0 means). Messages name
 * the resource, not the flag or variable, which the caller names.
 */
export function parseResources(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of pairs(text, '')) {
    const name = resourceNameProblem(key);
    if (name !== undefined) throw new RangeError(name);
    const n = Number(value);
    // Counts are shown as they were written: `received "1.5"`.
    if (!/^\d+$/.test(value) || resourceCountProblem(key, n) !== undefined) throw new RangeError(resourceCountProblem(key, value));
    out[key] = n;
  }
  return out;
}

/** `KEY=VALUE,...` as pairs; errors start with `what: ` (nothing for an empty `what`). */
function pairs(text: string, what: string): Array<[string, string]> {
  const at = what === '' ? '' : `${what}: `;
  const out: Array<[string, string]> = [];
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new RangeError(`${at}"${item}" is not KEY=VALUE`);
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (seen.has(key)) throw new RangeError(`${at}"${key}" is given twice`);
    seen.add(key);
    out.push([key, value]);
  }
  return out;
}

/**
 * Parses `procs=16,mem_gb=64,gpu=2`. `procs` (alias `n_procs`) and `mem_gb`
 * default to this host's CPUs and 90 % of its memory; any other key is a
 * named resource counted in whole slots.
 */
export function parseCapacity(text: string, defaults: () => { n_procs: number; mem_gb: number } = () => ({ n_procs: availableCpus(), mem_gb: defaultMemoryBudgetGb() })): HostCapacity {
  let n_procs: number | undefined;
  let mem_gb: number | undefined;
  const resources: Record<string, number> = {};
  for (const [key, value] of pairs(text, 'capacity')) {
    const n = Number(value);
    if (key === 'procs' || key === 'n_procs') {
      if (value === '' || !Number.isInteger(n) || n < 1 || n > MAX_N_PROCS) throw new RangeError(`capacity: ${key} must be a whole number from 1 to ${MAX_N_PROCS}, received "${value}"`);
      n_procs = n;
    } else if (key === 'mem_gb') {
      if (value === '' || !Number.isFinite(n) || n <= 0 || n > MAX_MEM_GB) throw new RangeError(`capacity: mem_gb must be a number of GB above 0 (at most ${MAX_MEM_GB}), received "${value}"`);
      mem_gb = n;
    } else {
      if (!RESOURCE_NAME.test(key) || RESERVED.has(key)) {
        throw new RangeError(`capacity: "${key}" is not a resource name (lower-case letters, digits and _, starting with a letter; procs and mem_gb are the built-in ones)`);
      }
      if (value === '' || !Number.isInteger(n) || n < 0 || n > MAX_RESOURCE_SLOTS) throw new RangeError(`capacity: ${key} must be a whole number of slots from 0 to ${MAX_RESOURCE_SLOTS}, received "${value}"`);
      resources[key] = n;
    }
  }
  if (n_procs === undefined || mem_gb === undefined) {
    const d = defaults();
    n_procs ??= d.n_procs;
    mem_gb ??= d.mem_gb;
  }
  return { n_procs, mem_gb, resources };
}

/** Parses host labels `gpu=a100,zone=b` (keys as resource names; values non-empty, no commas). */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of pairs(text, 'labels')) {
    if (!RESOURCE_NAME.test(key)) throw new RangeError(`labels: "${key}" is not a label name (lower-case letters, digits and _, starting with a letter)`);
    if (!LABEL_VALUE.test(value)) throw new RangeError(`labels: ${key} ${LABEL_VALUE_RULE}, received "${value}"`);
    labels[key] = value;
  }
  return labels;
}

/** "16 procs, 64 GB, gpu 2" for listings. */
export function describeCapacity(c: HostCapacity): string {
  return describeAmounts(c, true);
}
