/**
 * Bounds on a workflow document's shape, checked before the schema sees it:
 * how far YAML aliases may expand it, how deeply it may nest, and keys that a
 * JavaScript object cannot hold faithfully. Each check is iterative and
 * linear in the size of the document as written, so a hostile file (a "billion
 * laughs" alias bomb, a 100 000-deep list) is refused quickly and clearly
 * instead of exhausting memory or the stack.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { ValidationIssue } from '../errors.js';

/**
 * How many values (maps, lists, keys and scalars, each counted once) the
 * aliases of a YAML file may add to what it spells out, once expanded. An
 * anchor may be used any number of times within this bound.
 */
export const MAX_ALIAS_EXPANSION = 1_000_000;

/** How deeply maps and lists may nest (the workflow's own structure uses about 5 levels). */
export const MAX_NESTING = 100;

/** Keys that cannot be an own property of a plain object built by assignment. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__']);

type Located = Pick<ValidationIssue, 'line' | 'column'>;

function at(node: { range?: readonly [number, number, number] | null | undefined }, lines: LineCounter): Located {
  if (node.range == null) return {};
  const pos = lines.linePos(node.range[0]);
  return { line: pos.line, column: pos.col };
}

interface Frame {
  node: Node;
  /** Expanded size accumulated so far (the collection itself counts 1). */
  size: number;
  /** Levels of maps and lists, this one included, once expanded. */
  height: number;
}

/**
 * Checks a parsed YAML document before it is turned into JavaScript values:
 * every alias refers to an anchor defined before it and not to a value that
 * contains the alias (which would expand forever), nesting stays within
 * {@link MAX_NESTING}, and the aliases add at most {@link MAX_ALIAS_EXPANSION}
 * values. Returns the first problem, or undefined.
 *
 * Sizes are computed once per anchored node and reused by every alias to it,
 * so the walk is linear in the written document however large the expansion.
 */
export function checkYamlExpansion(doc: Document, lines: LineCounter, file: string): ValidationIssue | undefined {
  if (doc.contents === null) return undefined;
  /** The anchor name's latest definition so far, in document order. */
  const anchors = new Map<string, Node>();
  /** Expanded size and height of each anchored node whose subtree is complete. */
  const sizes = new Map<Node, { size: number; height: number }>();
  const open = new Set<Node>();
  const frames: Frame[] = [];
  let added = 0;
  // Work items: a node to enter, or the end of a collection.
  const work: Array<Node | { end: Node }> = [doc.contents as Node];
  const addToParent = (n: number, height: number): void => {
    const top = frames[frames.length - 1];
    if (top === undefined) return;
    top.size += n;
    top.height = Math.max(top.height, height + 1);
  };
  while (work.length > 0) {
    const item = work.pop() as Node | { end: Node };
    if ('end' in item) {
      const frame = frames.pop() as Frame;
      open.delete(frame.node);
      if (frame.node.anchor !== undefined) sizes.set(frame.node, { size: frame.size, height: frame.height });
      addToParent(frame.size, frame.height);
      continue;
    }
    const node = item;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined) {
        return { file, ...at(node, lines), message: `YAML alias "*${node.source}" has no anchor "&${node.source}" before it` };
      }
      if (open.has(target)) {
        return { file, ...at(node, lines), message: `YAML alias "*${node.source}" is inside the value it refers to (it would expand forever)` };
      }
      const { size, height } = sizes.get(target) ?? { size: 1, height: 0 };
      if (frames.length + height > MAX_NESTING) {
        return { file, ...at(node, lines), message: `maps and lists nest more than ${MAX_NESTING} levels deep once "*${node.source}" is expanded` };
      }
      added += size - 1;
      if (added > MAX_ALIAS_EXPANSION) {
        return {
          file,
          ...at(node, lines),
          message: `YAML aliases expand the document by more than ${MAX_ALIAS_EXPANSION.toLocaleString('en-US')} values (at "*${node.source}"); a workflow file may not grow that much through aliases`,
        };
      }
      addToParent(size, height);
      continue;
    }
    if (node.anchor !== undefined) anchors.set(node.anchor, node);
    if (isMap(node) || isSeq(node)) {
      if (frames.length >= MAX_NESTING) {
        return { file, ...at(node, lines), message: `maps and lists nest more than ${MAX_NESTING} levels deep` };
      }
      frames.push({ node, size: 1, height: 1 });
      open.add(node);
      work.push({ end: node });
      const children: Node[] = [];
      for (const child of node.items as unknown[]) {
        if (isPair(child)) {
          if (child.key !== null && typeof child.key === 'object') children.push(child.key as Node);
          if (child.value !== null && typeof child.value === 'object') children.push(child.value as Node);
        } else if (child !== null && typeof child === 'object') {
          children.push(child as Node);
        }
      }
      for (let i = children.length - 1; i >= 0; i--) work.push(children[i] as Node);
      continue;
    }
    // A scalar (or anything else): one value.
    if (isScalar(node) && node.anchor !== undefined) sizes.set(node, { size: 1, height: 0 });
    addToParent(1, 0);
  }
  return undefined;
}

/**
 * Checks a parsed document (from JSON, YAML or code) for keys in
 * {@link FORBIDDEN_KEYS} and for nesting deeper than {@link MAX_NESTING}.
 * Iterative; a value that contains itself (built in code) is caught by the
 * depth bound. Returns the path of the first problem, or undefined.
 */
export function checkDocumentShape(raw: unknown): { path: PropertyKey[]; message: string; atKey?: boolean } | undefined {
  // Each entry links to its parent: the path is spelt out only for a problem,
  // not copied for every value of a document with a million nodes.
  interface Entry {
    value: unknown;
    key: PropertyKey;
    parent: Entry | undefined;
    depth: number;
  }
  const pathOf = (e: Entry | undefined, last?: PropertyKey): PropertyKey[] => {
    const path: PropertyKey[] = last === undefined ? [] : [last];
    for (let at = e; at?.parent !== undefined; at = at.parent) path.push(at.key);
    return path.reverse();
  };
  const work: Entry[] = [{ value: raw, key: '', parent: undefined, depth: 0 }];
  while (work.length > 0) {
    const entry = work.pop() as Entry;
    const value = entry.value;
    if (typeof value !== 'object' || value === null) continue;
    if (entry.depth >= MAX_NESTING) return { path: pathOf(entry), message: `maps and lists nest more than ${MAX_NESTING} levels deep` };
    const depth = entry.depth + 1;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) {
        const item = value[i] as unknown;
        if (typeof item === 'object' && item !== null) work.push({ value: item, key: i, parent: entry, depth });
      }
      continue;
    }
    const keys = Object.keys(value);
    for (const key of keys) {
      if (FORBIDDEN_KEYS.has(key)) {
        return { path: pathOf(entry, key), atKey: true, message: `the key "${key}" is not allowed (it cannot be stored as a plain value)` };
      }
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      const item = (value as Record<string, unknown>)[key];
      if (typeof item === 'object' && item !== null) work.push({ value: item, key, parent: entry, depth });
    }
  }
  return undefined;
}
