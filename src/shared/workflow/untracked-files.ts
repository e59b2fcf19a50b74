/**
 * Validation warnings for files a command names without declaring them: the
 * cache key covers declared inputs (and upstream results), so a file the
 * command reads by a literal path is not tracked, and changing it would not
 * rerun the node. A warning, not an error: the file may be a tool, a
 * reference that never changes, or something the command writes.
 */
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { WorkflowNode } from './model.js';

/** System locations whose files are tools and devices, not data: never warned about. */
const SYSTEM_PREFIXES = ['/bin/', '/sbin/', '/usr/', '/lib', '/etc/', '/dev/', '/proc/', '/sys/', '/opt/', '/nix/'];

function isFile(path: string): boolean {
  try {
    // Most words are not files: no thrown ENOENT for each of them.
    return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}

/** Words of a command that could be paths: argv elements, or a shell string split at blanks, quotes and operators. */
function words(command: string | readonly string[]): string[] {
  if (typeof command !== 'string') return [...command];
  return command.split(/[\s;&|<>()'"`]+/).map((w) => w.replace(/^[0-9]*>+/, ''));
}

/**
 * One warning per existing file a command names — absolute, or relative to
 * `baseDir` (the workflow file's directory) — that is not a declared path
 * input of the node.
 */
export function untrackedFileWarnings(nodes: readonly WorkflowNode[], baseDir: string, file: string | undefined): string[] {
  const out: string[] = [];
  for (const n of nodes) {
    if (n.command === null) continue;
    const declared = new Set(Object.values(n.inputs).flatMap((i) => (i.kind === 'path' ? [i.path] : [])));
    const seen = new Set<string>();
    for (const w of words(n.command)) {
      // Templates and variables are filled in at run time: their files are inputs or node files.
      if (w === '' || w.includes('{{') || w.includes('$') || w.startsWith('-')) continue;
      if (!isAbsolute(w) && !w.includes('/') && !w.includes('.')) continue;
      const path = isAbsolute(w) ? w : resolve(baseDir, w);
      if (seen.has(path) || declared.has(path) || SYSTEM_PREFIXES.some((p) => path.startsWith(p)) || !isFile(path)) continue;
      seen.add(path);
      out.push(`${file !== undefined ? `${file}: ` : ''}node "${n.id}": the command names the file ${path}, which is not a declared input: the cache does not track it (declare it as an input {path: ...} so that a change reruns the node)`);
    }
  }
  return out;
}
