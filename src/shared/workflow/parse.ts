/**
 * Reading and validating workflow files. Pure apart from reading the file:
 * nothing here touches Redis, so a bad file never leaves anything behind.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import type { z } from 'zod';
import { ValidationError, didYouMean, Guesser, type ValidationIssue } from '../errors.js';
import { findCycle } from '../dag.js';
import { checkDataflow } from './dataflow-check.js';
import { checkIterables, checkLaterLabels, expandIterables, expansionSize, hasIterables } from './expand.js';
import { checkMapSizes } from './map-check.js';
import { maxNodesOf, type ValidateOptions, type ValidationPhase } from './max-nodes.js';
import { checkDocumentShape } from './limits.js';
import { untrackedFileWarnings } from './untracked-files.js';
import { describeIssue, fieldName } from './issue-text.js';
import { functionProblems } from './function-check.js';
import { locate, parseSourceText, releaseSourceText } from './source-text.js';
import { resolveModule, toNodes } from './to-nodes.js';
import type { Workflow } from './model.js';
import { KNOWN_KEYS, workflowSchema, type WorkflowFile } from './schema.js';

/** The workflow file argument that means standard input. */
export const STDIN_FILE = '-';

/** A workflow file argument as a path: absolute, except {@link STDIN_FILE}. */
export function workflowPath(file: string): string {
  return file === STDIN_FILE ? file : resolvePath(file);
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
    // Ids and `needs` are checked too, on the nodes as written, so that a
    // misspelt key and a misspelt node are reported together.
    const issues = schemaIssues(parsed.error, raw, file, source?.text);
    checkIdsAndNeeds(nodesAsWritten(raw), collectInto(issues, file, source?.text));
    // In file order where the positions are known (the two checks found them apart).
    const byPosition = issues.every((i) => i.line !== undefined) ? [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)) : issues;
    throw new ValidationError('WORKFLOW_INVALID', byPosition);
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
  const at = collectInto(issues, file, text);
  const atSize = (node: string, field: string, message: string, path: PropertyKey[]): void => {
    tooLarge = true;
    at(node, field, message, path);
  };
  checkIdsAndNeeds(data.nodes, at);
  checkDataflow(data, at);
  const laterLabels = checkIterables(data, at, atSize, maxNodes);
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
    checkLaterLabels(data, laterLabels, at);
    if (issues.length > 0) throw new ValidationError('WORKFLOW_INVALID', issues);
    options?.onPhase?.('expand', total);
    const expanded = expandIterables(data);
    all = toNodes(expanded.data, base, expanded.dirs);
  }
  options?.onPhase?.('files', all.length);
  const warnings = untrackedFileWarnings(all, base, file);
  return warnings.length > 0 ? { name: data.name, nodes: all, warnings } : { name: data.name, nodes: all };
}

type IssueAt = (node: string, field: string, message: string, path: PropertyKey[]) => void;

/** Reports issues into `issues`, each with its file and, when the text is known, its line and column. */
function collectInto(issues: ValidationIssue[], file: string | undefined, text: string | undefined): IssueAt {
  return (node, field, message, path) => {
    const issue: ValidationIssue = { node, field, message };
    if (file !== undefined) issue.file = file;
    const pos = text !== undefined ? locate(text, path) : undefined;
    if (pos !== undefined) Object.assign(issue, pos);
    issues.push(issue);
  };
}

/** Duplicate ids, and `needs` naming no node, the node itself, or a node twice. */
function checkIdsAndNeeds(nodes: ReadonlyArray<{ id: string | undefined; needs?: ReadonlyArray<string | undefined> | undefined }>, at: IssueAt): void {
  const seen = new Map<string, number>();
  nodes.forEach((n, i) => {
    if (n.id === undefined) return;
    const first = seen.get(n.id);
    if (first !== undefined) at(n.id, `nodes[${i}].id`, `duplicate id "${n.id}" (first used by nodes[${first}])`, ['nodes', i, 'id']);
    else seen.set(n.id, i);
  });
  const guesser = new Guesser([...seen.keys()]);
  nodes.forEach((n, i) => {
    const id = n.id;
    if (id === undefined) return;
    const listed = new Set<string>();
    (n.needs ?? []).forEach((dep, j) => {
      if (dep === undefined) return;
      const path = ['nodes', i, 'needs', j];
      if (dep === id) {
        at(id, `nodes[${i}].needs[${j}]`, 'a node cannot need itself', path);
      } else if (!seen.has(dep)) {
        const hint = guesser.guess(dep);
        at(id, `nodes[${i}].needs[${j}]`, `unknown node "${dep}"${hint !== undefined ? ` (did you mean "${hint}"?)` : ''}`, path);
      } else if (listed.has(dep)) {
        at(id, `nodes[${i}].needs[${j}]`, `"${dep}" is listed twice`, path);
      }
      listed.add(dep);
    });
  });
}

/**
 * The ids and `needs` of a document that failed the schema, as far as they
 * are written right: nodes without a string id are left out (the schema
 * reports them), and so are `needs` entries that are not strings. Node
 * positions stay those of the file.
 */
function nodesAsWritten(raw: unknown): Array<{ id: string | undefined; needs: Array<string | undefined> }> {
  const nodes = (raw as { nodes?: unknown }).nodes;
  if (!Array.isArray(nodes)) return [];
  return nodes.map((n: unknown) => {
    const o = typeof n === 'object' && n !== null ? (n as { id?: unknown; needs?: unknown }) : {};
    const needs = Array.isArray(o.needs) ? o.needs.map((d: unknown) => (typeof d === 'string' ? d : undefined)) : [];
    return { id: typeof o.id === 'string' ? o.id : undefined, needs };
  });
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

/** The directory relative paths in a workflow are resolved against: the file's, or the working directory without one. */
function baseDirOf(file: string | undefined): string {
  return file !== undefined ? dirname(resolvePath(file)) : process.cwd();
}

/**
 * Reads a workflow file (`.json` as JSON, anything else as YAML; `-` is
 * standard input) and validates it. Every failure is a
 * {@link ValidationError} naming the file.
 */
export function loadWorkflowFile(file: string, options?: ValidateOptions): Workflow {
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
  try {
    const raw = parseSourceText(text, file);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ValidationError('WORKFLOW_INVALID', [{ file, message: 'a workflow must be an object with "name" and "nodes"' }]);
    }
    return validateWorkflow(raw, { file, text }, options);
  } finally {
    releaseSourceText();
  }
}
