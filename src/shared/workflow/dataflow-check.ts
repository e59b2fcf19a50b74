/**
 * Validation of data flow in a workflow file: connections name existing
 * nodes and outputs, templates name existing inputs and node fields and
 * stand where a shell script can quote them, output paths stay in the node
 * directory. Reports through the same issue list as the rest of the validation.
 */
import { didYouMean, Guesser } from '../errors.js';
import type { NodeInput } from './model.js';
import { CONNECTION_PATTERN, isConnectionShape, type WorkflowFile } from './schema.js';
import { checkTemplateName, nodeTemplates, outputPathProblem, shellScripts, shellTemplateProblems, templateNames } from './template.js';

type At = (node: string, field: string, message: string, path: PropertyKey[]) => void;
type FileNode = WorkflowFile['nodes'][number];

/** A file node's inputs as the scheduler uses them. */
export function nodeInputs(n: FileNode): Record<string, NodeInput> {
  const out: Record<string, NodeInput> = {};
  for (const [name, v] of Object.entries(n.inputs ?? {})) {
    const from = connectionsOf(v);
    const path = pathOf(v);
    if (path !== undefined) out[name] = { kind: 'path', path };
    else if (from === undefined) out[name] = { kind: 'value', value: v };
    else if (from.list) out[name] = from.unique ? { kind: 'gather', sources: from.sources, unique: true } : { kind: 'gather', sources: from.sources };
    else out[name] = { kind: 'from', node: from.sources[0]?.node ?? '', output: from.sources[0]?.output ?? '' };
  }
  return out;
}

/** The path of a path input `{path: "<file or directory>"}`, as written. */
function pathOf(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length !== 1) return undefined;
  const path = (v as { path?: unknown }).path;
  return typeof path === 'string' ? path : undefined;
}

/** The connections of an input value: `{from: "n.o"}` or `{from: ["n.o", ...]}` (with `unique: true`, deduplicated). */
function connectionsOf(v: unknown): { list: boolean; unique: boolean; sources: Array<{ node: string; output: string }> } | undefined {
  if (!isConnectionShape(v)) return undefined;
  const from = (v as { from?: unknown }).from;
  const texts = typeof from === 'string' ? [from] : Array.isArray(from) && from.every((f) => typeof f === 'string') ? (from as string[]) : undefined;
  if (texts === undefined) return undefined;
  const sources: Array<{ node: string; output: string }> = [];
  for (const t of texts) {
    const m = CONNECTION_PATTERN.exec(t);
    if (m === null) return undefined;
    sources.push({ node: m[1] ?? '', output: m[2] ?? '' });
  }
  return { list: Array.isArray(from), unique: (v as { unique?: unknown }).unique === true, sources };
}

/** The producers an input reads from. */
export function sourcesOf(input: NodeInput): Array<{ node: string; output: string }> {
  if (input.kind === 'from') return [{ node: input.node, output: input.output }];
  if (input.kind === 'gather') return [...input.sources];
  return [];
}

/** `needs` plus the nodes the inputs are connected to, without repeats. */
export function impliedNeeds(n: FileNode): string[] {
  const needs = [...(n.needs ?? [])];
  if (n.inputs === undefined) return needs;
  const seen = new Set(needs);
  for (const input of Object.values(nodeInputs(n))) {
    for (const s of sourcesOf(input)) {
      if (seen.has(s.node)) continue;
      seen.add(s.node);
      needs.push(s.node);
    }
  }
  return needs;
}

/** Checks connections and templates of every node. */
export function checkDataflow(data: WorkflowFile, at: At): void {
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const guesser = new Guesser([...byId.keys()]);
  data.nodes.forEach((n, i) => {
    for (const [name, nodeInput] of Object.entries(nodeInputs(n))) {
      sourcesOf(nodeInput).forEach((input, j) => {
        const field = `nodes[${i}].inputs.${name}.from${nodeInput.kind === 'gather' ? `[${j}]` : ''}`;
        const path: PropertyKey[] = ['nodes', i, 'inputs', name, 'from', ...(nodeInput.kind === 'gather' ? [j] : [])];
        const producer = byId.get(input.node);
        if (input.node === n.id) {
          at(n.id, field, 'a node cannot take its own output', path);
        } else if (producer === undefined) {
          const hint = guesser.guess(input.node);
          at(n.id, field, `unknown node "${input.node}"${hint !== undefined ? ` (did you mean "${hint}"?)` : ''}`, path);
        } else if (producer.command !== undefined && producer.stdout_json !== true && !Object.hasOwn(producer.outputs ?? {}, input.output)) {
          // A command node's outputs are known unless it prints them as JSON; a function's only when it ran.
          const declared = Object.keys(producer.outputs ?? {});
          const hint = didYouMean(input.output, declared);
          at(
            n.id,
            field,
            `node "${input.node}" has no output "${input.output}" (${declared.length === 0 ? 'it declares no outputs' : `it declares: ${declared.join(', ')}`}${hint !== undefined ? `; did you mean "${hint}"?` : ''})`,
            path,
          );
        }
      });
    }
    (n.map?.over ?? []).forEach((name, j) => {
      if (!Object.hasOwn(n.inputs ?? {}, name)) at(n.id, `nodes[${i}].map.over[${j}]`, `no input "${name}" to map over`, ['nodes', i, 'map', 'over', j]);
    });
    // Iterables set inputs of the same name.
    const inputs = [...Object.keys(n.inputs ?? {}), ...Object.keys(n.iterables ?? {})];
    for (const { where, text } of nodeTemplates(n)) {
      for (const name of templateNames(text)) {
        const problem = checkTemplateName(name, inputs);
        if (problem !== undefined) at(n.id, `nodes[${i}].${where}`, problem, ['nodes', i, ...where.replace(/\[(\d+)\]/g, '.$1').split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p))]);
      }
    }
    // Shell scripts: every template must stand where its value can be quoted.
    for (const { index, script } of n.command === undefined ? [] : shellScripts(n.command)) {
      const field = index === null ? 'command' : `command[${index}]`;
      for (const problem of shellTemplateProblems(script)) at(n.id, `nodes[${i}].${field}`, problem, ['nodes', i, 'command', ...(index === null ? [] : [index])]);
    }
    for (const [name, path] of Object.entries(n.outputs ?? {})) {
      const problem = outputPathProblem(path);
      if (problem !== undefined) at(n.id, `nodes[${i}].outputs.${name}`, problem, ['nodes', i, 'outputs', name]);
    }
  });
}
