/**
 * File nodes as scheduled nodes: defaults applied (the file's `defaults`,
 * else flowgate's own), connections turned into dependencies, and function
 * modules, path inputs and crash dump dirs made absolute against the base dir.
 */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { impliedNeeds, nodeInputs } from './dataflow-check.js';
import type { NodeConfig, NodeInput, ShellSpec, WorkflowNode } from './model.js';
import { DEFAULT_MEM_GB, DEFAULT_N_PROCS, DEFAULT_SHELL, type WorkflowFile } from './schema.js';
import { nodeTemplates, templateNames } from './template.js';

/**
 * One frozen empty object shared by every node without env, inputs, outputs
 * or named resources (most nodes): four objects fewer per node, which a
 * 100,000-node run keeps for its whole length.
 */
const NONE: Readonly<Record<string, never>> = Object.freeze({});

/** `o`, or the shared empty object when `o` has no keys. */
export function orNone<T>(o: Readonly<Record<string, T>> | undefined): Readonly<Record<string, T>> {
  return o === undefined || Object.keys(o).length === 0 ? NONE : o;
}

/** File nodes as scheduled nodes, with defaults applied. */
export function toNodes(data: WorkflowFile, base: string, dirs?: ReadonlyMap<string, string>): WorkflowNode[] {
  const d = data.defaults;
  const defaults = {
    n_procs: d?.n_procs ?? DEFAULT_N_PROCS,
    mem_gb: d?.mem_gb ?? DEFAULT_MEM_GB,
    timeout_s: d?.timeout_s ?? null,
    retries: d?.retries ?? 0,
    retry_delay_s: d?.retry_delay_s ?? 0,
    shell: d?.shell === undefined ? DEFAULT_SHELL : shellSpec(d.shell),
    resources: d?.resources ?? {},
  };
  return data.nodes.map((n, index) => ({
    id: n.id,
    index,
    command: n.command ?? null,
    function: n.function === undefined ? null : { module: resolveModule(n.function.module, base), export: n.function.export },
    code_version: n.code_version ?? null,
    // Connections imply their dependencies.
    needs: impliedNeeds(n),
    n_procs: n.n_procs ?? defaults.n_procs,
    mem_gb: n.mem_gb ?? defaults.mem_gb,
    resources: orNone(namedResources(defaults.resources, n.resources)),
    ...(n.host !== undefined ? { host: [...new Set(typeof n.host === 'string' ? [n.host] : n.host)] } : {}),
    ...(n.host_labels !== undefined && Object.keys(n.host_labels).length > 0 ? { host_labels: { ...n.host_labels } } : {}),
    env: orNone(n.env),
    shell: typeof n.command !== 'string' ? null : n.shell === undefined ? defaults.shell : shellSpec(n.shell),
    timeout_s: n.timeout_s ?? defaults.timeout_s,
    retries: n.retries ?? defaults.retries,
    retry_delay_s: n.retry_delay_s ?? defaults.retry_delay_s,
    inputs: orNone(absolutePaths(nodeInputs(n), base)),
    outputs: orNone(n.outputs),
    stdout_json: n.stdout_json ?? false,
    ...(n.max_output_bytes !== undefined ? { max_output_bytes: n.max_output_bytes } : {}),
    overwrite: n.overwrite ?? false,
    map: n.map === undefined ? null : { over: [...n.map.over], mode: n.map.mode ?? 'zip', nested: n.map.nested ?? false },
    dir: dirs?.get(n.id) ?? n.id,
    ...(n.config !== undefined ? { config: nodeConfig(n.config, base) } : {}),
    // Only where a template names it, so other nodes are as they were.
    ...(nodeTemplates(n).some((t) => templateNames(t.text).includes('workflow.dir')) ? { workflow_dir: base } : {}),
  }));
}

/** A node's named resources: the defaults overridden per name by its own, zero counts dropped. */
function namedResources(defaults: Readonly<Record<string, number>>, own: Readonly<Record<string, number>> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, n] of Object.entries({ ...defaults, ...own })) if (n > 0) out[name] = n;
  return out;
}

/** A node's `config` with its crashdump_dir made absolute (relative to the workflow file). */
function nodeConfig(c: NonNullable<WorkflowFile['nodes'][number]['config']>, base: string): NodeConfig {
  return {
    ...(c.crashdump_dir !== undefined ? { crashdump_dir: resolvePath(base, c.crashdump_dir) } : {}),
    ...(c.stop_on_first_crash !== undefined ? { stop_on_first_crash: c.stop_on_first_crash } : {}),
    ...(c.hash_method !== undefined ? { hash_method: c.hash_method } : {}),
  };
}

/** A `shell` as written: a bare path runs with no options. */
function shellSpec(shell: string | { path: string; flags?: string[] | undefined }): ShellSpec {
  return typeof shell === 'string' ? { path: shell, flags: [] } : { path: shell.path, flags: [...(shell.flags ?? [])] };
}

/** Function modules are relative to the base dir: the workflow file's (or the working directory without one), or the API's `base_dir`. */
export function resolveModule(module: string, base: string): string {
  return isAbsolute(module) ? module : resolvePath(base, module);
}

/** Path inputs as absolute paths (relative ones are relative to the base dir, like modules). */
function absolutePaths(inputs: Record<string, NodeInput>, base: string): Record<string, NodeInput> {
  for (const [name, input] of Object.entries(inputs)) {
    if (input.kind === 'path') inputs[name] = { kind: 'path', path: resolveModule(input.path, base) };
  }
  return inputs;
}
