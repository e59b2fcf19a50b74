/**
 * What a function node returns and throws: outputs refused unless JSON
 * carries them unchanged (with the path of the offending value), the size
 * limit, and thrown values described with their detail (fields, causes, zod
 * issues, non-Error values).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { encodeOutputs } from '../../src/worker/output-encoding.js';
import { describeThrown } from '../../src/worker/thrown.js';
import { notFoundLine } from '../../src/worker/log-tail.js';
import { lastLines, type RunSummary } from '../../src/scheduler/summary.js';
import { summaryText } from '../../src/cli/summary-text.js';

const MB = 1024 * 1024;
const refused = (value: unknown, max = 4 * MB): string => {
  const r = encodeOutputs(value, max);
  if (r.ok) throw new Error(`accepted: ${r.json}`);
  return r.reason;
};

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

describe('encodeOutputs', () => {
  it('accepts plain JSON values and returns them as JSON text', () => {
    const value = { a: 1, b: 'two', c: [true, null, { d: -0.5 }], e: {}, nested: Object.assign(Object.create(null) as object, { k: 'v' }) };
    expect(encodeOutputs(value, MB)).toEqual({ ok: true, json: JSON.stringify(value) });
  });

  it('takes null and undefined as "no outputs"', () => {
    expect(encodeOutputs(undefined, MB)).toEqual({ ok: true, json: 'null' });
    expect(encodeOutputs(null, MB)).toEqual({ ok: true, json: 'null' });
  });

  it('refuses a return value that is not an object of named outputs', () => {
    expect(refused(42)).toBe('outputs: a function node returns an object of named outputs (or nothing), not the number 42; return e.g. { value: ... }');
    expect(refused('x')).toContain('not a string');
    expect(refused([1, 2])).toContain('not a list');
    expect(refused(true)).toContain('not a boolean');
  });

  it.each([
    [{ stats: { byGene: new Map([['a', 1]]) } }, 'outputs.stats.byGene: a Map cannot be stored as JSON (it would arrive as {}); convert it with Object.fromEntries(...)'],
    [{ ids: new Set([1]) }, 'outputs.ids: a Set cannot be stored as JSON (it would arrive as {}); convert it with [...set]'],
    [{ mean: NaN }, 'outputs.mean: NaN cannot be stored as JSON (it would arrive as null)'],
    [{ list: [1, Infinity] }, 'outputs.list[1]: Infinity cannot be stored as JSON (it would arrive as null)'],
    [{ low: -Infinity }, 'outputs.low: -Infinity cannot'],
    [{ p: new Point(1, 2) }, 'outputs.p: an instance of class Point cannot be stored as JSON faithfully (it would arrive as a plain object without its prototype)'],
    [{ gone: undefined }, 'outputs.gone: undefined cannot be stored as JSON (the field would vanish); use null or leave the field out'],
    [{ list: [1, undefined] }, 'outputs.list[1]: undefined (or an empty array slot) cannot be stored as JSON (it would arrive as null)'],
    [{ holes: [1, , 3] }, 'outputs.holes[1]: undefined (or an empty array slot)'],
    [{ when: new Date(0) }, 'outputs.when: a Date cannot be stored as JSON (it would arrive as a string); convert it with .toISOString()'],
    [{ n: 10n }, 'outputs.n: a BigInt cannot be stored as JSON'],
    [{ f: () => 1 }, 'outputs.f: a function cannot be stored as JSON'],
    [{ s: Symbol('x') }, 'outputs.s: a symbol cannot be stored as JSON'],
    [{ bytes: new Uint8Array(2) }, 'outputs.bytes: a Uint8Array cannot be stored as JSON faithfully'],
    [{ re: /a/ }, 'outputs.re: a RegExp cannot be stored as JSON'],
    [{ err: new Error('x') }, 'outputs.err: an Error cannot be stored as JSON'],
    [{ p: Promise.resolve(1) }, 'outputs.p: a Promise cannot be stored as JSON; await it'],
    [{ 'odd key': { 'a-b': [{ m: new Map() }] } }, 'outputs["odd key"]["a-b"][0].m: a Map'],
  ])('refuses %o', (value, reason) => {
    expect(refused(value)).toContain(reason);
  });

  it('refuses a value that contains itself, but not one shared twice', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop['self'] = { back: loop };
    expect(refused({ loop })).toBe('outputs.loop.self.back: a circular reference (the value contains itself) cannot be stored as JSON');
    const shared = { x: 1 };
    expect(encodeOutputs({ a: shared, b: shared }, MB)).toEqual({ ok: true, json: '{"a":{"x":1},"b":{"x":1}}' });
  });

  it('refuses outputs over the size limit, in bytes of UTF-8 JSON, and says where large results belong', () => {
    expect(encodeOutputs({ s: 'x'.repeat(90) }, 100).ok).toBe(true);
    const big = refused({ s: 'x'.repeat(200) }, 100);
    expect(big).toMatch(/^outputs: more than 100 bytes as JSON, over the 100 bytes allowed for a node's outputs \(--max-output-bytes, max_output_bytes\); write large results to a file/);
    // 40 characters of 3 bytes each: under the limit in characters, over it in bytes.
    expect(refused({ s: '€'.repeat(40) }, 100)).toContain('outputs: 128 bytes as JSON, over the 100 bytes allowed');
    expect(refused({ s: 'y'.repeat(5 * MB) }, 4 * MB)).toContain('outputs: more than 4 MB (4194304 bytes) as JSON, over the 4 MB (4194304 bytes) allowed');
    expect(refused({ s: 'y'.repeat(2 * MB), t: '€'.repeat(MB) }, 4 * MB)).toContain('outputs: 5 MB (5242895 bytes) as JSON, over the 4 MB');
  });
});

describe('describeThrown', () => {
  it('keeps an Error\'s stack', () => {
    const d = describeThrown(new Error('kaboom'));
    expect(d.summary).toBe('Error: kaboom');
    expect(d.detail).toMatch(/^Error: kaboom\n\s+at /);
  });

  it('shows own fields such as code, and the cause chain', () => {
    const root = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', path: '/x' });
    const err = Object.assign(new Error('cannot load config', { cause: root }), { code: 'E_CONFIG' });
    const d = describeThrown(err);
    expect(d.summary).toBe('Error: cannot load config {"code":"E_CONFIG"} (cause: Error: ENOENT: no such file {"code":"ENOENT","path":"/x"})');
    expect(d.detail).toContain('fields: {"code":"E_CONFIG"}');
    expect(d.detail).toMatch(/\nCaused by: Error: ENOENT: no such file\n\s+at [^]*fields: \{"code":"ENOENT","path":"\/x"\}/);
  });

  it('shows a thrown non-Error value as JSON, not [object Object]', () => {
    expect(describeThrown({ code: 'E_BAD' })).toEqual({ summary: '{"code":"E_BAD"}', detail: '{"code":"E_BAD"}\n  (a thrown object, not an Error: no stack)' });
    expect(describeThrown('plain words').summary).toBe('plain words');
    expect(describeThrown(42).summary).toBe('42');
    expect(describeThrown(undefined).summary).toBe('undefined');
    const circular: Record<string, unknown> = { a: 1 };
    circular['me'] = circular;
    expect(describeThrown(circular).summary).toContain('<ref *1> { a: 1, me: [Circular *1] }');
  });

  it('renders a zod error from its issues', () => {
    const parsed = z.object({ name: z.string(), reads: z.array(z.number()) }).safeParse({ name: 3, reads: [1, 'x'] });
    expect(parsed.success).toBe(false);
    const d = describeThrown(parsed.error);
    expect(d.summary).toBe('ZodError: Invalid input: expected string, received number at name (and 1 more issue)');
    expect(d.detail).toContain('ZodError: 2 issues\n  ✖ Invalid input: expected string, received number\n    → at name\n  ✖ Invalid input: expected number, received string\n    → at reads[1]');
    expect(d.detail).not.toContain('"code"');
  });

  it('lists the errors of an AggregateError and survives a cause that loops', () => {
    const agg = new AggregateError([new Error('one'), { code: 2 }], 'several');
    expect(describeThrown(agg).detail).toMatch(/errors\[0\]: Error: one[^]*errors\[1\]: \{"code":2\}/);
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(describeThrown(b).summary).toBe('Error: b (cause: Error: a (cause: (circular cause)))');
  });
});

describe('log tails', () => {
  it('finds the shell\'s "not found" line', () => {
    expect(notFoundLine('/bin/sh: 1: samtoolz: not found\n')).toBe('/bin/sh: 1: samtoolz: not found');
    expect(notFoundLine('noise\nbash: line 1: samtoolz: command not found\nmore noise\n')).toBe('bash: line 1: samtoolz: command not found');
    expect(notFoundLine('something else\n')).toBe('something else');
    expect(notFoundLine('')).toBeUndefined();
  });

  it('keeps the last 10 lines of stderr for the summary', () => {
    const text = `${Array.from({ length: 15 }, (_, i) => `line ${i + 1}`).join('\n')}\n\n`;
    expect(lastLines(text).split('\n')).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i + 6}`));
  });
});

describe('summaryText', () => {
  const summary = (failure: Partial<RunSummary['failures'][number]>): RunSummary => ({
    run_id: 'r1',
    workflow: 'demo',
    status: 'failed',
    budget: { n_procs: 1, memory_gb: 1 },
    scheduler: 'tsort',
    started_ms: 0,
    finished_ms: 1000,
    wall_s: 1,
    counts: { succeeded: 0, failed: 1, skipped: 1, cached: 0, cancelled: 0 },
    failures: [{ node: 'b', reason: 'exit code 3', crash_file: '/c/crash-b.json', skipped: ['c'], node_dir: '/w/demo/b', stderr_tail: 'reading\nerror: truncated', ...failure }],
    memory_warnings: [],
    nodes: [],
  });

  it('shows a failed node\'s directory and the end of its stderr', () => {
    expect(summaryText(summary({})).split('\n').slice(1)).toEqual([
      'could not run node: demo.b: exit code 3',
      '  node directory: /w/demo/b',
      '  stderr (last 2 lines):',
      '    reading',
      '    error: truncated',
      '  crashfile: /c/crash-b.json',
      '  skipped because of it: c',
    ]);
  });

  it('says nothing of stderr when there was none', () => {
    const text = summaryText(summary({ stderr_tail: '' }));
    expect(text).toContain('  node directory: /w/demo/b\n  crashfile: /c/crash-b.json');
    expect(text).not.toContain('stderr');
  });
});
