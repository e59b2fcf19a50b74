/**
 * A workflow's source text: read as JSON or YAML (by the file's extension),
 * and kept for locating, so that an issue can give the line and column of the
 * field it is about. One parse per source text serves every issue to locate:
 * the document the file was read into (YAML), or a scanner of the text (JSON).
 */
import { extname } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { LineCounter, parseDocument, isMap, isNode, isScalar, type Document } from 'yaml';
import { ValidationError, type ValidationIssue } from '../errors.js';
import { JsonLocator } from './json-locate.js';
import { parseJson } from './json-text.js';
import { checkYamlExpansion } from './limits.js';
import { gbText } from './max-nodes.js';

type Format = 'json' | 'yaml';

// One parse per source text, however many issues need locating: the
// document the file was read into (YAML), or a scanner of the text (JSON).
let locateCache: { text: string; doc: Document; lineCounter: LineCounter } | { text: string; json: JsonLocator } | undefined;

/**
 * Lets go of the kept parse: once a file has been validated nothing is
 * located in it any more, and a large YAML file's document is many times
 * the size of its text (a later {@link locate} parses the text again).
 */
export function releaseSourceText(): void {
  locateCache = undefined;
}

/** `.json` files are read as JSON (with JSON's positions in errors); anything else, stdin too, as YAML, a superset of JSON. */
function formatOf(file: string): Format {
  return extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/** Parses a workflow's text (`file` names it in issues and decides its format), keeping it for {@link locate}. */
export function parseSourceText(text: string, file: string): unknown {
  const format = formatOf(file);
  const raw = format === 'json' ? parseJson(text, file) : parseYaml(text, file);
  if (format === 'json') locateCache = { text, json: new JsonLocator(text) };
  return raw;
}

/**
 * Heap the YAML library's document takes per character of text, at least
 * (measured: 130–160 times the text, with the node positions every issue is
 * located by; JSON takes about a fifth of that).
 */
const YAML_HEAP_PER_CHAR = 130;

function parseYaml(text: string, file: string): unknown {
  // A file the heap cannot hold the document of is refused before it is
  // parsed, rather than exhausting memory minutes later (a 38 MB, 1,000,000-node file).
  const { heap_size_limit: limit, used_heap_size: used } = getHeapStatistics();
  if (text.length * YAML_HEAP_PER_CHAR > limit - used) {
    throw new ValidationError('WORKFLOW_TOO_LARGE', [
      {
        file,
        message: `a YAML file of ${Math.round(text.length / 2 ** 20)} MB needs about ${gbText(text.length * YAML_HEAP_PER_CHAR)} of heap to read, more than the ${gbText(limit - used)} this process has left: write it as JSON (a .json file, about a fifth of that), or give the process more heap (NODE_OPTIONS=--max-old-space-size=<MB>)`,
      },
    ]);
  }
  const lineCounter = new LineCounter();
  // Merge keys (`<<: *defaults`) are YAML 1.1, but workflow files use them widely.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e): ValidationIssue => {
      const pos = lineCounter.linePos(e.pos[0]);
      return { file, line: pos.line, column: pos.col, message: `YAML syntax error: ${e.message.split('\n')[0] ?? e.code}` };
    });
    throw new ValidationError('WORKFLOW_INVALID', issues);
  }
  // Aliases are bounded by what they expand to (checked above the library's
  // own per-anchor count, which refuses honest files that reuse an anchor often).
  const tooBig = checkYamlExpansion(doc, lineCounter, file);
  if (tooBig !== undefined) throw new ValidationError('WORKFLOW_INVALID', [tooBig]);
  locateCache = { text, doc, lineCounter };
  try {
    return doc.toJS({ maxAliasCount: -1 }) as unknown;
  } catch (err) {
    // Not expected after the checks above; still bad input, not a crash.
    throw new ValidationError('WORKFLOW_INVALID', [{ file, message: `YAML error: ${err instanceof Error ? err.message : String(err)}` }], { cause: err });
  }
}

/** The parse of `text` kept for locating; parsed again (as YAML, a superset of JSON) when another text was kept. */
function parsedForLocating(text: string): { doc: Document; lineCounter: LineCounter } | { json: JsonLocator } {
  if (locateCache?.text !== text) {
    const lineCounter = new LineCounter();
    locateCache = { text, doc: parseDocument(text, { lineCounter, merge: true }), lineCounter };
  }
  return locateCache;
}

/**
 * Finds the line/column of a path in the source text, for error messages.
 * With `atKey`, points at the last path element's key rather than its value.
 */
export function locate(text: string, path: readonly PropertyKey[], atKey = false): { line: number; column: number } | undefined {
  try {
    const parsed = parsedForLocating(text);
    if ('json' in parsed) return parsed.json.locate(path, atKey);
    const { doc, lineCounter } = parsed;
    if (atKey && path.length > 0) {
      const parent = doc.getIn(path.slice(0, -1) as unknown[], true);
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]);
        if (pair !== undefined && isNode(pair.key) && pair.key.range) {
          const pos = lineCounter.linePos(pair.key.range[0]);
          return { line: pos.line, column: pos.col };
        }
      }
    }
    // Walk down as far as the path exists, so a missing field points at its parent.
    for (let depth = path.length; depth >= 0; depth--) {
      const node = doc.getIn(path.slice(0, depth) as unknown[], true);
      if (isNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
  } catch {
    // Locating is best effort; the message still names node and field.
  }
  return undefined;
}

/**
 * Issues about nodes found after validation (the budget check), given the
 * line and column of the node's field in `text` as written, or of the node
 * when the field comes from `defaults`. An issue about a node the text does
 * not list (an expanded copy) is left as it is.
 */
export function locateNodeIssues(text: string, file: string, issues: readonly ValidationIssue[]): ValidationIssue[] {
  let raw: unknown;
  try {
    raw = parseSourceText(text, file);
  } catch {
    return [...issues];
  }
  // Changed since it was validated (emptied, say): nothing to locate.
  if (typeof raw !== 'object' || raw === null) return [...issues];
  const nodes = (raw as { nodes?: unknown }).nodes;
  const index = new Map<string, number>();
  if (Array.isArray(nodes)) {
    nodes.forEach((n: unknown, i) => {
      const id = typeof n === 'object' && n !== null ? (n as { id?: unknown }).id : undefined;
      if (typeof id === 'string' && !index.has(id)) index.set(id, i);
    });
  }
  const located = issues.map((issue) => {
    const i = issue.node === undefined ? undefined : index.get(issue.node);
    if (i === undefined || issue.field === undefined || issue.line !== undefined) return issue;
    const pos = locate(text, ['nodes', i, issue.field]);
    return pos === undefined ? issue : { ...issue, ...pos };
  });
  releaseSourceText();
  return located;
}
