/**
 * Function nodes checked before anything runs: the module exists and
 * exports the named function. Exports are read from the source text, not by
 * loading it (validation runs no user code); a module whose exports cannot
 * be read that way (`export *`, CommonJS, a destructuring export) is given
 * the benefit of the doubt and checked when it is loaded.
 */
import { readFileSync, statSync } from 'node:fs';

/** A function node's reference, where it stands in the document. */
export interface FunctionRef {
  node: string;
  index: number;
  module: string;
  export: string;
}

/** What is wrong with one reference. */
export interface FunctionProblem {
  node: string;
  field: string;
  message: string;
}

/** The names a module's source exports, or undefined when they cannot be known from the text. */
export function exportedNames(source: string): Set<string> | undefined {
  if (/\bexport\s*\*/.test(source) || /\bmodule\.exports\b|\bexports\.[A-Za-z_$]|\bexport\s*=/.test(source)) return undefined;
  if (/\bexport\s+(?:const|let|var)\s*[{[]/.test(source)) return undefined;
  const names = new Set<string>();
  for (const m of source.matchAll(/\bexport\s+(?:declare\s+)?(?:async\s+)?(?:function\s*\*?|const|let|var|class|abstract\s+class)\s*([A-Za-z_$][\w$]*)/g)) names.add(m[1] as string);
  // `export const a = 1, b = 2`: every declarator is exported.
  for (const m of source.matchAll(/\bexport\s+(?:declare\s+)?(?:const|let|var)\s+[A-Za-z_$][\w$]*/g)) {
    const more = laterDeclarators(source, (m.index ?? 0) + m[0].length);
    if (more === undefined) return undefined;
    for (const name of more) names.add(name);
  }
  if (/\bexport\s+default\b/.test(source)) names.add('default');
  for (const m of source.matchAll(/\bexport\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of (m[1] as string).split(',')) {
      const words = part.trim().split(/\s+as\s+/);
      const name = (words[1] ?? words[0] ?? '').trim();
      if (name !== '') names.add(name.replace(/^type\s+/, ''));
    }
  }
  return names;
}

const OPEN = new Set(['(', '[', '{']);
const CLOSE = new Set([')', ']', '}']);

/**
 * The names declared after the first one in a `const`/`let`/`var`
 * declaration that starts at `from` (just after its first name): each name
 * after a comma outside brackets and strings, up to the declaration's end (a
 * `;` outside brackets, or a line break outside brackets not followed by a
 * continuation). Undefined when a later declarator is not a plain name
 * (destructuring): the exports cannot be known from the text.
 */
function laterDeclarators(source: string, from: number): string[] | undefined {
  const names: string[] = [];
  let depth = 0;
  // The last character that is not space or comment: whether a line break continues the expression.
  let last = '';
  for (let i = from; i < source.length; i++) {
    const ch = source[i] as string;
    if (ch === '"' || ch === "'" || ch === '`') {
      // Skip the string (template literals whole, with what they embed).
      for (i++; i < source.length && source[i] !== ch; i++) if (source[i] === '\\') i++;
      last = ch;
      continue;
    }
    if (ch === '/' && source[i + 1] === '/') {
      while (i + 1 < source.length && source[i + 1] !== '\n') i++;
      continue;
    }
    if (ch === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? source.length : end + 1;
      continue;
    }
    if (OPEN.has(ch)) depth++;
    else if (CLOSE.has(ch)) depth = Math.max(0, depth - 1);
    else if (depth === 0 && ch === ';') break;
    else if (depth === 0 && ch === '\n') {
      // A line break ends the declaration unless the expression goes on.
      const after = source.slice(i + 1).trimStart();
      if (!/[,=+\-*/%&|^!?:<>.(]/.test(last) && !/^[,=+\-*/%&|^?:.)\]]/.test(after)) break;
    } else if (depth === 0 && ch === ',') {
      const next = source.slice(i + 1, i + 400).replace(/^(?:\s+|\/\/[^\n]*|\/\*[\s\S]*?\*\/)*/, '');
      const m = /^([A-Za-z_$][\w$]*)\s*(?=[=:,;\n]|$)/.exec(next);
      if (m === null) return undefined;
      names.push(m[1] as string);
    }
    if (!/\s/.test(ch)) last = ch;
  }
  return names;
}

/** Problems of the references: a module that is not a file, an export it does not have. Each module is read once. */
export function functionProblems(refs: readonly FunctionRef[]): FunctionProblem[] {
  const modules = new Map<string, { missing: string } | { names: Set<string> | undefined }>();
  const problems: FunctionProblem[] = [];
  for (const r of refs) {
    let m = modules.get(r.module);
    if (m === undefined) {
      let isFile = false;
      try {
        isFile = statSync(r.module, { throwIfNoEntry: false })?.isFile() ?? false;
      } catch {
        isFile = false;
      }
      if (!isFile) m = { missing: `function module ${r.module} does not exist (or is not a file)` };
      else {
        try {
          m = { names: exportedNames(readFileSync(r.module, 'utf8')) };
        } catch (err) {
          m = { missing: `function module ${r.module} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
        }
      }
      modules.set(r.module, m);
    }
    if ('missing' in m) problems.push({ node: r.node, field: `nodes[${r.index}].function.module`, message: m.missing });
    else if (m.names !== undefined && !m.names.has(r.export)) {
      const have = [...m.names].sort();
      problems.push({ node: r.node, field: `nodes[${r.index}].function.export`, message: `module ${r.module} has no export "${r.export}" (exports: ${have.length > 0 ? have.join(', ') : 'none'})` });
    }
  }
  return problems;
}
