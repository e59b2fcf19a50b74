/**
 * Finds the quoting context of every `{{...}}` template in a shell script, so
 * that a value can be rendered as literal text for exactly that position (or
 * refused where no rendering is safe).
 *
 * Hand-written rather than a library: the shell parsers on npm (shell-quote,
 * bash-parser, mvdan-sh's JS build) either do not report quoting context at
 * arbitrary offsets, do not know heredocs, or are unmaintained and large. We
 * need only the lexical layer — quotes, escapes, `$(…)`, `${…}`, `$((…))`,
 * backticks, comments, here-documents — which is small and well specified
 * (POSIX 2.2–2.3, bash's extensions `$'…'`, `$"…"`, `<<<`, `((…))`). Where the
 * structure cannot be told for sure, templates are refused, never guessed.
 */

/** Where a template stands, and so how its value is rendered. */
export type TemplateSpot =
  /** Unquoted: rendered as single-quoted shell words. */
  | { kind: 'word' }
  /** Inside "…": `\ $ \` "` are backslash-escaped. */
  | { kind: 'double' }
  /** Inside '…': every `'` becomes `'\''`. */
  | { kind: 'single' }
  /** In the body of a here-document with an unquoted delimiter: `\ $ \`` are escaped. */
  | { kind: 'heredoc'; heredoc: number }
  /** In the body of a here-document with a quoted delimiter: the value as it is. */
  | { kind: 'heredoc-literal'; heredoc: number }
  /** In a comment: left as written (nothing reads it). */
  | { kind: 'comment' }
  /** Nowhere a value can be made safe: the reason and the fix. */
  | { kind: 'refused'; why: string };

/** One template of the script. */
export interface ShellTemplate {
  /** Offsets of `{{` and just after `}}`. */
  start: number;
  end: number;
  /** The name between the braces, trimmed. */
  name: string;
  /** 1-based position of `{{`. */
  line: number;
  column: number;
  spot: TemplateSpot;
}

/** A here-document: its delimiter and where its body lies in the script. */
export interface HereDoc {
  delimiter: string;
  /** `<<-`: leading tabs are removed from body lines and from the delimiter line. */
  stripTabs: boolean;
  /** Body offsets: the first body line to just before the delimiter line. */
  bodyStart: number;
  bodyEnd: number;
}

/** What {@link scanShell} found; `error` when the quoting could not be followed to the end. */
export interface ShellScan {
  templates: ShellTemplate[];
  heredocs: HereDoc[];
  error?: string;
}

const TOKEN = /\{\{\s*([^{}]*?)\s*\}\}/g;

const WHY = {
  backtick: 'inside `…` (backticks), where a value cannot be quoted safely; write $(…) instead of backticks',
  param: 'inside ${…}, where a value cannot be quoted safely; assign it to a variable first (v={{…}}) and use ${v…}',
  arith: 'inside an arithmetic expression ($((…)), ((…))), which the shell evaluates as code; pass the value as a word and check it is a number',
  ansi: "inside $'…', where a value cannot be quoted safely; use '…' or \"…\" instead",
  locale: 'inside $"…", where a value cannot be quoted safely; use "…" instead',
  backslash: 'right after a backslash, which would escape the quoting of the value; remove the backslash',
  dollar: 'right after $, which would make the value part of an expansion; remove the $',
  delimiter: 'in a here-document delimiter, which must be fixed text',
} as const;

type Ctx =
  | { k: 'script'; closer: boolean; parens: number; cases: number }
  | { k: 'dq'; locale: boolean }
  | { k: 'sq' }
  | { k: 'ansi' }
  | { k: 'bt' }
  | { k: 'param'; braces: number }
  | { k: 'arith'; parens: number }
  | { k: 'heredoc'; heredoc: number };

/** The state of one scan: its range, open contexts (and where each opened), the word being read. */
interface ScanState {
  from: number;
  to: number;
  stack: Ctx[];
  opened: number[];
  word: string;
  prevWord: string;
}

// Characters after which a new word (and so a comment or a keyword) can start.
const WORD_BREAK = new Set([' ', '\t', '\n', ';', '&', '|', '(', ')', '<', '>']);
// Words after which the next word is in command position.
const COMMAND_LEADERS = new Set(['', 'then', 'do', 'else', 'elif', 'if', 'while', 'until', '!', '{', 'time']);

/** Scans a shell script for templates and their quoting contexts. */
export function scanShell(text: string): ShellScan {
  return new Scanner(text).run();
}

class Scanner {
  private readonly at = new Map<number, { end: number; name: string }>();
  private readonly templates: ShellTemplate[] = [];
  private readonly heredocs: HereDoc[] = [];
  private pending: Array<{ delimiter: string; stripTabs: boolean; quoted: boolean }> = [];
  private error: string | undefined;

  constructor(private readonly text: string) {
    for (const m of text.matchAll(TOKEN)) this.at.set(m.index, { end: m.index + m[0].length, name: m[1] ?? '' });
  }

  run(): ShellScan {
    if (this.at.size > 0) this.scan(0, this.text.length, { k: 'script', closer: false, parens: 0, cases: 0 });
    this.templates.sort((a, b) => a.start - b.start);
    return { templates: this.templates, heredocs: this.heredocs, ...(this.error !== undefined ? { error: this.error } : {}) };
  }

  private where(i: number): string {
    const before = this.text.slice(0, i);
    const line = before.split('\n').length;
    return `line ${line}, column ${i - before.lastIndexOf('\n')}`;
  }

  private record(i: number, spot: TemplateSpot): number {
    const t = this.at.get(i);
    if (t === undefined) return i + 1;
    const before = this.text.slice(0, i);
    this.templates.push({ start: i, end: t.end, name: t.name, line: before.split('\n').length, column: i - before.lastIndexOf('\n'), spot });
    return t.end;
  }

  private fail(message: string): void {
    this.error ??= message;
  }

  /** Scans `[from, to)` starting in `root`; returns where it stopped. */
  private scan(from: number, to: number, root: Ctx): number {
    const s: ScanState = { from, to, stack: [root], opened: [from], word: '', prevWord: '' };
    let i = from;
    while (i < to && this.error === undefined) {
      const ctx = s.stack[s.stack.length - 1];
      if (ctx === undefined) break;
      i = ctx.k === 'script' ? this.unquoted(s, ctx, i) : this.quoted(s, ctx, i);
      // A command substitution ends at its ")".
      if (s.stack.length === 0) return i;
    }
    const top = s.stack[s.stack.length - 1];
    if (s.word !== '') this.keyword(s.word, s.prevWord, top);
    if (this.error === undefined && (s.stack.length > 1 || (top?.k === 'script' && top.closer))) {
      const names: Record<Ctx['k'], string> = { script: '$(…)', dq: '"…"', sq: "'…'", ansi: "$'…'", bt: '`…`', param: '${…}', arith: '$((…))', heredoc: 'here-document' };
      const at = s.stack.length > 1 ? (s.opened[s.opened.length - 1] ?? from) : Math.max(0, from - 2);
      if (top !== undefined) this.fail(`cannot follow the quoting: unterminated ${names[top.k]} opened at ${this.where(at)}`);
    }
    if (top?.k === 'script' && top.cases !== 0) this.fail('cannot follow the quoting: a case statement without esac');
    return i;
  }

  private enter(s: ScanState, c: Ctx, i: number, length: number): number {
    s.stack.push(c);
    s.opened.push(i);
    return i + length;
  }

  private leave(s: ScanState, i: number, length: number): number {
    s.stack.pop();
    s.opened.pop();
    return i + length;
  }

  /** One step inside quotes, an expansion or a here-document body. */
  private quoted(s: ScanState, ctx: Exclude<Ctx, { k: 'script' }>, i: number): number {
    const ch = this.text[i] ?? '';
    const template = this.at.has(i);
    if (ctx.k === 'sq') {
      if (template) return this.record(i, { kind: 'single' });
      return ch === "'" ? this.leave(s, i, 1) : i + 1;
    }
    if (ctx.k === 'ansi' || ctx.k === 'bt') {
      const why = ctx.k === 'bt' ? WHY.backtick : WHY.ansi;
      if (template) return this.record(i, { kind: 'refused', why });
      if (ch === '\\') return this.escape(i, why);
      return ch === (ctx.k === 'bt' ? '`' : "'") ? this.leave(s, i, 1) : i + 1;
    }
    const spot: TemplateSpot =
      ctx.k === 'dq'
        ? ctx.locale
          ? { kind: 'refused', why: WHY.locale }
          : { kind: 'double' }
        : ctx.k === 'heredoc'
          ? { kind: 'heredoc', heredoc: ctx.heredoc }
          : { kind: 'refused', why: ctx.k === 'param' ? WHY.param : WHY.arith };
    if (template) return this.record(i, spot);
    if (ch === '\\') return this.escape(i, WHY.backslash);
    if (ch === '$') return this.dollar(s, i, spot.kind === 'refused' ? spot : undefined);
    if (ch === '`') return this.enter(s, { k: 'bt' }, i, 1);
    if (ctx.k === 'dq') return ch === '"' ? this.leave(s, i, 1) : i + 1;
    if (ctx.k === 'heredoc') return i + 1;
    // ${…} and $((…)): quotes nest inside them.
    if (ch === '"') return this.enter(s, { k: 'dq', locale: false }, i, 1);
    if (ch === "'") return this.enter(s, { k: 'sq' }, i, 1);
    if (ctx.k === 'param') {
      if (ch === '{') ctx.braces++;
      else if (ch === '}' && ctx.braces === 0) return this.leave(s, i, 1);
      else if (ch === '}') ctx.braces--;
      return i + 1;
    }
    if (ch === '(') ctx.parens++;
    else if (ch === ')' && ctx.parens > 0) ctx.parens--;
    else if (ch === ')' && this.text[i + 1] === ')') return this.leave(s, i, 2);
    else if (ch === ')') this.fail(`cannot follow the quoting: ")" closes an arithmetic expression at ${this.where(i)} without a second ")"`);
    return i + 1;
  }

  /** One step of unquoted script text. */
  private unquoted(s: ScanState, ctx: Extract<Ctx, { k: 'script' }>, i: number): number {
    const text = this.text;
    const ch = text[i] ?? '';
    const next = text[i + 1] ?? '';
    const atWordStart = i === s.from || WORD_BREAK.has(text[i - 1] ?? '');
    if (this.at.has(i)) {
      // Not a keyword, whatever follows.
      s.word = '\0';
      return this.record(i, { kind: 'word' });
    }
    if (/[A-Za-z0-9_!{}]/.test(ch) && (atWordStart || s.word !== '')) {
      s.word += ch;
      return i + 1;
    }
    if (s.word !== '') {
      this.keyword(s.word, s.prevWord, ctx);
      s.prevWord = s.word;
      s.word = '';
    }
    if (ch === ';' || ch === '&' || ch === '|' || ch === '(' || ch === '\n') s.prevWord = '';
    if (ch === '#' && atWordStart) {
      while (i < s.to && text[i] !== '\n') i = this.at.has(i) ? this.record(i, { kind: 'comment' }) : i + 1;
      return i;
    }
    if (ch === '\\') return this.escape(i, WHY.backslash);
    if (ch === "'") return this.enter(s, { k: 'sq' }, i, 1);
    if (ch === '"') return this.enter(s, { k: 'dq', locale: false }, i, 1);
    if (ch === '`') return this.enter(s, { k: 'bt' }, i, 1);
    if (ch === '$') return this.dollar(s, i, undefined, true);
    if (ch === '(' && next === '(') return this.enter(s, { k: 'arith', parens: 0 }, i, 2);
    if (ch === '(') ctx.parens++;
    else if (ch === ')' && ctx.parens > 0) ctx.parens--;
    // At depth 0, ")" closes $(…) — unless it closes a case pattern.
    else if (ch === ')' && ctx.cases === 0 && ctx.closer) return this.leave(s, i, 1);
    else if (ch === '<' && next === '<' && text[i + 2] === '<') return i + 3;
    else if (ch === '<' && next === '<') return this.heredocOperator(i + 2);
    else if (ch === '\n' && this.pending.length > 0) return this.heredocBodies(i + 1);
    return i + 1;
  }

  /** A word just ended in script text: follow case … esac, whose ")" patterns do not close $(…). */
  private keyword(word: string, prevWord: string, ctx: Ctx | undefined): void {
    if (ctx?.k !== 'script' || !COMMAND_LEADERS.has(prevWord)) return;
    if (word === 'case') ctx.cases++;
    else if (word === 'esac' && ctx.cases > 0) ctx.cases--;
  }

  /** A backslash: the next character is taken literally (and may not be a template). */
  private escape(i: number, why: string): number {
    if (this.at.has(i + 1)) return this.record(i + 1, { kind: 'refused', why });
    return i + 2;
  }

  /**
   * `$` in text where expansions happen (`script`: unquoted, where `$'…'` and
   * `$"…"` are quotes). A template right after it inherits the refusal of its
   * context, if any, else is refused for the `$`.
   */
  private dollar(s: ScanState, i: number, refused: TemplateSpot | undefined, script = false): number {
    const t = this.text;
    const next = t[i + 1] ?? '';
    if (this.at.has(i + 1)) return this.record(i + 1, refused ?? { kind: 'refused', why: WHY.dollar });
    if (next === '(' && t[i + 2] === '(') return this.enter(s, { k: 'arith', parens: 0 }, i, 3);
    // A command substitution: a script of its own, ending at its ")".
    if (next === '(') return this.scan(i + 2, s.to, { k: 'script', closer: true, parens: 0, cases: 0 });
    if (next === '{') return this.enter(s, { k: 'param', braces: 0 }, i, 2);
    if (script && next === "'") return this.enter(s, { k: 'ansi' }, i, 2);
    if (script && next === '"') return this.enter(s, { k: 'dq', locale: true }, i, 2);
    return i + 1;
  }

  /** After `<<` or `<<-`: reads the delimiter word; the body comes after the next newline. */
  private heredocOperator(i: number): number {
    const t = this.text;
    let stripTabs = false;
    if (t[i] === '-') {
      stripTabs = true;
      i += 1;
    }
    while (t[i] === ' ' || t[i] === '\t') i += 1;
    let delimiter = '';
    let quoted = false;
    while (i < t.length && !WORD_BREAK.has(t[i] ?? '')) {
      if (this.at.has(i)) return this.record(i, { kind: 'refused', why: WHY.delimiter });
      const ch = t[i] ?? '';
      if (ch === "'" || ch === '"') {
        quoted = true;
        const close = t.indexOf(ch, i + 1);
        if (close < 0) return (this.fail(`cannot follow the quoting: unterminated here-document delimiter at ${this.where(i)}`), t.length);
        const inner = t.slice(i + 1, close);
        if ([...this.at.keys()].some((k) => k > i && k < close)) return this.record([...this.at.keys()].find((k) => k > i && k < close) ?? i, { kind: 'refused', why: WHY.delimiter });
        delimiter += ch === '"' ? inner.replace(/\\([$`"\\])/g, '$1') : inner;
        i = close + 1;
      } else if (ch === '\\') {
        quoted = true;
        delimiter += t[i + 1] ?? '';
        i += 2;
      } else {
        delimiter += ch;
        i += 1;
      }
    }
    if (delimiter === '') {
      this.fail(`cannot follow the quoting: "<<" without a here-document delimiter at ${this.where(i)}`);
      return i;
    }
    this.pending.push({ delimiter, stripTabs, quoted });
    return i;
  }

  /** At the start of the line after a command with here-documents: their bodies, in order. */
  private heredocBodies(i: number): number {
    const t = this.text;
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) {
      const bodyStart = i;
      let bodyEnd = t.length;
      let after = t.length;
      let lineStart = i;
      while (lineStart < t.length) {
        const nl = t.indexOf('\n', lineStart);
        const lineEnd = nl < 0 ? t.length : nl;
        const line = t.slice(lineStart, lineEnd);
        if ((p.stripTabs ? line.replace(/^\t+/, '') : line) === p.delimiter) {
          bodyEnd = lineStart;
          after = nl < 0 ? t.length : nl + 1;
          break;
        }
        lineStart = lineEnd + 1;
      }
      const index = this.heredocs.push({ delimiter: p.delimiter, stripTabs: p.stripTabs, bodyStart, bodyEnd }) - 1;
      if (p.quoted) {
        for (const start of [...this.at.keys()].filter((k) => k >= bodyStart && k < bodyEnd)) this.record(start, { kind: 'heredoc-literal', heredoc: index });
      } else {
        this.scan(bodyStart, bodyEnd, { k: 'heredoc', heredoc: index });
      }
      i = after;
    }
    return i;
  }
}
