/**
 * Reading a workflow file written as JSON: syntax errors with line and
 * column, and keys given twice in one object (which JSON.parse would let
 * pass, keeping the last). Pure.
 */
import { ValidationError, type ValidationIssue } from '../errors.js';

/** Converts a 0-based character offset to 1-based line and column. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Parses a JSON workflow text; every problem is a {@link ValidationError} naming `file`. */
export function parseJson(text: string, file: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const pos = /position (\d+)/.exec(message);
    const lc = /line (\d+) column (\d+)/.exec(message);
    const issue: ValidationIssue = { file, message: `JSON syntax error: ${message}` };
    if (lc?.[1] !== undefined && lc[2] !== undefined) {
      issue.line = Number(lc[1]);
      issue.column = Number(lc[2]);
    } else if (pos?.[1] !== undefined) {
      Object.assign(issue, lineColumn(text, Number(pos[1])));
    } else if (text.trim().length === 0) {
      issue.message = 'JSON syntax error: the file is empty';
    }
    throw new ValidationError('WORKFLOW_INVALID', [issue], { cause: err });
  }
  const dup = findDuplicateJsonKey(text);
  if (dup !== undefined) {
    throw new ValidationError('WORKFLOW_INVALID', [
      { file, ...lineColumn(text, dup.offset), message: `JSON syntax error: duplicate key "${dup.key}" in one object (keys must be unique)` },
    ]);
  }
  return value;
}

/**
 * Finds the first key that appears twice in one JSON object (JSON.parse keeps
 * the last silently). The text is already known to be valid JSON, so a small
 * scanner suffices: it tracks, per open object, the keys seen so far.
 */
export function findDuplicateJsonKey(text: string): { key: string; offset: number } | undefined {
  const stack: Array<{ keys: Set<string> | undefined; expectKey: boolean }> = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      const start = i;
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys !== undefined && top.expectKey) {
        const raw = text.slice(start + 1, i);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(start, i + 1)) as string) : raw;
        if (top.keys.has(key)) return { key, offset: start };
        top.keys.add(key);
        top.expectKey = false;
      }
    } else if (ch === '{') {
      stack.push({ keys: new Set(), expectKey: true });
    } else if (ch === '[') {
      stack.push({ keys: undefined, expectKey: false });
    } else if (ch === '}' || ch === ']') {
      stack.pop();
    } else if (ch === ',') {
      const top = stack[stack.length - 1];
      if (top?.keys !== undefined) top.expectKey = true;
    }
    i++;
  }
  return undefined;
}
