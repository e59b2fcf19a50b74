/**
 * Validation of data flow in a workflow file: connections name existing
 * nodes and outputs, templates name existing inputs and node fields. Reports
 * through the same issue list as the rest of the validation.
 */
import { didYouMean } from '../errors.js';
import { CONNECTION_PATTERN, type NodeInput, type WorkflowFile } from './schema.js';
import { checkTemplateName, nodeTemplates, templateNames } from './template.js';

type At = (node: string, field: string, message: string, path: PropertyKey[]) => void;
type FileNode = WorkflowFile['nodes'][number];

/** A file node's inputs as the scheduler uses them. */
export function nodeInputs(n: FileNode): Record<string, NodeInput> {
  const out: Record<string, NodeInput> = {};
  for (const [name, v] of Object.entries(n.inputs ?? {})) {
    const from = connectionOf(v);
    out[name] = from === undefined ? { kind: 'value', value: v } : { kind: 'from', node: from.node, output: from.output };
  }
  return out;
}

function connectionOf(v: unknown): { node: string; output: string } | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const keys = Object.keys(v);
  const from = (v as { from?: unknown }).from;
  if (keys.length !== 1 || typeof from !== 'string') return undefined;
  const m = CONNECTION_PATTERN.exec(from);
  return m === null ? undefined : { node: m[1] ?? '', output: m[2] ?? '' };
}

/** `needs` plus the nodes the inputs are connected to, without repeats. */
export function impliedNeeds(n: FileNode): string[] {
  const needs = [...(n.needs ?? [])];
  for (const input of Object.values(nodeInputs(n))) if (input.kind === 'from' && !needs.includes(input.node)) needs.push(input.node);
  return needs;
}

/** Checks connections and templates of every node. */
export function checkDataflow(data: WorkflowFile, at: At): void {
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const ids = [...byId.keys()];
  data.nodes.forEach((n, i) => {
    for (const [name, input] of Object.entries(nodeInputs(n))) {
      if (input.kind !== 'from') continue;
      const field = `nodes[${i}].inputs.${name}.from`;
      const path = ['nodes', i, 'inputs', name, 'from'];
      const producer = byId.get(input.node);
      if (input.node === n.id) {
        at(n.id, field, 'a node cannot take its own output', path);
      } else if (producer === undefined) {
        const hint = didYouMean(input.node, ids);
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
    }
    const inputs = Object.keys(n.inputs ?? {});
    for (const { where, text } of nodeTemplates(n)) {
      for (const name of templateNames(text)) {
        const problem = checkTemplateName(name, inputs);
        if (problem !== undefined) at(n.id, `nodes[${i}].${where}`, problem, ['nodes', i, ...where.replace(/\[(\d+)\]/g, '.$1').split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p))]);
      }
    }
  });
}
