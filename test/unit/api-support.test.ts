import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { baseDirFrom, executorTasks, inOptionWords } from '../../src/api/api-support.js';

const dir = mkdtempSync(join(tmpdir(), 'fg-base-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('API support', () => {
  it('words CLI flags as run() options', () => {
    expect(inOptionWords('raise --n-procs/--memory-gb or pass --no-raise-insufficient to run them alone')).toBe('raise n_procs/memory_gb or pass raise_insufficient: false to run them alone');
    expect(inOptionWords('1,000 nodes exceeds --max-nodes 10')).toBe('1,000 nodes exceeds max_nodes 10');
    // Not a flag: left alone.
    expect(inOptionWords('/bin/bash -e -u -o pipefail; a--b')).toBe('/bin/bash -e -u -o pipefail; a--b');
  });

  it('takes a base dir from a directory, a module URL or a directory URL', () => {
    expect(baseDirFrom(dir)).toBe(dir);
    expect(baseDirFrom(pathToFileURL(join(dir, 'pipeline.mjs')).href)).toBe(dir);
    expect(baseDirFrom(pathToFileURL(join(dir, 'pipeline.mjs')))).toBe(dir);
    expect(baseDirFrom(pathToFileURL(dir).href)).toBe(dir);
  });

  it('runs executors without limit for max_tasks_per_child: Infinity', () => {
    expect(executorTasks(Infinity)).toBe(Number.MAX_SAFE_INTEGER);
    expect(executorTasks(3)).toBe(3);
  });
});
