/**
 * What is stored about a run so that any scheduler can resume it: the
 * workflow as validated, the budget and the options. Pure conversions.
 */
import { hostname } from 'node:os';
import type { HashMethod } from '../shared/cache-record.js';
import { DEFAULT_MAX_OUTPUT_BYTES } from '../shared/payloads.js';
import { DEFAULT_MAX_NODES } from '../shared/workflow/max-nodes.js';
import type { Workflow } from '../shared/workflow/schema.js';
import type { SchedulerOrder } from './admission.js';
import type { CrashfileFormat } from './crash-report.js';
import type { Resources } from './ledger.js';

/** The parts of a run's configuration that decide its behaviour. */
export interface RunDefinition {
  runId: string;
  workflow: Workflow;
  workflowFile?: string;
  budget: Resources;
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
  /** The most elements a map node may expand to (default {@link DEFAULT_MAX_NODES}, 1,000,000). */
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
    definition: JSON.stringify(d.workflow),
    status: 'running',
    budget: JSON.stringify({ n_procs: d.budget.n_procs, memory_gb: d.budget.mem_gb }),
    scheduler: d.order,
    options: JSON.stringify({
      raise_insufficient: d.raiseInsufficient,
      stop_on_first_crash: d.stopOnFirstCrash,
      work_dir: d.workDir,
      crashdump_dir: d.crashdumpDir,
      crashfile_format: d.crashfileFormat ?? 'both',
      memory_margin: d.memoryMargin,
      max_output_bytes: d.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      max_nodes: d.maxNodes ?? DEFAULT_MAX_NODES,
      hash_method: d.hashMethod ?? 'timestamp',
      update_hash: d.updateHash ?? false,
      ...d.extra,
    }),
    started_ms: String(startedMs),
    scheduler_host: `${hostname()}:${process.pid}`,
  };
}

/** Reads a run's definition back from its meta hash. */
export function definitionFromMeta(runId: string, meta: Readonly<Record<string, string>>): RunDefinition {
  const budget = JSON.parse(meta['budget'] ?? '{}') as { n_procs: number; memory_gb: number };
  const options = JSON.parse(meta['options'] ?? '{}') as {
    raise_insufficient: boolean;
    stop_on_first_crash: boolean;
    work_dir: string;
    crashdump_dir: string;
    crashfile_format?: CrashfileFormat;
    memory_margin?: number | null;
    max_output_bytes?: number;
    max_nodes?: number;
    hash_method?: HashMethod;
    update_hash?: boolean;
  } & Record<string, unknown>;
  const { raise_insufficient, stop_on_first_crash, work_dir, crashdump_dir, crashfile_format, memory_margin, max_output_bytes, max_nodes, hash_method, update_hash, ...extra } = options;
  const file = meta['workflow_file'];
  return {
    runId,
    workflow: withFieldDefaults(JSON.parse(meta['definition'] ?? '{}') as Workflow),
    ...(file !== undefined && file !== '' ? { workflowFile: file } : {}),
    budget: { n_procs: budget.n_procs, mem_gb: budget.memory_gb },
    order: (meta['scheduler'] ?? 'tsort') as SchedulerOrder,
    raiseInsufficient: raise_insufficient,
    stopOnFirstCrash: stop_on_first_crash,
    workDir: work_dir,
    crashdumpDir: crashdump_dir,
    crashfileFormat: crashfile_format ?? 'both',
    memoryMargin: memory_margin ?? null,
    maxOutputBytes: max_output_bytes ?? DEFAULT_MAX_OUTPUT_BYTES,
    maxNodes: max_nodes ?? DEFAULT_MAX_NODES,
    hashMethod: hash_method ?? 'timestamp',
    updateHash: update_hash ?? false,
    extra,
  };
}

/** Node fields added after a run was stored get their defaults (a run stored by an older version resumes). */
function withFieldDefaults(w: Workflow): Workflow {
  return { ...w, nodes: (w.nodes ?? []).map((n) => ({ ...n, inputs: n.inputs ?? {}, outputs: n.outputs ?? {}, stdout_json: n.stdout_json ?? false, overwrite: n.overwrite ?? false, map: n.map ?? null, dir: n.dir ?? n.id, shell: n.shell !== undefined ? n.shell : typeof n.command === 'string' ? LEGACY_SHELL : null })) };
}

/** Runs stored before the `shell` field ran their string commands with /bin/sh -c; resumed, they still do. */
const LEGACY_SHELL = { path: '/bin/sh', flags: [] as string[] } as const;
