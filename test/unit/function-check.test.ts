import { describe, expect, it } from 'vitest';
import { exportedNames } from '../../src/shared/workflow/function-check.js';

describe('exports read from a module source', () => {
  it('finds declared, listed and default exports', () => {
    const src = [
      'export function a() {}',
      'export async function b() {}',
      'export function* g() {}',
      'export const c = 1, unused = 2;',
      'export class K {}',
      'const d = 1; const e = 2;',
      'export { d, e as renamed };',
      'export default function () {}',
      'export type T = number;',
    ].join('\n');
    expect([...(exportedNames(src) ?? [])].sort()).toEqual(['K', 'a', 'b', 'c', 'd', 'default', 'g', 'renamed', 'unused']);
  });

  it('finds every declarator of an exported const, let or var, and no name inside its values', () => {
    const src = [
      'export const f = (x: number, y: number) => x + y, g = async ({ a, b }: { a: number; b: string }) => [a, b],',
      '  h: (s: string) => string = (s) => `${s}, not = a name`;',
      'export let one = 1',
      'const notExported = 1, neither = 2;',
      "export var v = { k: 1, w: 2 }, s = 'x, y = 3', // comment, z = 4",
      '  last = /* a, b = c */ 5;',
      'export const multi =',
      '  1 +',
      '  2, afterLines = 3;',
      'export const p = 1, // why',
      '  q = 2, r = 3',
      'function notOne(a, b) { return a, b; }',
    ].join('\n');
    expect([...(exportedNames(src) ?? [])].sort()).toEqual(['afterLines', 'f', 'g', 'h', 'last', 'multi', 'one', 'p', 'q', 'r', 's', 'v']);
  });

  it('gives up (undefined) where the text cannot say: re-exports, CommonJS, destructuring', () => {
    expect(exportedNames("export * from './other.js';")).toBeUndefined();
    expect(exportedNames('module.exports = { f };')).toBeUndefined();
    expect(exportedNames('exports.f = () => 1;')).toBeUndefined();
    expect(exportedNames('export const { f, g } = make();')).toBeUndefined();
    expect(exportedNames('export const f = 1, { g } = make();')).toBeUndefined();
  });
});
