/**
 * Finding a process launcher that runs here: a binary that cannot run fails
 * its self-test; without a built one it is compiled on first use into the
 * cache (once), and without a compiler there is a clear reason instead.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILT_LAUNCHER, findLauncher, probeLauncher } from '../../src/worker/launcher-binary.js';
import { foreignElf } from '../helpers/foreign-elf.js';
import { onPath } from '../helpers/tools.js';

const root = mkdtempSync(join(tmpdir(), 'fg-launcher-bin-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.runIf(process.platform === 'linux')('the process launcher binary', () => {
  it('the built launcher passes its self-test; a binary for another machine does not', () => {
    expect(probeLauncher(BUILT_LAUNCHER)).toBeUndefined();
    const bad = foreignElf(join(root, 'foreign'));
    expect(probeLauncher(bad)).toMatch(/^cannot start .*foreign: not an executable for this machine/);
    expect(probeLauncher(join(root, 'absent'))).toMatch(/^cannot start .*absent: not found/);
  });

  it('FLOWGATE_LAUNCHER that cannot run: no launcher, and the reason names it', () => {
    const bad = foreignElf(join(root, 'foreign-env'));
    const check = findLauncher({ path: bad, cc: 'cc', cacheDir: join(root, 'cache-unused') });
    expect(check).toEqual({ ok: false, problem: expect.stringMatching(/^FLOWGATE_LAUNCHER: cannot start .*foreign-env: not an executable/) });
  });

  it.runIf(onPath('cc') !== undefined)('without a built launcher one is compiled on first use into the cache, once', () => {
    const cacheDir = join(root, 'cache');
    const bad = foreignElf(join(root, 'foreign-built'));
    const check = findLauncher({ path: undefined, cc: 'cc', cacheDir }, bad);
    expect(check.ok).toBe(true);
    const files = readdirSync(cacheDir);
    expect(files).toEqual([expect.stringMatching(new RegExp(`^flowgate-launcher-${process.arch}-[0-9a-f]{16}$`))]);
    const built = join(cacheDir, files[0] as string);
    expect(check).toEqual({ ok: true, path: built });
    expect(probeLauncher(built)).toBeUndefined();
    const mtime = statSync(built).mtimeMs;
    // Another process (same settings, not memoised here: other cache key) reuses the file.
    expect(findLauncher({ path: undefined, cc: 'cc', cacheDir }, join(root, 'no-built-one'))).toEqual({ ok: true, path: built });
    expect(statSync(built).mtimeMs).toBe(mtime);
  });

  it('without a built launcher and without a compiler: the reason says so', () => {
    const check = findLauncher({ path: undefined, cc: 'fg-no-such-cc', cacheDir: join(root, 'cache-nocc') }, join(root, 'nothing-built'));
    expect(check).toEqual({ ok: false, problem: 'it was not built and cannot be compiled: no C compiler (fg-no-such-cc not found)' });
  });
});
