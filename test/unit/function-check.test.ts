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
    expect([...(exportedNames(src) ?? [])].sort()).toEqual(['K', 'a', 'b', 'c', 'd', 'default', 'g', 'renamed']);
  });

  it('gives up (undefined) where the text cannot say: re-exports, CommonJS, destructuring', () => {
    expect(exportedNames("export * from './other.js';")).toBeUndefined();
    expect(exportedNames('module.exports = { f };')).toBeUndefined();
    expect(exportedNames('exports.f = () => 1;')).toBeUndefined();
    expect(exportedNames('export const { f, g } = make();')).toBeUndefined();
  });
});
