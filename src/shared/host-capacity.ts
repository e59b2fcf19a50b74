/**
 * A host's capacity and labels as a worker declares them
 * (`--capacity procs=16,mem_gb=64,gpu=2`, `--label gpu=a100`): parsed and
 * checked here, with errors naming the key, so every entry point (flags,
 * environment, API) reads them the same way.
 */
import { availableCpus, defaultMemoryBudgetGb, MAX_MEM_GB, MAX_N_PROCS } from './capacity.js';

/** A host's capacity: threads, memory and named resources in whole slots. */
export interface HostCapacity {
  n_procs: number;
  mem_gb: number;
  resources: Record<string, number>;
}

/** Names of named resources and label keys: `gpu`, `licence_x`. */
export const RESOURCE_NAME = /^[a-z][a-z0-9_]{0,31}$/;
/** Largest count of one named resource on one host. */
export const MAX_RESOURCE_SLOTS = 4096;
const RESERVED = new Set(['procs', 'n_procs', 'mem_gb', 'mem', 'memory_gb']);

function pairs(text: string, what: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new RangeError(`${what}: "${item}" is not KEY=VALUE`);
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (seen.has(key)) throw new RangeError(`${what}: "${key}" is given twice`);
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
    if (value === '' || value.length > 64 || !/^[\w.-]+$/.test(value)) throw new RangeError(`labels: ${key} must be 1-64 letters, digits, ".", "_" or "-", received "${value}"`);
    labels[key] = value;
  }
  return labels;
}

/** "16 procs, 64 GB, gpu 2" for listings. */
export function describeCapacity(c: HostCapacity): string {
  return [`${c.n_procs} procs`, `${Math.round(c.mem_gb * 100) / 100} GB`, ...Object.entries(c.resources).map(([k, v]) => `${k} ${v}`)].join(', ');
}
