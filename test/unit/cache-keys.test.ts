/**
 * Pieces of the cache key that need no services: fingerprints and their
 * projection across hash methods, chunked content hashing, the scanner of a
 * function module's local imports, and how a changed value is shown.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeChange, explainDifference } from '../../src/scheduler/cache.js';
import { localModules, localSpecifiers } from '../../src/scheduler/module-scan.js';
import { pathFingerprint, projectFingerprint, sha256File } from '../../src/shared/fingerprint.js';

const made: string[] = [];
const dir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'fg-keys-'));
  made.push(d);
  return d;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

describe('fingerprints', () => {
  it('hashes content in chunks to the same digest as a whole-buffer hash', () => {
    const d = dir();
    // Larger than one 4 MiB chunk, not a multiple of it.
    const data = Buffer.alloc(9 * 1024 * 1024 + 17, 7);
    data[5 * 1024 * 1024] = 1;
    writeFileSync(join(d, 'f'), data);
    expect(sha256File(join(d, 'f'))).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('content fingerprints keep size and mtime, so timestamps can recheck them; not the other way round', () => {
    const d = dir();
    writeFileSync(join(d, 'f'), 'abc');
    const content = pathFingerprint(join(d, 'f'), 'content');
    const ts = pathFingerprint(join(d, 'f'), 'timestamp');
    expect(content).toMatch(/^size:3 mtime:\d+ sha256:[0-9a-f]{64}$/);
    expect(projectFingerprint(content, 'timestamp')).toBe(ts);
    expect(projectFingerprint(ts, 'content')).toBeUndefined();
    expect(pathFingerprint(join(d, 'none'), 'content')).toBe('missing');
  });

  it('a directory changes with a file added anywhere below it', () => {
    const d = dir();
    mkdirSync(join(d, 'a', 'b'), { recursive: true });
    writeFileSync(join(d, 'a', 'b', 'x'), '1');
    const before = pathFingerprint(d, 'timestamp');
    expect(pathFingerprint(d, 'timestamp')).toBe(before);
    writeFileSync(join(d, 'a', 'b', 'y'), '2');
    expect(pathFingerprint(d, 'timestamp')).not.toBe(before);
  });
});

describe('function module imports', () => {
  it('finds relative import, export-from, bare import, dynamic import and require specifiers; not packages', () => {
    const src = [
      "import { a } from './a.js';",
      'import {\n  b,\n  c,\n} from "../lib/b";',
      "export * from './c.mjs';",
      "import './side.js';",
      "const d = await import('./d.js');",
      "const e = require('./e.cjs');",
      "import fs from 'node:fs';",
      "import z from 'zod';",
    ].join('\n');
    expect(localSpecifiers(src).sort()).toEqual(['../lib/b', './a.js', './c.mjs', './d.js', './e.cjs', './side.js']);
  });

  it('follows imports transitively, resolving TypeScript sources imported as .js and index files', () => {
    const d = dir();
    mkdirSync(join(d, 'lib'));
    writeFileSync(join(d, 'main.ts'), "import { h } from './lib/helper.js';\nimport u from './lib';\n");
    writeFileSync(join(d, 'lib', 'helper.ts'), "export { deep as h } from './deep.js';\n");
    writeFileSync(join(d, 'lib', 'deep.ts'), 'export const deep = 1;\n');
    writeFileSync(join(d, 'lib', 'index.ts'), "import { h } from '../main.js';\nexport default h;\n");
    expect(localModules(join(d, 'main.ts')).sort()).toEqual([join(d, 'lib', 'deep.ts'), join(d, 'lib', 'helper.ts'), join(d, 'lib', 'index.ts'), join(d, 'main.ts')]);
  });
});

describe('explaining a difference', () => {
  it('shows the region around the first difference of long values', () => {
    const a = `["sh","-c","${'x'.repeat(100)} seq 1 200000 > data.txt && echo fetched"]`;
    const b = `["sh","-c","${'x'.repeat(100)} seq 1 1000 > data.txt && echo fetched"]`;
    const d = describeChange(a, b);
    expect(d.was).toContain('seq 1 200000');
    expect(d.now).toContain('seq 1 1000 ');
    expect(d.was).not.toBe(d.now);
  });

  it('names the upstream node whose result changed', () => {
    const parts = (up: string) => ({ definition: {}, inputs: {}, files: {}, upstream: { fetch: up, other: 'same' }, method: 'timestamp' as const });
    expect(explainDifference(parts('1'), parts('2'))).toEqual(['upstream fetch changed']);
    expect(explainDifference(parts('1'), parts('1'))).toEqual([]);
  });
});
