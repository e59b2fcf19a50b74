/**
 * The workflow file format, version 1, as a zod schema. The JSON Schema shipped
 * for editors (`schema/workflow-v1.schema.json`) is generated from this file.
 */
import { z } from 'zod';
import { MAX_MEM_GB, MAX_N_PROCS } from '../capacity.js';
import { HOST_ID, HOST_ID_RULE, LABEL_VALUE, LABEL_VALUE_RULE, MAX_RESOURCE_SLOTS, RESERVED_RESOURCE_NAMES, RESOURCE_NAME, RESOURCE_NAME_RULE } from '../host-capacity.js';
import { HASH_METHODS } from '../options/defaults.js';
import type { ShellSpec } from './model.js';

/** Ids and names: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const idString = z
  .string()
  .max(200)
  .regex(ID_PATTERN, 'must start with a letter or digit and contain only letters, digits, ".", "_" and "-"');

const nProcs = z
  .number()
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(MAX_N_PROCS, `must be at most ${MAX_N_PROCS}`);
const memGb = z
  .number()
  .positive('must be greater than 0')
  .max(MAX_MEM_GB, `must be at most ${MAX_MEM_GB} (1 PiB in GB)`);
// Node's timers overflow past 2^31 - 1 ms (~24.8 days).
const timeoutS = z.number().positive('must be greater than 0').max(2_147_483, 'must be at most 2147483 (about 24.8 days)');
const noNul = (v: string): boolean => !v.includes('\0');
const retries = z.number().int('must be a whole number').min(0, 'must be 0 or more').max(100, 'must be at most 100');
// The delay is a timer too: past 2^31 - 1 ms Node would fire it at once.
const retryDelayS = z.number().min(0, 'must be 0 or more').max(2_147_483, 'must be at most 2147483 (about 24.8 days)');
const notBlank = (v: string): boolean => v.trim() !== '';

// Named resources, host ids and labels follow the rules of the workers that offer them (host-capacity.ts).
// Key messages read after the key: `"GPU" is not a resource name (...)`.
const resourceName = z
  .string()
  .regex(RESOURCE_NAME, `is not a resource name (${RESOURCE_NAME_RULE})`)
  .refine((k) => !RESERVED_RESOURCE_NAMES.includes(k), 'is not a named resource (threads and memory are the node\'s n_procs and mem_gb)');
const resourceSlots = z
  .number()
  .int('must be a whole number')
  .min(0, 'must be 0 or more')
  .max(MAX_RESOURCE_SLOTS, `must be at most ${MAX_RESOURCE_SLOTS}`);
const resources = z.record(resourceName, resourceSlots);
const hostId = z.string().regex(HOST_ID, HOST_ID_RULE);
const hostLabels = z.record(z.string().regex(RESOURCE_NAME, `is not a label name (${RESOURCE_NAME_RULE})`), z.string().regex(LABEL_VALUE, LABEL_VALUE_RULE));

/** Input and output names: identifiers. */
export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const nameKey = z.string().regex(NAME_PATTERN, 'names must start with a letter or "_" and contain only letters, digits and "_"');

/** `<node id>.<output name>`: the node id may itself contain dots; the output name cannot. */
export const CONNECTION_PATTERN = /^([A-Za-z0-9][A-Za-z0-9._-]*)\.([A-Za-z_][A-Za-z0-9_]*)$/;

const connectionString = z.string().regex(CONNECTION_PATTERN, 'must be "<node>.<output>"');

/** Whether an input value is written as a connection: `{from}` or `{from, unique}`. */
export function isConnectionShape(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, 'from')) return false;
  const keys = Object.keys(v);
  return keys.length === 1 || (keys.length === 2 && typeof (v as { unique?: unknown }).unique === 'boolean');
}

/** Any JSON value (literal inputs). */
const jsonValue: z.ZodType<unknown> = z.lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]));

const inputValue = z
  .union([
    z
      .strictObject({
        from: z
          .union([connectionString, z.array(connectionString).min(1, 'must name at least one output')])
          .describe('Another node\'s output, or a list of outputs gathered into a list; implies a dependency on those nodes.'),
        unique: z
          .boolean()
          .optional()
          .describe('With a list of outputs: drop repeated values, keeping the first of each in order (what a join with `unique` collects); default false.'),
      })
      .describe('A connection: the value of another node\'s output (or a list of them).'),
    z
      .strictObject({
        path: z.string().min(1, 'must not be empty').refine(noNul, 'must not contain NUL characters').describe('A file or directory, relative to the workflow file\'s directory or absolute.'),
      })
      .describe('A file or directory the node reads: its value is the absolute path, and its fingerprint (size and mtime, or content; a directory by its listing) is part of the node\'s cache key.'),
    jsonValue.describe('A literal value (string, number, boolean, null, list or object).'),
  ])
  .describe('A literal value, {from: "<node>.<output>"} or {path: "<file or directory>"}.');

const shellPath = z
  .string()
  .min(1, 'must not be empty')
  .refine(noNul, 'must not contain NUL characters')
  .refine((p) => p.startsWith('/') || !p.includes('/'), 'must be an absolute path, or a program name looked up in PATH');

/** How shell-string commands run: `PATH [FLAGS...] -c SCRIPT`. */
export const shellSchema = z
  .union([
    shellPath.describe('The shell program alone: a string command runs as `<path> -c SCRIPT`, with no options.'),
    z
      .strictObject({
        path: shellPath.describe('The shell program: an absolute path, or a name looked up in PATH.'),
        flags: z
          .array(z.string().min(1, 'must not be empty').refine(noNul, 'must not contain NUL characters').refine((f) => f !== '-c', 'flowgate adds "-c SCRIPT" itself'))
          .optional()
          .describe('Options given to the shell before `-c SCRIPT` (default none), e.g. ["-e", "-u", "-o", "pipefail"].'),
      })
      .describe('The shell program and the options it gets before `-c SCRIPT`.'),
  ])
  .describe('The shell that runs string commands (default: /bin/bash -e -u -o pipefail, i.e. bash strict mode).');

/** What a string command runs under when neither the node nor the defaults say: bash strict mode. */
export const DEFAULT_SHELL: ShellSpec = { path: '/bin/bash', flags: ['-e', '-u', '-o', 'pipefail'] };

/** Per-node defaults; these are also the values used when a file gives none. */
export const DEFAULT_N_PROCS = 1;
export const DEFAULT_MEM_GB = 0.2;

export const defaultsSchema = z
  .strictObject({
    n_procs: nProcs.optional().describe('Threads a node uses unless it says otherwise (default 1).'),
    mem_gb: memGb.optional().describe('Memory in GB a node uses unless it says otherwise (default 0.2, as in nipype).'),
    timeout_s: timeoutS.optional().describe('Wall-clock limit per attempt in seconds (default: none).'),
    retries: retries.optional().describe('How many times a failed node is retried (default 0).'),
    retry_delay_s: retryDelayS.optional().describe('Seconds to wait before a retry (default 0).'),
    shell: shellSchema.optional(),
    resources: resources.optional().describe('Named resources every node holds unless it says otherwise, per name (default none).'),
  })
  .describe('Defaults applied to every node.');

export const nodeSchema = z
  .strictObject({
    id: idString.describe('Unique node id.'),
    command: z
      .union([
        z
          .string()
          .min(1, 'must not be empty')
          // An empty string is reported once, by min().
          .refine((v) => v === '' || notBlank(v), 'must not be only whitespace')
          .refine(noNul, 'must not contain NUL characters')
          .describe('A shell script, run by the node\'s shell (default /bin/bash -euo pipefail).'),
        z
          .array(z.string().refine(noNul, 'must not contain NUL characters'))
          .min(1, 'must name a program')
          .refine((a) => a.length === 0 || notBlank(a[0] as string), 'the program (first element) must not be empty or only whitespace')
          .describe('argv, run without a shell.'),
      ])
      .optional()
      .describe('What the node runs: an argv array (no shell) or a string (a script run by the node\'s shell, default bash strict mode). Exactly one of command and function.'),
    function: z
      .strictObject({
        module: z.string().min(1, 'must not be empty').describe('Path of a JavaScript/TypeScript module, relative to the workflow file.'),
        export: z.string().min(1, 'must not be empty').describe('Name of the exported function (`default` for the default export).'),
      })
      .optional()
      .describe('A JavaScript/TypeScript function run in a recycled worker child process: (inputs, ctx) => outputs.'),
    code_version: z
      .string()
      .min(1, 'must not be empty')
      .optional()
      .describe('Function nodes: a version string of the code; when given, it replaces the scan of the module\'s local imports in the cache key (the module\'s own source is still hashed).'),
    needs: z.array(idString).optional().describe('Ids of nodes that must succeed first.'),
    n_procs: nProcs.optional().describe('Threads the node uses; reserved from the n_procs budget.'),
    mem_gb: memGb.optional().describe('Peak memory in GB; reserved from the memory_gb budget.'),
    resources: resources
      .optional()
      .describe('Named resources the node holds while it runs, in whole slots (e.g. {gpu: 1}), reserved from the budget of that name like n_procs; entries override defaults.resources per name; 0 means none.'),
    host: z
      .union([hostId, z.array(hostId).min(1, 'name at least one host')])
      .optional()
      .describe('Host id, or list of host ids, the node may run on (as `flowgate worker --host-id` names them); used when nodes are placed per host.'),
    host_labels: hostLabels
      .optional()
      .describe('Labels a host must have for the node to run there (every pair, as `flowgate worker --label` sets them), e.g. {gpu: a100}; used when nodes are placed per host.'),
    env: z
      .record(z.string().regex(/^[^=\0]+$/, 'names must not be empty or contain "=" or NUL'), z.string().refine(noNul, 'must not contain NUL characters'))
      .optional()
      .describe('Extra environment variables.'),
    shell: shellSchema.optional().describe('String commands: the shell that runs them (default: defaults.shell, else /bin/bash -e -u -o pipefail).'),
    timeout_s: timeoutS.optional().describe('Wall-clock limit per attempt in seconds; the process group is killed when it expires.'),
    retries: retries.optional().describe('How many times the node is retried after a failure; it keeps its resources meanwhile.'),
    retry_delay_s: retryDelayS.optional().describe('Seconds to wait before each retry.'),
    inputs: z
      .record(nameKey, inputValue)
      .optional()
      .describe('Named inputs: literals or connections. Commands use them as {{inputs.<name>}}; functions receive them as their first argument.'),
    outputs: z
      .record(nameKey, z.string().min(1, 'must not be empty').refine(noNul, 'must not contain NUL characters'))
      .optional()
      .describe('Command nodes: named output files (templates, relative to the node directory), checked to exist after success.'),
    stdout_json: z.boolean().optional().describe('Command nodes: parse stdout as a JSON object of outputs.'),
    max_output_bytes: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .optional()
      .describe("Largest outputs of this node in bytes of JSON (a function's return value, a command's stdout_json); default: the run's --max-output-bytes (4 MB)."),
    overwrite: z.boolean().optional().describe('Always run the node, even when its cache record matches.'),
    config: z
      .strictObject({
        crashdump_dir: z.string().min(1, 'must not be empty').refine(noNul, 'must not contain NUL characters').optional().describe("This node's crash records go here (relative to the workflow file) instead of the run's --crashdump-dir."),
        stop_on_first_crash: z.boolean().optional().describe("This node's failure stops admitting, as --stop-on-first-crash does for every node."),
        hash_method: z.enum(HASH_METHODS).optional().describe("How this node's input files are fingerprinted for the cache, instead of the run's --hash-method."),
      })
      .optional()
      .describe("nipype's per-node config (its [execution] section): overrides of the run's options for this node."),
    map: z
      .strictObject({
        over: z.array(nameKey).min(1, 'name at least one input').describe('Inputs holding lists: one element per item.'),
        mode: z.enum(['zip', 'product']).optional().describe('zip (default): the i-th items together, lists of one length; product: every combination.'),
        nested: z
          .boolean()
          .optional()
          .describe('nipype MapNode(nested=True): the mapped input (only one) may be a nested list; it is flattened into elements and each output list is nested back to its shape (default false).'),
      })
      .optional()
      .describe('nipype MapNode: when ready, the node runs once per item of the listed inputs, each element with the node\'s n_procs, mem_gb, resources and host constraints; outputs are collected into lists in element order.'),
    iterables: z
      .record(nameKey, z.array(z.union([z.string(), z.number(), z.boolean()])).min(1, 'needs at least one value'))
      .refine((r) => Object.keys(r).length > 0, 'name at least one parameter')
      .optional()
      .describe('nipype iterables: one copy of this node and its descendants per value (per combination of values); each value is set as the input of that name.'),
    synchronize: z.boolean().optional().describe('With several iterables: take their values in lockstep instead of every combination.'),
    join: z
      .strictObject({
        source: idString.describe('The iterable node whose copies this node joins.'),
        fields: z.array(nameKey).min(1, 'name at least one input').describe('Inputs that receive the list of the copies\' values, in iterable order.'),
        unique: z.boolean().optional().describe('nipype JoinNode(unique=True): repeated values are dropped from the lists, the first of each kept in order (default false).'),
      })
      .optional()
      .describe('nipype JoinNode: one node for all copies made by the source\'s iterables, collecting the listed inputs into lists.'),
  })
  .superRefine((node, ctx) => {
    // {from: "..."} is always a connection: a malformed one is an error, not a literal.
    for (const [name, v] of Object.entries(node.inputs ?? {})) {
      if (!isConnectionShape(v)) continue;
      const from = (v as { from?: unknown }).from;
      if ((v as { unique?: unknown }).unique !== undefined && typeof from === 'string') {
        ctx.addIssue({ code: 'custom', path: ['inputs', name, 'unique'], message: '"unique" needs a list of outputs in "from"' });
      }
      const list = Array.isArray(from) && from.every((f) => typeof f === 'string') ? (from as string[]) : typeof from === 'string' ? [from] : [];
      list.forEach((f, j) => {
        if (!CONNECTION_PATTERN.test(f)) {
          ctx.addIssue({ code: 'custom', path: ['inputs', name, 'from', ...(Array.isArray(from) ? [j] : [])], message: `must be "<node>.<output>", received "${f}"` });
        }
      });
    }
    if (node.map?.nested === true && node.map.over.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['map', 'nested'],
        message: `"nested" maps over one input; this node maps over ${node.map.over.map((o) => `"${o}"`).join(', ')} (nipype zips several nested inputs by their flattened items but checks only their top-level lengths)`,
      });
    }
    if (node.function !== undefined && node.outputs !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['outputs'], message: 'function nodes return their outputs; "outputs" is for command nodes' });
    }
    if (node.shell !== undefined && typeof node.command !== 'string') {
      ctx.addIssue({ code: 'custom', path: ['shell'], message: `"shell" is for string commands; this node ${node.function !== undefined ? 'runs a function' : 'has an argv command, run without a shell'}` });
    }
    if (node.function === undefined && node.code_version !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['code_version'], message: '"code_version" is for function nodes (a command node\'s key is its rendered command)' });
    }
    if (node.function !== undefined && node.stdout_json !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['stdout_json'], message: 'function nodes return their outputs; "stdout_json" is for command nodes' });
    }
    // Exactly one of command and function (checked here so that it is
    // reported together with every other schema problem).
    if (node.command === undefined && node.function === undefined) {
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'needs a "command" (argv array or shell string) or a "function"' });
    } else if (node.command !== undefined && node.function !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['function'], message: 'a node has either "command" or "function", not both' });
    }
  })
  .describe('One node of the workflow graph.');

export const workflowSchema = z
  .strictObject({
    version: z.literal(1).optional().describe('Format version; 1 when absent.'),
    name: idString.describe('Workflow name; names its working directory.'),
    defaults: defaultsSchema.optional(),
    nodes: z.array(nodeSchema).min(1, 'a workflow needs at least one node'),
  })
  .describe('A flowgate workflow, format v1.');

/** The workflow as written in a file, before defaults are applied. */
export type WorkflowFile = z.infer<typeof workflowSchema>;

/** Top-level keys, node keys and defaults keys, for "did you mean" hints. */
export const KNOWN_KEYS = {
  workflow: Object.keys(workflowSchema.shape),
  node: ['id', 'command', 'function', 'code_version', 'needs', 'n_procs', 'mem_gb', 'resources', 'host', 'host_labels', 'env', 'shell', 'timeout_s', 'retries', 'retry_delay_s', 'inputs', 'outputs', 'stdout_json', 'max_output_bytes', 'overwrite', 'config', 'map', 'iterables', 'synchronize', 'join'],
  defaults: Object.keys(defaultsSchema.shape),
} as const;

/** The JSON Schema of format v1, for editors. */
export function workflowJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(workflowSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    title: 'flowgate workflow (format v1)',
    ...schema,
  };
}
