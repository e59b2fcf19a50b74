/**
 * The local modules a function node's module depends on, so that editing a
 * helper it imports reruns the node. A simple scanner rather than a parser:
 * it looks for the specifiers of `import … from`, `export … from`, bare
 * `import '…'`, `import('…')` and `require('…')`, and keeps the relative (or
 * absolute) ones that resolve to files. A parser (TypeScript, acorn) would
 * cost a dependency and tens of milliseconds per module; the scanner's
 * possible false positives (a specifier in a comment or string) only add a
 * file to the hash, which at worst reruns the node once more than needed.
 * Packages (bare specifiers) are not followed: their versions are not the
 * workflow's code. A node's `code_version` replaces the scan.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

const SPECIFIERS = [
  /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"\n]+)['"]/g,
  /\bimport\s*['"]([^'"\n]+)['"]/g,
  /\b(?:import|require)\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
];

const EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.json'];

/** Local specifiers named by a module's source. */
export function localSpecifiers(source: string): string[] {
  const out = new Set<string>();
  for (const re of SPECIFIERS) {
    for (const m of source.matchAll(re)) {
      const s = m[1] ?? '';
      if (s.startsWith('./') || s.startsWith('../') || isAbsolute(s)) out.add(s);
    }
  }
  return [...out];
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The file a local specifier names, as Node or a TypeScript loader resolves it; undefined if none. */
export function resolveLocal(fromFile: string, specifier: string): string | undefined {
  const base = resolve(dirname(fromFile), specifier.split('?')[0] ?? specifier);
  const candidates = [base];
  // TypeScript sources import `./x.js` meaning `./x.ts`.
  const jsExt = /\.(m|c)?js$/.exec(base);
  if (jsExt !== null) candidates.push(`${base.slice(0, -jsExt[0].length)}.${jsExt[1] ?? ''}ts`, `${base.slice(0, -jsExt[0].length)}.tsx`);
  for (const ext of EXTENSIONS) candidates.push(`${base}${ext}`);
  for (const ext of EXTENSIONS) candidates.push(resolve(base, `index${ext}`));
  return candidates.find(isFile);
}

/**
 * Every local module reachable from `entry` (itself included), by absolute
 * path. `read` returns a module's source, or undefined when it cannot be read.
 */
export function localModules(entry: string, read: (path: string) => string | undefined = readSource): string[] {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (file.endsWith('.json')) continue;
    const source = read(file);
    if (source === undefined) continue;
    for (const spec of localSpecifiers(source)) {
      const dep = resolveLocal(file, spec);
      if (dep !== undefined && !seen.has(dep)) {
        seen.add(dep);
        queue.push(dep);
      }
    }
  }
  return [...seen];
}

function readSource(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
