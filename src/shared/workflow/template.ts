/**
 * Data flow between nodes: `{{...}}` templates in commands and output paths,
 * and the values of a node's inputs. Pure functions, used to validate a
 * workflow (every template names something that exists and, in a shell
 * script, stands where it can be quoted) and, at admission, to turn a node's
 * definition plus its producers' outputs into what runs — each value in a
 * shell script written as literal text for its quoting context (see
 * shell-scan.ts).
 */
import { isAbsolute, join, posix } from 'node:path';
import { canonical } from '../cache-record.js';
import type { NodeInput, WorkflowNode } from './model.js';
import { scanShell, type ShellScan, type ShellTemplate } from './shell-scan.js';

/** Node fields a template may name, besides `inputs.<name>`; `workflow.dir` is the directory of the workflow file. */
export const NODE_VARIABLES = ['node.id', 'node.dir', 'node.n_procs', 'node.mem_gb', 'workflow.dir'] as const;

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
    values[name] = input.kind === 'from' ? got[0] : input.unique === true ? uniqueValues(got) : got;
  }
  return { ok: true, values };
}

/**
 * The values without repeats, the first of each kept in order (nipype's
 * `list(OrderedDict.fromkeys(values))`); values are equal when their
 * canonical JSON is, so lists and objects compare by content.
 */
export function uniqueValues(values: readonly unknown[]): unknown[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const key = canonical(v);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** What templates are filled with. */
export interface TemplateContext {
  node: Pick<WorkflowNode, 'id' | 'n_procs' | 'mem_gb' | 'workflow_dir'>;
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
    case 'workflow.dir':
      return ctx.node.workflow_dir;
    default:
      return ctx.inputs[name.slice('inputs.'.length)];
  }
}

function scalar(name: string, v: unknown): string {
  if (typeof v === 'string') {
    // Neither an argument nor a script can hold NUL; say so rather than fail to spawn.
    if (v.includes('\0')) throw new TemplateError(`{{${name}}} contains a NUL character, which no command argument can hold`);
    return v;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return '';
  throw new TemplateError(`{{${name}}} is ${Array.isArray(v) ? 'a list' : 'an object'}; here it needs a string, number or boolean`);
}

/** A value as one shell word (single-quoted unless it is plain). */
export function shellQuote(s: string): string {
  // No "=" among the plain characters: a value at the start of a command must not become an assignment.
  return /^[A-Za-z0-9_./:@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

function fill(text: string, ctx: TemplateContext, one: (name: string, v: unknown) => string): string {
  return text.replace(TOKEN, (_m, name: string) => one(name, lookup(name, ctx)));
}

/** Programs whose `-c` argument is a shell script, so its templates are rendered as in a shell string. */
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'ksh', 'mksh', 'zsh']);

/**
 * The index of the script in an argv like `["bash", "-eu", "-c", SCRIPT, ...]`
 * (a shell run with `-c`), or -1 when the argv does not run a shell script.
 */
export function shellScriptIndex(argv: readonly string[]): number {
  const program = argv[0] ?? '';
  if (!SHELLS.has(program.slice(program.lastIndexOf('/') + 1))) return -1;
  let withC = false;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--' || a === '-') return withC && i + 1 < argv.length ? i + 1 : -1;
    if (!/^[-+]/.test(a)) return withC ? i : -1;
    if (a.startsWith('--')) {
      if (a === '--rcfile' || a === '--init-file') i++;
      continue;
    }
    if (a.includes('c')) withC = true;
    // -o NAME, -O NAME (bash shopt): the option's argument is the next element.
    if (/[oO]/.test(a)) i++;
  }
  return -1;
}

/** The shell scripts of a command: a shell string, or the script of `sh -c SCRIPT` (with its argv index). */
export function shellScripts(command: string | readonly string[]): Array<{ index: number | null; script: string }> {
  if (typeof command === 'string') return [{ index: null, script: command }];
  const k = shellScriptIndex(command);
  const script = command[k];
  return script === undefined ? [] : [{ index: k, script }];
}

/** Why templates of a shell script cannot be rendered safely where they stand, one message each. */
export function shellTemplateProblems(script: string): string[] {
  return script.includes('{{') ? problemsOf(script, scanShell(script)) : [];
}

function problemsOf(script: string, scan: ShellScan): string[] {
  const out: string[] = [];
  if (scan.error !== undefined) out.push(`${scan.error}, so flowgate cannot tell how to quote its templates (fix the quoting of the script)`);
  else if (scan.templates.length !== [...script.matchAll(TOKEN)].length) out.push('cannot tell the quoting context of every template (fix the quoting of the script)');
  for (const t of scan.templates) if (t.spot.kind === 'refused') out.push(`{{${t.name}}} at line ${t.line}, column ${t.column} is ${t.spot.why}`);
  return out;
}

function renderAt(t: ShellTemplate, v: unknown): string {
  const name = t.name;
  const where = { double: 'inside "…"', single: "inside '…'", heredoc: 'in a here-document', 'heredoc-literal': 'in a here-document' } as const;
  if (Array.isArray(v) && t.spot.kind !== 'word') {
    throw new TemplateError(`{{${name}}} is a list; ${t.spot.kind in where ? where[t.spot.kind as keyof typeof where] : 'there'} only a string, number or boolean fits (used unquoted, a list gives one word per item)`);
  }
  switch (t.spot.kind) {
    case 'word':
      return Array.isArray(v) ? v.map((x, i) => shellQuote(scalar(`${name}[${i}]`, x))).join(' ') : shellQuote(scalar(name, v));
    case 'double':
      return scalar(name, v).replace(/[\\$`"]/g, '\\$&');
    case 'single':
      return scalar(name, v).replace(/'/g, "'\\''");
    case 'heredoc':
      return scalar(name, v).replace(/[\\$`]/g, '\\$&');
    case 'heredoc-literal':
      return scalar(name, v);
    case 'comment':
      return `{{${name}}}`;
    case 'refused':
      throw new TemplateError(`{{${name}}} at line ${t.line}, column ${t.column} is ${t.spot.why}`);
  }
}

/**
 * A shell script with its templates filled in as literal text for the quoting
 * context each stands in (see {@link scanShell}): no value can end a quote,
 * start an expansion or a command, or end a here-document.
 */
export function renderShell(script: string, ctx: TemplateContext): string {
  if (!script.includes('{{')) return script;
  const scan = scanShell(script);
  const problems = problemsOf(script, scan);
  if (problems.length > 0) throw new TemplateError(problems.join('; '));
  const pieces: string[] = [];
  const shifts: Array<{ end: number; delta: number }> = [];
  let last = 0;
  for (const t of scan.templates) {
    const text = renderAt(t, lookup(t.name, ctx));
    pieces.push(script.slice(last, t.start), text);
    shifts.push({ end: t.end, delta: text.length - (t.end - t.start) });
    last = t.end;
  }
  pieces.push(script.slice(last));
  const out = pieces.join('');
  const at = (offset: number): number => offset + shifts.filter((s) => s.end <= offset).reduce((a, s) => a + s.delta, 0);
  scan.heredocs.forEach((h) => {
    const inside = scan.templates.filter((t) => t.start >= h.bodyStart && t.start < h.bodyEnd).map((t) => `{{${t.name}}}`);
    if (inside.length === 0) return;
    const lines = out.slice(at(h.bodyStart), at(h.bodyEnd)).split('\n');
    if (lines.some((l) => (h.stripTabs ? l.replace(/^\t+/, '') : l) === h.delimiter)) {
      throw new TemplateError(`${inside.join(', ')}: a line of the value would read "${h.delimiter}" and end the here-document early; use a delimiter that cannot occur in the value`);
    }
    if (h.stripTabs && lines.slice(1).some((l) => l.startsWith('\t'))) {
      throw new TemplateError(`${inside.join(', ')}: in a <<- here-document the tabs starting the value's lines would be removed; use << instead`);
    }
  });
  return out;
}

/**
 * The command that runs. In an argv, an element that is exactly one template
 * of a list input becomes one argument per item; elsewhere values are inserted
 * as text. In a shell string, and in the script of an argv `sh -c SCRIPT`,
 * values are rendered by {@link renderShell}: literal text whatever their
 * quoting context, a list as one word per item where unquoted.
 */
export function renderCommand(command: string | readonly string[], ctx: TemplateContext): string | string[] {
  if (typeof command === 'string') return renderShell(command, ctx);
  const script = shellScriptIndex(command);
  const argv: string[] = [];
  command.forEach((arg, k) => {
    if (k === script) {
      argv.push(renderShell(arg, ctx));
      return;
    }
    const whole = /^\{\{\s*([^{}]*?)\s*\}\}$/.exec(arg)?.[1];
    const value = whole !== undefined ? lookup(whole, ctx) : undefined;
    if (whole !== undefined && Array.isArray(value)) value.forEach((x: unknown, i) => argv.push(scalar(`${whole}[${i}]`, x)));
    else argv.push(fill(arg, ctx, scalar));
  });
  return argv;
}

/**
 * Why a declared output path (as written) leaves the node directory, or
 * undefined when it does not. `{{node.dir}}` at its start stands for the
 * directory; other templates for one path segment (checked again once filled).
 */
export function outputPathProblem(path: string): string | undefined {
  const text = path.replace(/^\{\{\s*node\.dir\s*\}\}\/?/, '').replace(TOKEN, 'T');
  if (path.startsWith('/')) return undefined;
  const normal = posix.normalize(text === '' ? '.' : text);
  if (normal === '..' || normal.startsWith('../')) return `"${path}" leaves the node directory through ".."; write an absolute path for a file outside it`;
  if (normal === '.' || normal === './') return `"${path}" names the node directory itself; an output is a file in it`;
  return undefined;
}

/**
 * Declared output paths, filled in and made absolute (relative paths are
 * under the node directory, and must stay there once filled in).
 */
export function renderOutputs(outputs: Readonly<Record<string, string>>, ctx: TemplateContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, path] of Object.entries(outputs)) {
    const filled = fill(path, ctx, scalar);
    if (!isAbsolute(filled)) {
      const normal = posix.normalize(filled === '' ? '.' : filled);
      if (normal === '..' || normal.startsWith('../')) throw new TemplateError(`output "${name}": the path "${filled}" (from "${path}") leaves the node directory`);
    }
    out[name] = isAbsolute(filled) ? filled : join(ctx.dir, filled);
  }
  return out;
}
