/**
 * Data flow between nodes: `{{...}}` templates in commands and output paths,
 * and the values of a node's inputs. Pure functions, used to validate a
 * workflow (every template names something that exists) and, at admission,
 * to turn a node's definition plus its producers' outputs into what runs.
 */
import { isAbsolute, join } from 'node:path';
import type { NodeInput, WorkflowNode } from './schema.js';

/** Node fields a template may name, besides `inputs.<name>`. */
export const NODE_VARIABLES = ['node.id', 'node.dir', 'node.n_procs', 'node.mem_gb'] as const;

const TOKEN = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** The names used by `{{...}}` in `text`, in order. */
export function templateNames(text: string): string[] {
  return [...text.matchAll(TOKEN)].map((m) => m[1] ?? '');
}

/** Why a template name is not valid for `node`, or undefined when it is. */
export function checkTemplateName(name: string, inputs: readonly string[]): string | undefined {
  if ((NODE_VARIABLES as readonly string[]).includes(name)) return undefined;
  if (name.startsWith('inputs.')) {
    const input = name.slice('inputs.'.length);
    if (inputs.includes(input)) return undefined;
    return inputs.length === 0 ? `{{${name}}}: the node has no inputs` : `{{${name}}}: no input "${input}" (inputs: ${inputs.join(', ')})`;
  }
  return `{{${name}}}: unknown name (use inputs.<name>, ${NODE_VARIABLES.join(', ')})`;
}

/** Every template string of a node: its command (string or argv) and output paths. */
export function nodeTemplates(node: { command?: string | readonly string[] | null | undefined; outputs?: Readonly<Record<string, string>> | undefined }): Array<{ where: string; text: string }> {
  const out: Array<{ where: string; text: string }> = [];
  if (typeof node.command === 'string') out.push({ where: 'command', text: node.command });
  else if (Array.isArray(node.command)) (node.command as readonly string[]).forEach((a, i) => out.push({ where: `command[${i}]`, text: a }));
  for (const [name, path] of Object.entries(node.outputs ?? {})) out.push({ where: `outputs.${name}`, text: path });
  return out;
}

/** A node's outputs as its successors see them. */
export type Outputs = Readonly<Record<string, unknown>>;

/** The values of a node's inputs, or why they cannot be had. */
export type ResolvedInputs = { ok: true; values: Record<string, unknown> } | { ok: false; reason: string };

/**
 * Resolves a node's inputs: literals as written, connections from the
 * producer's outputs (`outputsOf(id)`: undefined when it produced none).
 */
export function resolveInputs(inputs: Readonly<Record<string, NodeInput>>, outputsOf: (node: string) => Outputs | undefined): ResolvedInputs {
  const values: Record<string, unknown> = {};
  for (const [name, input] of Object.entries(inputs)) {
    if (input.kind === 'value' || input.kind === 'path') {
      values[name] = input.kind === 'value' ? input.value : input.path;
      continue;
    }
    const got: unknown[] = [];
    for (const source of input.kind === 'from' ? [input] : input.sources) {
      const produced = outputsOf(source.node);
      if (produced === undefined || !Object.hasOwn(produced, source.output)) {
        const have = produced === undefined ? [] : Object.keys(produced);
        return { ok: false, reason: `input "${name}": node "${source.node}" produced no output "${source.output}" (${have.length === 0 ? 'it produced no outputs' : `its outputs: ${have.join(', ')}`})` };
      }
      got.push(produced[source.output]);
    }
    values[name] = input.kind === 'from' ? got[0] : got;
  }
  return { ok: true, values };
}

/** What templates are filled with. */
export interface TemplateContext {
  node: Pick<WorkflowNode, 'id' | 'n_procs' | 'mem_gb'>;
  dir: string;
  inputs: Readonly<Record<string, unknown>>;
}

/** Thrown when a value cannot stand in a command (an object, say): the node fails with this reason. */
export class TemplateError extends Error {}

function lookup(name: string, ctx: TemplateContext): unknown {
  switch (name) {
    case 'node.id':
      return ctx.node.id;
    case 'node.dir':
      return ctx.dir;
    case 'node.n_procs':
      return ctx.node.n_procs;
    case 'node.mem_gb':
      return ctx.node.mem_gb;
    default:
      return ctx.inputs[name.slice('inputs.'.length)];
  }
}

function scalar(name: string, v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return '';
  throw new TemplateError(`{{${name}}} is ${Array.isArray(v) ? 'a list' : 'an object'}; here it needs a string, number or boolean`);
}

/** A value as one shell word. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

function fill(text: string, ctx: TemplateContext, one: (name: string, v: unknown) => string): string {
  return text.replace(TOKEN, (_m, name: string) => one(name, lookup(name, ctx)));
}

/**
 * The command that runs. In an argv, an element that is exactly one template
 * of a list input becomes one argument per item; elsewhere values are inserted
 * as text. In a shell string every value is quoted as one shell word (a list
 * as several), so inputs cannot inject shell syntax.
 */
export function renderCommand(command: string | readonly string[], ctx: TemplateContext): string | string[] {
  if (typeof command === 'string') {
    return fill(command, ctx, (name, v) => (Array.isArray(v) ? v.map((x, i) => shellQuote(scalar(`${name}[${i}]`, x))).join(' ') : shellQuote(scalar(name, v))));
  }
  const argv: string[] = [];
  for (const arg of command) {
    const whole = /^\{\{\s*([^{}]*?)\s*\}\}$/.exec(arg)?.[1];
    const value = whole !== undefined ? lookup(whole, ctx) : undefined;
    if (whole !== undefined && Array.isArray(value)) argv.push(...value.map((x, i) => scalar(`${whole}[${i}]`, x)));
    else argv.push(fill(arg, ctx, scalar));
  }
  return argv;
}

/** Declared output paths, filled in and made absolute (relative paths are under the node directory). */
export function renderOutputs(outputs: Readonly<Record<string, string>>, ctx: TemplateContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, path] of Object.entries(outputs)) {
    const filled = fill(path, ctx, scalar);
    out[name] = isAbsolute(filled) ? filled : join(ctx.dir, filled);
  }
  return out;
}
