/**
 * Reading and validating workflow files. Pure apart from reading the file:
 * nothing here touches Redis, so a bad file never leaves anything behind.
 */
import { readFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve as resolvePath } from 'node:path';
import { LineCounter, parseDocument, isMap, isNode, isScalar, type Document } from 'yaml';
import type { z } from 'zod';
import { ValidationError, didYouMean, type ValidationIssue } from '../errors.js';
import { findCycle } from '../dag.js';
import { checkDataflow, impliedNeeds, nodeInputs } from './dataflow-check.js';
import { checkIterables, expandIterables, expansionSize, hasIterables } from './expand.js';
import { checkMapSizes } from './map-check.js';
import { maxNodesOf, type ValidateOptions, type ValidationPhase } from './max-nodes.js';
import { JsonLocator } from './json-locate.js';
import { parseJson } from './json-text.js';
import { checkDocumentShape, checkYamlExpansion } from './limits.js';
import { untrackedFileWarnings } from './untracked-files.js';
import { describeIssue, fieldName } from './issue-text.js';
import { functionProblems } from './function-check.js';
import { nodeTemplates, templateNames } from './template.js';
import {
  DEFAULT_SHELL,
  DEFAULT_MEM_GB,
  DEFAULT_N_PROCS,
  KNOWN_KEYS,
  workflowSchema,
  type NodeInput,
  type Workflow,
  type WorkflowFile,
  type NodeConfig,
  type WorkflowNode,
  type ShellSpec,
} from './schema.js';

type Format = 'json' | 'yaml';

/** `.json` files are read as JSON (with JSON's positions in errors); anything else, stdin too, as YAML, a superset of JSON. */
function formatOf(file: string): Format {
  return extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/** The workflow file argument that means standard input. */
export const STDIN_FILE = '-';

/** A workflow file argument as a path: absolute, except {@link STDIN_FILE}. */
export function workflowPath(file: string): string {
  return file === STDIN_FILE ? file : resolvePath(file);
}

function parseYaml(text: string, file: string): unknown {
  const lineCounter = new LineCounter();
  // Merge keys (`<<: *defaults`) are YAML 1.1, but workflow files use them widely.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e): ValidationIssue => {
      const pos = lineCounter.linePos(e.pos[0]);
      return { file, line: pos.line, column: pos.col, message: `YAML syntax error: ${e.message.split('\n')[0] ?? e.code}` };
    });
    throw new ValidationError('WORKFLOW_INVALID', issues);
  }
  // Aliases are bounded by what they expand to (checked above the library's
  // own per-anchor count, which refuses honest files that reuse an anchor often).
  const tooBig = checkYamlExpansion(doc, lineCounter, file);
  if (tooBig !== undefined) throw new ValidationError('WORKFLOW_INVALID', [tooBig]);
  locateCache = { text, doc, lineCounter };
  try {
    return doc.toJS({ maxAliasCount: -1 }) as unknown;
  } catch (err) {
    // Not expected after the checks above; still bad input, not a crash.
    throw new ValidationError('WORKFLOW_INVALID', [{ file, message: `YAML error: ${err instanceof Error ? err.message : String(err)}` }], { cause: err });
  }
}

// One parse per source text, however many issues need locating: the
// document the file was read into (YAML), or a scanner of the text (JSON).
let locateCache: { text: string; doc: Document; lineCounter: LineCounter } | { text: string; json: JsonLocator } | undefined;
function parsedForLocating(text: string): { doc: Document; lineCounter: LineCounter } | { json: JsonLocator } {
  if (locateCache?.text !== text) {
    const lineCounter = new LineCounter();
    locateCache = { text, doc: parseDocument(text, { lineCounter, merge: true }), lineCounter };
  }
  return locateCache;
}

/**
 * Finds the line/column of a path in the source text, for error messages.
 * With `atKey`, points at the last path element's key rather than its value.
 */
function locate(text: string, path: readonly PropertyKey[], atKey = false): { line: number; column: number } | undefined {
  try {
    const parsed = parsedForLocating(text);
    if ('json' in parsed) return parsed.json.locate(path, atKey);
    const { doc, lineCounter } = parsed;
    if (atKey && path.length > 0) {
      const parent = doc.getIn(path.slice(0, -1) as unknown[], true);
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]);
        if (pair !== undefined && isNode(pair.key) && pair.key.range) {
          const pos = lineCounter.linePos(pair.key.range[0]);
          return { line: pos.line, column: pos.col };
        }
      }
    }
    // Walk down as far as the path exists, so a missing field points at its parent.
    for (let depth = path.length; depth >= 0; depth--) {
      const node = doc.getIn(path.slice(0, depth) as unknown[], true);
      if (isNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
  } catch {
    // Locating is best effort; the message still names node and field.
  }
  return undefined;
}

/** Node id for an issue path like `['nodes', 3, 'mem_gb']`, when the node has a readable id. */
function nodeIdAt(raw: unknown, path: readonly PropertyKey[]): string | undefined {
  if (path[0] !== 'nodes' || typeof path[1] !== 'number') return undefined;
  const nodes = (raw as { nodes?: unknown }).nodes;
  if (!Array.isArray(nodes)) return undefined;
  const node: unknown = nodes[path[1]];
  if (typeof node === 'object' && node !== null && typeof (node as { id?: unknown }).id === 'string') {
    return (node as { id: string }).id;
  }
  return `#${path[1]}`;
}

function keysFor(path: readonly PropertyKey[]): readonly string[] {
  if (path.length === 0) return KNOWN_KEYS.workflow;
  if (path[path.length - 1] === 'shell') return ['path', 'flags'];
  if (path[0] === 'defaults') return KNOWN_KEYS.defaults;
  if (path[0] === 'nodes') return KNOWN_KEYS.node;
  return [];
}

function schemaIssues(error: z.ZodError, raw: unknown, file: string | undefined, text: string | undefined): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  // 1e308 is "not a whole number" to zod (not a safe integer) as well as too big: say only the latter.
  const isMax = (zi: z.core.$ZodIssue): boolean => zi.code === 'too_big' && zi.origin === 'number';
  const tooBig = new Set(error.issues.filter(isMax).map((zi) => zi.path.join('\0')));
  const relevant = error.issues.filter((zi) => !(zi.code === 'too_big' && zi.origin === 'int' && tooBig.has(zi.path.join('\0'))));
  for (const zi of relevant) {
    const subIssues: Array<{ path: PropertyKey[]; message: string; atKey?: boolean }> = [];
    if (zi.code === 'unrecognized_keys') {
      for (const key of zi.keys) {
        const hint = didYouMean(key, keysFor(zi.path));
        subIssues.push({
          path: [...zi.path, key],
          atKey: true,
          message: `unknown key "${key}"${hint !== undefined ? ` (did you mean "${hint}"?)` : ''}`,
        });
      }
    } else {
      subIssues.push({ path: [...zi.path], message: describeIssue(zi) });
    }
    for (const sub of subIssues) {
      const issue: ValidationIssue = { message: sub.message };
      if (file !== undefined) issue.file = file;
      const node = nodeIdAt(raw, sub.path);
      if (node !== undefined) issue.node = node;
      if (sub.path.length > 0) issue.field = fieldName(sub.path);
      const pos = text !== undefined ? locate(text, sub.path, sub.atKey === true) : undefined;
      if (pos !== undefined) Object.assign(issue, pos);
      issues.push(issue);
    }
  }
  return issues;
}

/**
 * Validates a parsed workflow document (from a file or built in code) and
 * applies defaults. Throws {@link ValidationError} listing every problem found.
 */
export function validateWorkflow(raw: unknown, source?: { file?: string; text?: string }, options?: ValidateOptions): Workflow {
  const file = source?.file;
  const shape = checkDocumentShape(raw);
  if (shape !== undefined) {
    const issue: ValidationIssue = { message: shape.message };
    if (file !== undefined) issue.file = file;
    const node = nodeIdAt(raw, shape.path);
    if (node !== undefined) issue.node = node;
    // A path a hundred levels deep is shortened: its start says where.
    if (shape.path.length > 0) issue.field = shape.path.length > 8 ? `${fieldName(shape.path.slice(0, 8))}…` : fieldName(shape.path);
    const pos = source?.text !== undefined ? locate(source.text, shape.path, shape.atKey === true) : undefined;
    if (pos !== undefined) Object.assign(issue, pos);
    throw new ValidationError('WORKFLOW_INVALID', [issue]);
  }
  progress(options, 'schema', raw);
  const parsed = workflowSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    throw new ValidationError('WORKFLOW_INVALID', schemaIssues(parsed.error, raw, file, source?.text));
  }
  return checkGraph(parsed.data, file, source?.text, options);
}

/** Reports a validation phase to `options.onPhase`, with the node count as written. */
function progress(options: ValidateOptions | undefined, phase: ValidationPhase, raw: unknown): void {
  if (options?.onPhase === undefined) return;
  const nodes = (raw as { nodes?: unknown }).nodes;
  options.onPhase(phase, Array.isArray(nodes) ? nodes.length : 0);
}

function checkGraph(data: WorkflowFile, file: string | undefined, text: string | undefined, options: ValidateOptions | undefined): Workflow {
  const base = options?.baseDir !== undefined ? resolvePath(options.baseDir) : baseDirOf(file);
  progress(options, 'graph', data);
  const maxNodes = maxNodesOf(options);
  const issues: ValidationIssue[] = [];
  let tooLarge = false;
  const at = (node: string, field: string, message: string, path: PropertyKey[]): void => {
    const issue: ValidationIssue = { node, field, message };
    if (file !== undefined) issue.file = file;
    const pos = text !== undefined ? locate(text, path) : undefined;
    if (pos !== undefined) Object.assign(issue, pos);
    issues.push(issue);
  };
  const atSize = (node: string, field: string, message: string, path: PropertyKey[]): void => {
    tooLarge = true;
    at(node, field, message, path);
  };
  const seen = new Map<string, number>();
  data.nodes.forEach((n, i) => {
    const first = seen.get(n.id);
    if (first !== undefined) {
      at(n.id, `nodes[${i}].id`, `duplicate id "${n.id}" (first used by nodes[${first}])`, ['nodes', i, 'id']);
    } else {
      seen.set(n.id, i);
    }
  });
  const ids = [...seen.keys()];
  data.nodes.forEach((n, i) => {
    const needs = n.needs ?? [];
    const listed = new Set<string>();
    needs.forEach((dep, j) => {
      const path = ['nodes', i, 'needs', j];
      if (dep === n.id) {
        at(n.id, `nodes[${i}].needs[${j}]`, 'a node cannot need itself', path);
      } else if (!seen.has(dep)) {
        const hint = didYouMean(dep, ids);
        at(n.id, `nodes[${i}].needs[${j}]`, `unknown node "${dep}"${hint !== undefined ? ` (did you mean "${hint}"?)` : ''}`, path);
      } else if (listed.has(dep)) {
        at(n.id, `nodes[${i}].needs[${j}]`, `"${dep}" is listed twice`, path);
      }
      listed.add(dep);
    });
  });
  checkDataflow(data, at);
  checkIterables(data, at, atSize, maxNodes);
  checkMapSizes(data, atSize, maxNodes);
  const refs = data.nodes.flatMap((n, index) => (n.function === undefined ? [] : [{ node: n.id, index, module: resolveModule(n.function.module, base), export: n.function.export }]));
  for (const p of functionProblems(refs)) at(p.node, p.field, p.message, ['nodes', Number(/\d+/.exec(p.field)?.[0]), 'function', p.field.endsWith('export') ? 'export' : 'module']);
  if (issues.length > 0) throw new ValidationError(tooLarge ? 'WORKFLOW_TOO_LARGE' : 'WORKFLOW_INVALID', issues);
  const nodes = toNodes(data, base);
  progress(options, 'cycles', data);
  const cycle = findCycle(nodes);
  if (cycle !== undefined) {
    // Point at the `needs` entry of the first node that leads into the cycle.
    const first = cycle[0] ?? '';
    const index = nodes.findIndex((n) => n.id === first);
    const j = nodes[index]?.needs.indexOf(cycle[1] ?? '') ?? -1;
    const issue: ValidationIssue = {
      node: first,
      field: j >= 0 ? `nodes[${index}].needs[${j}]` : 'needs',
      message: cycleMessage(cycle),
    };
    if (file !== undefined) issue.file = file;
    const pos = text !== undefined && j >= 0 ? locate(text, ['nodes', index, 'needs', j]) : undefined;
    if (pos !== undefined) Object.assign(issue, pos);
    throw new ValidationError('WORKFLOW_CYCLE', [issue]);
  }
  // Iterables: one node per copy, in file order, once their number is known to be within bounds.
  let all = nodes;
  if (hasIterables(data)) {
    const { total, problem } = expansionSize(data, maxNodes);
    if (problem !== undefined) {
      const issue: ValidationIssue = { message: problem.message };
      if (file !== undefined) issue.file = file;
      if (problem.node !== undefined) Object.assign(issue, { node: problem.node, field: `nodes[${problem.index ?? 0}]` });
      throw new ValidationError('WORKFLOW_TOO_LARGE', [issue]);
    }
    options?.onPhase?.('expand', total);
    const expanded = expandIterables(data);
    all = toNodes(expanded.data, base, expanded.dirs);
  }
  options?.onPhase?.('files', all.length);
  const warnings = untrackedFileWarnings(all, base, file);
  return warnings.length > 0 ? { name: data.name, nodes: all, warnings } : { name: data.name, nodes: all };
}

/** The longest cycle spelt out in full; a longer one shows its start and end. */
const CYCLE_SHOWN = 20;

/** `dependency cycle: a -> b -> a`, shortened for a cycle of thousands of nodes. */
function cycleMessage(cycle: readonly string[]): string {
  const nodes = cycle.length - 1;
  if (cycle.length <= CYCLE_SHOWN) return `dependency cycle: ${cycle.join(' -> ')}`;
  const head = cycle.slice(0, CYCLE_SHOWN - 4).join(' -> ');
  const tail = cycle.slice(-3).join(' -> ');
  return `dependency cycle of ${nodes.toLocaleString('en-US')} nodes: ${head} -> … (${(cycle.length - CYCLE_SHOWN + 1).toLocaleString('en-US')} more) … -> ${tail}`;
}

/** File nodes as scheduled nodes, with defaults applied. */
function toNodes(data: WorkflowFile, base: string, dirs?: ReadonlyMap<string, string>): WorkflowNode[] {
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
    resources: namedResources(defaults.resources, n.resources),
    ...(n.host !== undefined ? { host: [...new Set(typeof n.host === 'string' ? [n.host] : n.host)] } : {}),
    ...(n.host_labels !== undefined && Object.keys(n.host_labels).length > 0 ? { host_labels: { ...n.host_labels } } : {}),
    env: n.env ?? {},
    shell: typeof n.command !== 'string' ? null : n.shell === undefined ? defaults.shell : shellSpec(n.shell),
    timeout_s: n.timeout_s ?? defaults.timeout_s,
    retries: n.retries ?? defaults.retries,
    retry_delay_s: n.retry_delay_s ?? defaults.retry_delay_s,
    inputs: absolutePaths(nodeInputs(n), base),
    outputs: n.outputs ?? {},
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

/** The directory relative paths in a workflow are resolved against: the file's, or the working directory without one. */
function baseDirOf(file: string | undefined): string {
  return file !== undefined ? dirname(resolvePath(file)) : process.cwd();
}

/** Function modules are relative to the base dir: the workflow file's (or the working directory without one), or the API's `base_dir`. */
function resolveModule(module: string, base: string): string {
  return isAbsolute(module) ? module : resolvePath(base, module);
}

/** Path inputs as absolute paths (relative ones are relative to the base dir, like modules). */
function absolutePaths(inputs: Record<string, NodeInput>, base: string): Record<string, NodeInput> {
  for (const [name, input] of Object.entries(inputs)) {
    if (input.kind === 'path') inputs[name] = { kind: 'path', path: resolveModule(input.path, base) };
  }
  return inputs;
}

/**
 * Reads a workflow file (`.json` as JSON, anything else as YAML; `-` is
 * standard input) and validates it. Every failure is a
 * {@link ValidationError} naming the file.
 */
export function loadWorkflowFile(file: string, options?: ValidateOptions): Workflow {
  const format = formatOf(file);
  let text: string;
  try {
    text = readFileSync(file === STDIN_FILE ? 0 : file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(err);
    throw new ValidationError('WORKFLOW_INVALID', [{ file, message: `cannot read workflow file: ${why}` }], { cause: err });
  }
  // A byte-order mark is not part of the document.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  options?.onPhase?.('parse', 0);
  const raw = format === 'json' ? parseJson(text, file) : parseYaml(text, file);
  if (format === 'json') locateCache = { text, json: new JsonLocator(text) };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ValidationError('WORKFLOW_INVALID', [{ file, message: 'a workflow must be an object with "name" and "nodes"' }]);
  }
  return validateWorkflow(raw, { file, text }, options);
}
