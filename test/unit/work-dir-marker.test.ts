/**
 * The work dir marker: made once per directory and reused by every owner,
 * never left half-written or with a temporary file beside it, and checked
 * against the recorded token with a message naming the path, worker, host
 * and fix.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureMarker, markerPath, parseWorkDirCheck, readMarker, WORK_DIR_MARKER, workDirProblem } from '../../src/shared/work-dir-marker.js';

const dirs: string[] = [];
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'fg-marker-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const who = { name: 'w1', hostId: 'host-b' };

describe('work dir marker', () => {
  it('is made with the work dir, reused by the next owner, and leaves nothing else', () => {
    const work = join(scratch(), 'a', 'work');
    const token = ensureMarker(work);
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(ensureMarker(work)).toBe(token);
    expect(readdirSync(work)).toEqual([WORK_DIR_MARKER]);
    expect(readMarker(work)).toEqual({ token });
    expect(workDirProblem({ path: work, token }, who)).toBeUndefined();
  });

  it('replaces a file that is not a marker', () => {
    const work = scratch();
    writeFileSync(markerPath(work), 'hello\n');
    expect(readMarker(work)).toEqual({ problem: `${markerPath(work)} is not a flowgate marker` });
    const token = ensureMarker(work);
    expect(JSON.parse(readFileSync(markerPath(work), 'utf8'))).toMatchObject({ token });
    expect(readdirSync(work)).toEqual([WORK_DIR_MARKER]);
  });

  it('names the path, the worker, its host and the fix when the marker is missing or another one', () => {
    const work = scratch();
    expect(workDirProblem({ path: work, token: 'f'.repeat(32) }, who)).toBe(
      `work dir ${work} is not shared with worker "w1" on host "host-b" (there is no ${markerPath(work)} here); mount the shared volume at ${work} on this host, at the same path as on the scheduler's host`,
    );
    ensureMarker(work);
    expect(workDirProblem({ path: work, token: 'f'.repeat(32) }, who)).toContain("holds another token: this is a different directory from the scheduler's");
  });

  it('reads a recorded check, and nothing from anything else', () => {
    expect(parseWorkDirCheck('{"path":"/w","token":"t"}')).toEqual({ path: '/w', token: 't' });
    for (const raw of [null, undefined, '', '{', '{"path":""}', '{"path":"/w"}', '[]']) expect(parseWorkDirCheck(raw)).toBeUndefined();
  });
});
