/**
 * Building workflows in code: the same graph a v1 file describes, checked by
 * the same validation (and so with the same errors) as a file.
 */
import { validateWorkflow } from '../shared/workflow/parse.js';
import { baseDirFrom } from './api-support.js';
import type { Workflow } from '../shared/workflow/model.js';
import type { WorkflowFile } from '../shared/workflow/schema.js';
import { modulePath, type InputsField, type Step, type StepInputs, type StepOutputs, type StepRef, type UntypedFunction } from './step.js';

/** A node as {@link WorkflowBuilder.node} takes it: the v1 node fields except `id`. */
export interface NodeSpec {
  /** An argv (run without a shell) or a shell script (run by `shell`, default `/bin/bash -e -u -o pipefail -c`). Exactly one of `command` and `function`. */
  command?: string | readonly string[];
  /** String commands: the shell, as a path (no options) or `{path, flags}` (default: the workflow's, else bash strict mode). */
  shell?: ShellOption;
  /**
   * A JavaScript/TypeScript function `(inputs, ctx) => outputs` run in a recycled
   * worker child process. `module` is absolute, or relative to the base dir
   * (`base_dir`: pass `import.meta.url` to resolve it against the calling
   * module; default the current directory), or a `file:` URL such as
   * `new URL('./steps.ts', import.meta.url)`. `build()` checks that the module
   * exists and exports the function. A typed step from {@link stepModule}
   * also checks `inputs` and the outputs taken from the node at compile time.
   */
  function?: UntypedFunction;
  /** Function nodes: your version of the code; when given, it replaces the scan of the module's local imports in the cache key. */
  code_version?: string;
  /** Nodes that must succeed first, by id or by the reference {@link WorkflowBuilder.node} returned. */
  needs?: ReadonlyArray<string | NodeRef>;
  /** Threads the node uses (default 1, or the workflow's default). */
  n_procs?: number;
  /** Peak memory in GB (default 0.2 as in nipype, or the workflow's default). */
  mem_gb?: number;
  /** Named resources in whole slots, e.g. `{gpu: 1}`, reserved from the run's `resources` budget (default: the workflow's `resources`, per name; 0 means none). */
  resources?: Readonly<Record<string, number>>;
  /** Host id, or ids, the node may run on (as `flowgate worker --host-id` names them); used when nodes are placed per host. */
  host?: string | readonly string[];
  /** Labels a host must have, every pair (as `flowgate worker --label` sets them), e.g. `{gpu: 'a100'}`; used when nodes are placed per host. */
  host_labels?: Readonly<Record<string, string>>;
  /** Extra environment variables. */
  env?: Readonly<Record<string, string>>;
  /** Wall-clock limit per attempt in seconds. */
  timeout_s?: number;
  /** Retries after a failure. */
  retries?: number;
  /** Seconds before each retry. */
  retry_delay_s?: number;
  /**
   * Named inputs: literal values, another node's output (`ref.out('name')` or
   * `{from: 'node.output'}`), or a file or directory the node reads
   * (`path('data/x.fq')` or `{path: ...}`, relative to the base dir, like `function.module`):
   * its fingerprint is part of the node's cache key.
   */
  inputs?: Readonly<Record<string, unknown>>;
  /** Command nodes: named output files (templates, relative to the node directory). */
  outputs?: Readonly<Record<string, string>>;
  /** Command nodes: stdout is a JSON object of outputs. */
  stdout_json?: boolean;
  /** Largest outputs of this node in bytes of JSON (default: the run's `max_output_bytes`, 4 MB). */
  max_output_bytes?: number;
  /** Run even when the node's cache record matches. */
  overwrite?: boolean;
  /**
   * nipype's per-node config: this node's crash records go to `crashdump_dir`
   * (default: the run's), its failure stops admitting with `stop_on_first_crash`
   * (default false), its input files are hashed with `hash_method` (default: the run's).
   */
  config?: { crashdump_dir?: string; stop_on_first_crash?: boolean; hash_method?: 'timestamp' | 'content' };
  /** nipype MapNode: one element per item of the listed list inputs, outputs collected into lists. */
  map?: { over: readonly string[]; mode?: 'zip' | 'product' };
  /** nipype iterables: one copy of the node (and its descendants) per value, set as the input of that name. */
  iterables?: Readonly<Record<string, ReadonlyArray<string | number | boolean>>>;
  /** With several iterables: values in lockstep instead of every combination. */
  synchronize?: boolean;
  /** nipype JoinNode: collect the copies made by `source` into lists for the inputs in `fields`. */
  join?: { source: string | NodeRef; fields: readonly string[] };
}

/**
 * A node running a typed step (see {@link stepModule}): `inputs` are checked
 * against the function's first parameter, except those set by `iterables`
 * (`It`), taken element by element by `map` (`Mp`, given as lists) or
 * collected by `join` (`J`, given as a connection to the joined node's output).
 */
export type StepNodeSpec<I, O, It extends PropertyKey = never, Mp extends PropertyKey = never, J extends PropertyKey = never> = Omit<
  NodeSpec,
  'function' | 'command' | 'shell' | 'inputs' | 'outputs' | 'stdout_json' | 'iterables' | 'map' | 'join'
> & {
  function: Step<I, O>;
  /** One copy of the node per value, each given as the input of that name. */
  iterables?: { [K in It]: ReadonlyArray<NoInfer<I>[K & keyof I] & (string | number | boolean)> };
  /** nipype MapNode: one element per item of the listed inputs; outputs become lists. */
  map?: { over: readonly Mp[]; mode?: 'zip' | 'product' };
  /** nipype JoinNode: collect the copies made by `source` into lists for `fields`. */
  join?: { source: string | NodeRef; fields: readonly J[] };
} & InputsField<NoInfer<StepInputs<I, It, Mp, J>>>;

/** The shell of string commands: a path alone (run as `path -c SCRIPT`) or a path with options before `-c`. */
export type ShellOption = string | { path: string; flags?: string[] };

/** Per-node defaults of a workflow. */
export interface WorkflowDefaults {
  shell?: ShellOption;
  n_procs?: number;
  mem_gb?: number;
  /** Named resources of every node that does not name them itself. */
  resources?: Readonly<Record<string, number>>;
  timeout_s?: number;
  retries?: number;
  retry_delay_s?: number;
}

/** A reference to a node added to a builder, usable in `needs`. */
export interface NodeRef {
  readonly id: string;
  /** A connection to one of the node's outputs, for another node's `inputs`. */
  out(output: string): { from: string };
}

/** Options of a {@link WorkflowBuilder}. */
export interface BuilderOptions {
  /**
   * What relative function modules, path inputs and crash dirs are resolved
   * against, and `{{workflow.dir}}`: a directory, or a `file:` URL such as
   * the calling module's `import.meta.url` (its directory). Default: the
   * current directory when the workflow is built.
   */
  base_dir?: string | URL;
}

/** Builds a workflow node by node. */
export class WorkflowBuilder {
  private readonly nodes: Array<Record<string, unknown>> = [];
  /** The absolute base dir given (see {@link BuilderOptions.base_dir}); undefined: the current directory. */
  readonly baseDir: string | undefined;

  constructor(
    readonly name: string,
    private readonly defaults?: WorkflowDefaults,
    options: BuilderOptions = {},
  ) {
    this.baseDir = options.base_dir === undefined ? undefined : baseDirFrom(options.base_dir);
  }

  /**
   * Adds a node; returns a reference to it for other nodes' `needs` and
   * `inputs`. Nothing is checked until {@link build} — except, for a typed
   * step, its inputs and the names of its outputs, by the compiler.
   */
  node<I, O, It extends keyof I & string = never, Mp extends keyof I & string = never, J extends keyof I & string = never>(
    id: string,
    spec: StepNodeSpec<I, O, It, Mp, J>,
  ): StepRef<StepOutputs<O, Mp>>;
  node(id: string, spec: NodeSpec): NodeRef;
  node(id: string, spec: Omit<NodeSpec, 'function'> & { function?: { module: string | URL; export?: string } }): NodeRef {
    const { needs, function: fn, command, env, inputs, outputs, iterables, join, map, ...rest } = spec;
    this.nodes.push({
      id,
      ...(command !== undefined ? { command: typeof command === 'string' ? command : [...command] } : {}),
      ...(fn !== undefined ? { function: { module: modulePath(fn.module), export: fn.export ?? 'default' } } : {}),
      ...(needs !== undefined ? { needs: needs.map((n) => (typeof n === 'string' ? n : n.id)) } : {}),
      ...(env !== undefined ? { env: { ...env } } : {}),
      ...(inputs !== undefined ? { inputs: { ...inputs } } : {}),
      ...(outputs !== undefined ? { outputs: { ...outputs } } : {}),
      ...(iterables !== undefined ? { iterables: Object.fromEntries(Object.entries(iterables).map(([k, v]) => [k, [...v]])) } : {}),
      ...(map !== undefined ? { map: { over: [...map.over], ...(map.mode !== undefined ? { mode: map.mode } : {}) } } : {}),
      ...(join !== undefined ? { join: { source: typeof join.source === 'string' ? join.source : join.source.id, fields: [...join.fields] } } : {}),
      ...rest,
    });
    return { id, out: (output: string) => ({ from: `${id}.${output}` }) };
  }

  /** The workflow as a v1 document (what `JSON.stringify` writes: a valid workflow file). */
  toJSON(): WorkflowFile {
    return {
      name: this.name,
      ...(this.defaults !== undefined ? { defaults: { ...this.defaults } } : {}),
      nodes: this.nodes.map((n) => ({ ...n })),
    } as WorkflowFile;
  }

  /**
   * Validates the workflow exactly as a file is validated (unknown fields,
   * duplicate ids, unknown `needs`, cycles, bad resources) and applies the
   * defaults. Throws a `ValidationError` listing every problem.
   *
   * `max_nodes`: the most nodes one expansion (iterables, a map over literal
   * lists) may create, default 1000000; larger ones are refused with code
   * `WORKFLOW_TOO_LARGE` before anything is made.
   *
   * `base_dir` overrides the builder's (see {@link BuilderOptions.base_dir}).
   * Function modules must exist and export the named function: a missing
   * one is an issue naming the node and `function.module` or `function.export`.
   */
  build(options: { max_nodes?: number; base_dir?: string | URL } = {}): Workflow {
    const baseDir = options.base_dir !== undefined ? baseDirFrom(options.base_dir) : this.baseDir;
    return validateWorkflow(this.toJSON(), { file: `<workflow ${this.name}>` }, { ...(options.max_nodes !== undefined ? { maxNodes: options.max_nodes } : {}), ...(baseDir !== undefined ? { baseDir } : {}) });
  }
}

/**
 * Starts building a workflow named `name` (letters, digits, `.`, `_`, `-`).
 * `workflow('x', {}, { base_dir: import.meta.url })` resolves relative
 * modules and paths against the calling module's directory.
 */
export function workflow(name: string, defaults?: WorkflowDefaults, options?: BuilderOptions): WorkflowBuilder {
  return new WorkflowBuilder(name, defaults, options);
}

/**
 * A path input: a file or directory the node reads (absolute, or relative to
 * the workflow's base dir, by default the current directory). The node sees its absolute path; its fingerprint
 * (size and mtime, or content; a directory by its listing) is part of the
 * node's cache key, so changing it reruns the node.
 */
export function path(file: string): { path: string } {
  return { path: file };
}
