/**
 * What is stored about a run so that any scheduler can resume it: the
 * workflow as validated, the budget and the options. Pure conversions.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { ValidationError } from '../shared/errors.js';
import { issueMessage } from '../shared/options/compile.js';
import { CRASHFILE_FORMATS, HASH_METHODS, RUN_DEFAULTS, SCHEDULER_ORDERS } from '../shared/options/defaults.js';
import type { HashMethod } from '../shared/cache-record.js';
import type { Workflow, WorkflowNode } from '../shared/workflow/model.js';
import { orNone } from '../shared/workflow/to-nodes.js';
import type { SchedulerOrder } from './admission.js';
import type { CrashfileFormat } from './crash-report.js';
import type { Budget } from './admission.js';

/** The parts of a run's configuration that decide its behaviour. */
export interface RunDefinition {
  runId: string;
  workflow: Workflow;
  workflowFile?: string;
  /** Threads, memory and named resources (`resources`, when the run has any). */
  budget: Budget;
  order: SchedulerOrder;
  raiseInsufficient: boolean;
  stopOnFirstCrash: boolean;
  workDir: string;
  crashdumpDir: string;
  /** Crash files per failure: JSON, text or both (default both). */
  crashfileFormat?: CrashfileFormat;
  /** Memory enforcement: kill a node above its grant × (1 + margin); null: measure only. */
  memoryMargin: number | null;
  /** Largest outputs a node may produce, in bytes of JSON (default 4 MB). */
  maxOutputBytes?: number;
  /** The most elements a map node may expand to (default 1,000,000). */
  maxNodes?: number;
  /** How input files are fingerprinted for the cache (default timestamp). */
  hashMethod?: HashMethod;
  /** Accept existing outputs of nodes whose inputs changed, rewriting their cache records. */
  updateHash?: boolean;
  extra?: Record<string, unknown>;
}

/** Fields of the run's meta hash at creation. */
export function metaFields(d: RunDefinition, startedMs: number): Record<string, string> {
  return {
    workflow: d.workflow.name,
    workflow_file: d.workflowFile ?? '',
    definition: storedDefinition(d.workflow),
    status: 'running',
    budget: JSON.stringify({ n_procs: d.budget.n_procs, memory_gb: d.budget.mem_gb, ...namedBudget(d.budget.resources) }),
    scheduler: d.order,
    options: JSON.stringify({
      raise_insufficient: d.raiseInsufficient,
      stop_on_first_crash: d.stopOnFirstCrash,
      work_dir: d.workDir,
      crashdump_dir: d.crashdumpDir,
      crashfile_format: d.crashfileFormat ?? RUN_DEFAULTS.crashfile_format,
      memory_margin: d.memoryMargin,
      max_output_bytes: d.maxOutputBytes ?? RUN_DEFAULTS.max_output_bytes,
      max_nodes: d.maxNodes ?? RUN_DEFAULTS.max_nodes,
      hash_method: d.hashMethod ?? RUN_DEFAULTS.hash_method,
      update_hash: d.updateHash ?? RUN_DEFAULTS.update_hash,
      ...d.extra,
    }),
    started_ms: String(startedMs),
    scheduler_host: `${hostname()}:${process.pid}`,
  };
}

/** The value of a node field that is not written in a file (what {@link withFieldDefaults} puts back). */
const NODE_DEFAULTS = {
  function: null,
  code_version: null,
  timeout_s: null,
  retries: 0,
  retry_delay_s: 0,
  stdout_json: false,
  overwrite: false,
  map: null,
} as const satisfies Partial<Record<keyof WorkflowNode, unknown>>;

/**
 * Node fields left out of the stored definition when they hold their
 * defaults (most nodes), and put back when it is read. Only fields that the
 * previous version of flowgate puts back too: a scheduler of that version
 * can still take over (or resume) a run stored by this one. Every other
 * field at its default (`function`, `env`, `retries`, `index` ...) is put
 * back by this version's reader as well, so that a later version can leave
 * them out.
 */
const OMITTED_DEFAULTS = new Set<string>(['stdout_json', 'overwrite', 'map']);
const OMITTED_EMPTY = new Set<string>(['resources', 'inputs', 'outputs']);

/** The workflow as stored with the run: every node without the fields above at their defaults (and its dir when it is its id). */
export function storedDefinition(w: Workflow): string {
  const nodes = w.nodes.map((n) => {
    const kept: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(n)) {
      const omitted =
        field === 'dir'
          ? value === n.id
          : OMITTED_EMPTY.has(field)
            ? typeof value === 'object' && value !== null && Object.keys(value).length === 0
            : OMITTED_DEFAULTS.has(field) && NODE_DEFAULTS[field as keyof typeof NODE_DEFAULTS] === value;
      if (!omitted) kept[field] = value;
    }
    return kept;
  });
  return JSON.stringify({ ...w, nodes });
}

/** `{resources}` for the stored budget when the run has named resources with slots; else nothing. */
function namedBudget(named: Readonly<Record<string, number>> | undefined): { resources?: Record<string, number> } {
  const kept = Object.entries(named ?? {}).filter(([, n]) => n > 0);
  return kept.length > 0 ? { resources: Object.fromEntries(kept) } : {};
}

/**
 * The stored fields of a run's meta hash, checked when read back (empty
 * budgets and work dirs: a submission the service fills in). A field a run
 * stored by an older version lacks gets the run option's default.
 */
const StoredBudget = z.object({ n_procs: z.number().nonnegative(), memory_gb: z.number().nonnegative(), resources: z.record(z.string(), z.number().int().nonnegative()).optional() });
const StoredOptions = z.looseObject({
  raise_insufficient: z.boolean().default(RUN_DEFAULTS.raise_insufficient),
  stop_on_first_crash: z.boolean().default(RUN_DEFAULTS.stop_on_first_crash),
  work_dir: z.string(),
  crashdump_dir: z.string(),
  crashfile_format: z.enum(CRASHFILE_FORMATS).default(RUN_DEFAULTS.crashfile_format),
  memory_margin: z.number().nonnegative().nullable().default(null),
  max_output_bytes: z.number().int().positive().default(RUN_DEFAULTS.max_output_bytes),
  max_nodes: z.number().int().positive().default(RUN_DEFAULTS.max_nodes),
  hash_method: z.enum(HASH_METHODS).default(RUN_DEFAULTS.hash_method),
  update_hash: z.boolean().default(RUN_DEFAULTS.update_hash),
});
const StoredWorkflow = z.looseObject({ name: z.string(), nodes: z.array(z.looseObject({ id: z.string() })) });

/** One stored JSON field, parsed and checked; a bad one is a validation error naming the run and the field. */
function stored<T>(runId: string, field: string, text: string | undefined, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(text ?? 'null');
  } catch {
    throw new ValidationError('OPTIONS_INVALID', [{ field: `run ${runId} ${field}`, message: 'the stored value is not JSON' }]);
  }
  const parsed = schema.safeParse(value, { reportInput: true });
  if (parsed.success) return parsed.data;
  throw new ValidationError(
    'OPTIONS_INVALID',
    parsed.error.issues.map((i) => ({ field: `run ${runId} ${[field, ...i.path.map(String)].join('.')}`, message: `stored value ${issueMessage(i)}` })),
  );
}

/** Reads a run's definition back from its meta hash, checking every stored field. */
export function definitionFromMeta(runId: string, meta: Readonly<Record<string, string>>): RunDefinition {
  const budget = stored(runId, 'budget', meta['budget'], StoredBudget);
  const options = stored(runId, 'options', meta['options'], StoredOptions);
  const order = stored(runId, 'scheduler', JSON.stringify(meta['scheduler'] ?? RUN_DEFAULTS.scheduler), z.enum(SCHEDULER_ORDERS));
  const workflow = stored(runId, 'definition', meta['definition'], StoredWorkflow) as unknown as Workflow;
  const { raise_insufficient, stop_on_first_crash, work_dir, crashdump_dir, crashfile_format, memory_margin, max_output_bytes, max_nodes, hash_method, update_hash, ...extra } = options;
  const file = meta['workflow_file'];
  return {
    runId,
    workflow: withFieldDefaults(workflow),
    ...(file !== undefined && file !== '' ? { workflowFile: file } : {}),
    budget: { n_procs: budget.n_procs, mem_gb: budget.memory_gb, ...(budget.resources !== undefined ? { resources: budget.resources } : {}) },
    order,
    raiseInsufficient: raise_insufficient,
    stopOnFirstCrash: stop_on_first_crash,
    workDir: work_dir,
    crashdumpDir: crashdump_dir,
    crashfileFormat: crashfile_format,
    memoryMargin: memory_margin,
    maxOutputBytes: max_output_bytes,
    maxNodes: max_nodes,
    hashMethod: hash_method,
    updateHash: update_hash,
    extra,
  };
}

/**
 * Node fields left out when stored (see {@link storedDefinition}), or added
 * after a run was stored by an older version, get their defaults; absent
 * objects are the one shared empty object, as for nodes read from a file.
 */
function withFieldDefaults(w: Workflow): Workflow {
  const d = NODE_DEFAULTS;
  return {
    ...w,
    nodes: (w.nodes ?? []).map((n, position) => {
      // A literal of every field, so that the node keeps them in the object
      // itself (as nodes read from a file do), then any other field it has.
      const node: Record<string, unknown> = {
        id: n.id,
        index: n.index ?? position,
        command: n.command,
        function: n.function ?? d.function,
        code_version: n.code_version ?? d.code_version,
        needs: n.needs,
        n_procs: n.n_procs,
        mem_gb: n.mem_gb,
        resources: orNone(n.resources),
        env: orNone(n.env),
        shell: n.shell !== undefined ? n.shell : typeof n.command === 'string' ? LEGACY_SHELL : null,
        timeout_s: n.timeout_s ?? d.timeout_s,
        retries: n.retries ?? d.retries,
        retry_delay_s: n.retry_delay_s ?? d.retry_delay_s,
        inputs: orNone(n.inputs),
        outputs: orNone(n.outputs),
        stdout_json: n.stdout_json ?? d.stdout_json,
        overwrite: n.overwrite ?? d.overwrite,
        map: n.map ?? d.map,
        dir: n.dir ?? n.id,
      };
      for (const [field, value] of Object.entries(n)) if (!(field in node)) node[field] = value;
      return node as unknown as WorkflowNode;
    }),
  };
}

/** Runs stored before the `shell` field ran their string commands with /bin/sh -c; resumed, they still do. */
const LEGACY_SHELL = { path: '/bin/sh', flags: [] as string[] } as const;
