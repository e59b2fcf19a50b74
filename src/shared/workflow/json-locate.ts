/**
 * Line and column of a path (`['nodes', 3, 'needs', 0]`) in a JSON text that
 * is known to be valid, for error messages. One scan of the text finds where
 * each element of the top-level `nodes` list starts; a path into a node then
 * scans that node's text only, so locating any number of issues in a large
 * file costs one pass over it plus the nodes concerned.
 */

const WS = new Set([' ', '\t', '\n', '\r']);

/** Locates paths in one JSON text. */
export class JsonLocator {
  private nodeStarts: number[] | undefined;
  private lineStarts: number[] | undefined;

  constructor(private readonly text: string) {}

  /**
   * 1-based line and column of the value at `path`, or of its deepest part
   * that exists (a missing field points at its parent); with `atKey`, of the
   * last element's key. Undefined only for an empty text.
   */
  locate(path: readonly PropertyKey[], atKey = false): { line: number; column: number } | undefined {
    let start = this.skipWs(0);
    let rest = path;
    if (path[0] === 'nodes' && typeof path[1] === 'number' && !(atKey && path.length === 2)) {
      const nodeStart = this.nodes()[path[1]];
      if (nodeStart !== undefined) {
        start = nodeStart;
        rest = path.slice(2);
      }
    }
    const offset = this.descend(start, rest, atKey);
    return offset >= this.text.length ? undefined : this.lineColumn(offset);
  }

  /** Where each element of the top-level `nodes` list starts (one scan, on first use). */
  private nodes(): number[] {
    if (this.nodeStarts !== undefined) return this.nodeStarts;
    const starts: number[] = [];
    const list = this.descend(this.skipWs(0), ['nodes'], false);
    if (this.text[list] === '[') {
      let pos = this.skipWs(list + 1);
      while (pos < this.text.length && this.text[pos] !== ']') {
        starts.push(pos);
        pos = this.skipWs(this.skipValue(pos));
        if (this.text[pos] === ',') pos = this.skipWs(pos + 1);
      }
    }
    this.nodeStarts = starts;
    return starts;
  }

  /** Offset of the value at `path` below the value starting at `pos` (or of the deepest part found). */
  private descend(pos: number, path: readonly PropertyKey[], atKey: boolean): number {
    let best = pos;
    for (let depth = 0; depth < path.length; depth++) {
      const want = path[depth];
      const last = depth === path.length - 1;
      const open = this.text[pos];
      let found: { key: number; value: number } | undefined;
      if (open === '{' && typeof want === 'string') found = this.member(pos, want);
      else if (open === '[' && typeof want === 'number') found = this.element(pos, want);
      if (found === undefined) return best;
      if (last && atKey) return found.key;
      pos = found.value;
      best = pos;
    }
    return best;
  }

  private member(pos: number, want: string): { key: number; value: number } | undefined {
    let at = this.skipWs(pos + 1);
    while (at < this.text.length && this.text[at] === '"') {
      const keyStart = at;
      const keyEnd = this.skipString(at);
      const raw = this.text.slice(keyStart + 1, keyEnd - 1);
      const key = raw.includes('\\') ? (JSON.parse(this.text.slice(keyStart, keyEnd)) as string) : raw;
      const value = this.skipWs(this.skipWs(keyEnd) + 1);
      if (key === want) return { key: keyStart, value };
      at = this.skipWs(this.skipValue(value));
      if (this.text[at] !== ',') return undefined;
      at = this.skipWs(at + 1);
    }
    return undefined;
  }

  private element(pos: number, want: number): { key: number; value: number } | undefined {
    let at = this.skipWs(pos + 1);
    for (let i = 0; at < this.text.length && this.text[at] !== ']'; i++) {
      if (i === want) return { key: at, value: at };
      at = this.skipWs(this.skipValue(at));
      if (this.text[at] !== ',') return undefined;
      at = this.skipWs(at + 1);
    }
    return undefined;
  }

  private skipWs(pos: number): number {
    while (pos < this.text.length && WS.has(this.text[pos] as string)) pos++;
    return pos;
  }

  /** The offset just after the string starting at `pos`. */
  private skipString(pos: number): number {
    let i = pos + 1;
    while (i < this.text.length && this.text[i] !== '"') i += this.text[i] === '\\' ? 2 : 1;
    return i + 1;
  }

  /** The offset just after the value starting at `pos`. */
  private skipValue(pos: number): number {
    let depth = 0;
    let i = pos;
    while (i < this.text.length) {
      const ch = this.text[i];
      if (ch === '"') {
        i = this.skipString(i);
        if (depth === 0) return i;
        continue;
      }
      if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        if (depth === 0) return i;
        depth--;
        if (depth === 0) return i + 1;
      } else if (depth === 0 && (ch === ',' || WS.has(ch as string))) return i;
      i++;
    }
    return i;
  }

  private lineColumn(offset: number): { line: number; column: number } {
    if (this.lineStarts === undefined) {
      const starts = [0];
      for (let i = this.text.indexOf('\n'); i !== -1; i = this.text.indexOf('\n', i + 1)) starts.push(i + 1);
      this.lineStarts = starts;
    }
    const starts = this.lineStarts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (starts[lo] as number) + 1 };
  }
}
