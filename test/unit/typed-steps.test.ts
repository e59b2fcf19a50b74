/**
 * Typed function steps: the compiler accepts a step node given the inputs its
 * function takes and refuses wrong input types, missing or unknown inputs,
 * unknown output names and exports that are not functions. The fixture marks
 * each line that must be refused with `// error: <text>`; every other line
 * must compile. Compiled with the repository's own compiler options.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { stepModule } from '../../src/api/step.js';
import { workflow } from '../../src/api/workflow.js';

const FIXTURE = resolve(import.meta.dirname, '../fixtures/typed-steps/pipeline.ts');
const STEPS = resolve(import.meta.dirname, '../fixtures/typed-steps/steps.ts');

function compile(file: string): Map<number, string[]> {
  const config = ts.readConfigFile(resolve(import.meta.dirname, '../../tsconfig.json'), (p) => ts.sys.readFile(p));
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, resolve(import.meta.dirname, '../..'));
  const program = ts.createProgram([file], { ...options, noEmit: true, rootDir: resolve(import.meta.dirname, '../..') });
  const byLine = new Map<number, string[]>();
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (d.file === undefined || resolve(d.file.fileName) !== file) throw new Error(`unexpected diagnostic: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    const line = d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1;
    byLine.set(line, [...(byLine.get(line) ?? []), ts.flattenDiagnosticMessageText(d.messageText, '\n')]);
  }
  return byLine;
}

describe('typed function steps', () => {
  it('the compiler refuses exactly the lines marked as errors, with the expected message', { timeout: 120_000 }, () => {
    const expected = new Map<number, string>();
    readFileSync(FIXTURE, 'utf8')
      .split('\n')
      .forEach((text, i) => {
        const m = /;\s*\/\/ error: (.+)$/.exec(text);
        if (m?.[1] !== undefined) expected.set(i + 1, m[1]);
      });
    expect(expected.size).toBeGreaterThanOrEqual(9);
    const got = compile(FIXTURE);
    const unexpected = [...got].filter(([line]) => !expected.has(line));
    expect(unexpected, 'lines that should compile').toEqual([]);
    for (const [line, text] of expected) {
      const messages = got.get(line) ?? [];
      expect(messages.length, `line ${line} must be refused (${text})`).toBeGreaterThan(0);
      expect(messages.join('\n'), `line ${line}`).toContain(text);
    }
  });

  it('a step is the module path and export of the v1 function field', () => {
    const s = stepModule<typeof import('../fixtures/typed-steps/steps.js')>(new URL('../fixtures/typed-steps/steps.ts', import.meta.url));
    expect(s.module).toBe(STEPS);
    expect(s.step('double')).toEqual({ module: STEPS, export: 'double' });
    const wf = workflow('typed');
    const d = wf.node('d', { function: s.step('double'), inputs: { x: 2, by: 3 } });
    wf.node('e', { function: { module: new URL('../fixtures/typed-steps/steps.ts', import.meta.url), export: 'double' }, inputs: { x: d.out('y'), by: 1 } });
    expect(wf.toJSON().nodes).toEqual([
      { id: 'd', function: { module: STEPS, export: 'double' }, inputs: { x: 2, by: 3 } },
      { id: 'e', function: { module: STEPS, export: 'double' }, inputs: { x: { from: 'd.y' }, by: 1 } },
    ]);
    expect(wf.build().nodes.map((n) => n.id)).toEqual(['d', 'e']);
  });
});
