/**
 * A workflow as flowgate runs it: validated, defaults applied, paths made
 * absolute (parse.ts makes it from a file written in the format of
 * schema.ts). What the scheduler, the workers and the graph export read.
 */

/** A node after validation, with defaults applied. */
export interface WorkflowNode {
  /** Unique node id. */
  readonly id: string;
  /**
   * `{{workflow.dir}}`: the directory relative paths of the workflow are
   * resolved against (the workflow file's). Absent in workflows stored by
   * older versions.
   */
  readonly workflow_dir?: string;
  /** Position in the file (0-based); ties in the topological order follow it. */
  readonly index: number;
  /** argv (no shell) or a shell string; null for a function node. */
  readonly command: readonly string[] | string | null;
  /** The function a function node runs (module resolved to an absolute path); null for a command node. */
  readonly function: NodeFunction | null;
  /** Function nodes: the user's version of the code, replacing the import scan in the cache key; null when not given. */
  readonly code_version: string | null;
  /** Ids of the nodes that must succeed first. */
  readonly needs: readonly string[];
  /** Threads reserved for this node. */
  readonly n_procs: number;
  /** Memory in GB reserved for this node. */
  readonly mem_gb: number;
  /**
   * Named resources reserved for this node in whole slots (`{gpu: 1}`): the
   * file's `defaults.resources` overridden per name by the node's, zero
   * counts dropped; `{}` when none. Map elements and iterables copies inherit it.
   */
  readonly resources: Readonly<Record<string, number>>;
  /** Host ids the node may run on (no repeats, in the file's order); absent: any host. */
  readonly host?: readonly string[];
  /** Labels a host must have, every pair (`{gpu: 'a100'}`); absent: no label constraint. */
  readonly host_labels?: Readonly<Record<string, string>>;
  /** Extra environment for the node's process. */
  readonly env: Readonly<Record<string, string>>;
  /** String commands: the shell that runs them; null for argv commands and functions. */
  readonly shell: ShellSpec | null;
  /** Wall-clock limit per attempt in seconds, or null for none. */
  readonly timeout_s: number | null;
  /** Retries after a failure (0: the first failure is final). */
  readonly retries: number;
  /** Seconds between a failure and the next attempt. */
  readonly retry_delay_s: number;
  /** Named inputs: literal values and connections to other nodes' outputs. */
  readonly inputs: Readonly<Record<string, NodeInput>>;
  /** Command nodes: named output file templates (relative to the node directory). */
  readonly outputs: Readonly<Record<string, string>>;
  /** Command nodes: stdout is a JSON object of outputs. */
  readonly stdout_json: boolean;
  /** Largest outputs of this node in bytes of JSON; absent: the run's limit. */
  readonly max_output_bytes?: number;
  /** Run even when the cache record matches. */
  readonly overwrite: boolean;
  /** MapNode: the inputs mapped over and how their items combine; null for a plain node. */
  readonly map: NodeMap | null;
  /** The node's directory under `<work dir>/<workflow>/`: its id, or `_p_v/<node>` for a copy made by iterables. */
  readonly dir: string;
  /** Per-node overrides of run options (nipype's node `config`); absent: none. Map elements inherit it. */
  readonly config?: NodeConfig;
}

/** A node's overrides of run options (crashdump_dir absolute once validated). */
export interface NodeConfig {
  readonly crashdump_dir?: string;
  readonly stop_on_first_crash?: boolean;
  readonly hash_method?: 'timestamp' | 'content';
}

/** A shell: a string command runs as `path ...flags -c SCRIPT`. */
export interface ShellSpec {
  readonly path: string;
  readonly flags: readonly string[];
}

/** How a map node's elements are made. */
export interface NodeMap {
  readonly over: readonly string[];
  readonly mode: 'zip' | 'product';
  /** The mapped input is a nested list, flattened into elements; outputs are nested back to its shape. Absent: false. */
  readonly nested?: boolean;
}

/** One input of a node. */
export type NodeInput =
  | { readonly kind: 'value'; readonly value: unknown }
  | { readonly kind: 'from'; readonly node: string; readonly output: string }
  /** A file or directory the node reads (absolute once validated; as written before): fingerprinted for the cache. */
  | { readonly kind: 'path'; readonly path: string }
  /** Several outputs gathered into a list, in order (also what a join collects). */
  | {
      readonly kind: 'gather';
      readonly sources: ReadonlyArray<{ readonly node: string; readonly output: string }>;
      /** Repeated values are dropped, the first of each kept in order (a join with `unique`). Absent: false. */
      readonly unique?: boolean;
    };

/** A function node's function. */
export interface NodeFunction {
  /** Absolute path of the module. */
  readonly module: string;
  /** Export name (`default` for the default export). */
  readonly export: string;
}

/** A validated workflow, ready to be scheduled. */
export interface Workflow {
  readonly name: string;
  readonly nodes: readonly WorkflowNode[];
  /** Validation warnings (not errors): e.g. files a command names that the cache does not track. */
  readonly warnings?: readonly string[];
}
