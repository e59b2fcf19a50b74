/**
 * A validated workflow as a graph for people and tools: Graphviz dot,
 * Mermaid, or JSON. Copies made by iterables are grouped by the directory
 * they run in (`_subject_s1/…`, nested for several iterable parents, one
 * cluster per level); a map node is one node labelled with what it maps over
 * (its elements exist only once its inputs do). Edges are the dependencies
 * (`needs`, which include every data connection). Pure: no I/O.
 */
import type { Workflow, WorkflowNode } from './model.js';

/** Output formats of {@link exportGraph}. */
export const GRAPH_FORMATS = ['dot', 'mermaid', 'json'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** The iterable group path of a node: the directories above its own (`['_subject_s1', '_fwhm_4']`). */
export function groupOf(node: Pick<WorkflowNode, 'dir'>): string[] {
  const parts = node.dir.split('/');
  return parts.slice(0, -1);
}

/** `a, b` of a node's hosts and `gpu=a100` of its labels: where it may run, or '' for anywhere. */
function placementOf(n: WorkflowNode): string {
  const parts = [...(n.host !== undefined ? [`host ${n.host.join(', ')}`] : []), ...Object.entries(n.host_labels ?? {}).map(([k, v]) => `${k}=${v}`)];
  return parts.join(', ');
}

function label(n: WorkflowNode): string {
  const named = Object.entries(n.resources).map(([name, count]) => `, ${name} ${count}`);
  const res = `${n.n_procs} proc${n.n_procs === 1 ? '' : 's'}, ${n.mem_gb} GB${named.join('')}`;
  const where = placementOf(n);
  const map = n.map === null ? '' : `\nmap over ${n.map.over.join(', ')}${n.map.over.length > 1 ? ` (${n.map.mode})` : ''}`;
  return `${n.id}\n${res}${where === '' ? '' : `\non ${where}`}${map}`;
}

/** A group tree: child groups by name, and the nodes directly in it. */
interface Group {
  children: Map<string, Group>;
  nodes: number[];
}

function groupTree(nodes: readonly WorkflowNode[]): Group {
  const root: Group = { children: new Map(), nodes: [] };
  nodes.forEach((n, i) => {
    let g = root;
    for (const part of groupOf(n)) {
      let child = g.children.get(part);
      if (child === undefined) {
        child = { children: new Map(), nodes: [] };
        g.children.set(part, child);
      }
      g = child;
    }
    g.nodes.push(i);
  });
  return root;
}

const dotString = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

function toDot(wf: Workflow): string {
  const lines = [`digraph ${dotString(wf.name)} {`, '  rankdir=TB;', '  node [shape=box, fontname="Helvetica"];'];
  let cluster = 0;
  // Iterative walk (no recursion depth that grows with the nesting).
  const stack: Array<{ g: Group; name: string | null; depth: number; close: boolean }> = [{ g: groupTree(wf.nodes), name: null, depth: 1, close: false }];
  while (stack.length > 0) {
    const item = stack.pop() as (typeof stack)[number];
    const pad = '  '.repeat(item.depth);
    if (item.close) {
      lines.push(`${'  '.repeat(item.depth - 1)}}`);
      continue;
    }
    if (item.name !== null) {
      lines.push(`${'  '.repeat(item.depth - 1)}subgraph ${dotString(`cluster_${cluster++}`)} {`, `${pad}label=${dotString(item.name)};`, `${pad}style=rounded;`);
    }
    for (const i of item.g.nodes) {
      const n = wf.nodes[i] as WorkflowNode;
      lines.push(`${pad}n${i} [label=${dotString(label(n))}${n.map !== null ? ', shape=box3d' : ''}];`);
    }
    if (item.name !== null) stack.push({ ...item, close: true });
    for (const [name, child] of [...item.g.children].reverse()) stack.push({ g: child, name, depth: item.depth + 1, close: false });
  }
  const index = new Map(wf.nodes.map((n, i) => [n.id, i]));
  for (const [i, n] of wf.nodes.entries()) for (const need of n.needs) lines.push(`  n${String(index.get(need))} -> n${i};`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

const mermaidText = (s: string): string => `"${s.replace(/"/g, '#quot;').replace(/\n/g, '<br/>')}"`;

function toMermaid(wf: Workflow): string {
  const lines = ['flowchart TD'];
  const stack: Array<{ g: Group; name: string | null; depth: number; close: boolean }> = [{ g: groupTree(wf.nodes), name: null, depth: 0, close: false }];
  let sub = 0;
  while (stack.length > 0) {
    const item = stack.pop() as (typeof stack)[number];
    const pad = '  '.repeat(item.depth + 1);
    if (item.close) {
      lines.push(`${'  '.repeat(item.depth)}end`);
      continue;
    }
    if (item.name !== null) lines.push(`${'  '.repeat(item.depth)}subgraph g${sub++}[${mermaidText(item.name)}]`);
    for (const i of item.g.nodes) {
      const n = wf.nodes[i] as WorkflowNode;
      lines.push(n.map !== null ? `${pad}n${i}[[${mermaidText(label(n))}]]` : `${pad}n${i}[${mermaidText(label(n))}]`);
    }
    if (item.name !== null) stack.push({ ...item, close: true });
    for (const [name, child] of [...item.g.children].reverse()) stack.push({ g: child, name, depth: item.depth + 1, close: false });
  }
  const index = new Map(wf.nodes.map((n, i) => [n.id, i]));
  for (const [i, n] of wf.nodes.entries()) for (const need of n.needs) lines.push(`  n${String(index.get(need))} --> n${i}`);
  return `${lines.join('\n')}\n`;
}

function toJson(wf: Workflow): string {
  return `${JSON.stringify({
    name: wf.name,
    nodes: wf.nodes.map((n) => ({
      id: n.id,
      needs: n.needs,
      n_procs: n.n_procs,
      mem_gb: n.mem_gb,
      ...(Object.keys(n.resources).length > 0 ? { resources: n.resources } : {}),
      ...(n.host !== undefined ? { host: n.host } : {}),
      ...(n.host_labels !== undefined ? { host_labels: n.host_labels } : {}),
      group: groupOf(n),
      ...(n.map !== null ? { map: { over: n.map.over, mode: n.map.mode } } : {}),
    })),
  })}\n`;
}

/** The workflow's graph in `format`. */
export function exportGraph(wf: Workflow, format: GraphFormat): string {
  switch (format) {
    case 'dot':
      return toDot(wf);
    case 'mermaid':
      return toMermaid(wf);
    case 'json':
      return toJson(wf);
  }
}
