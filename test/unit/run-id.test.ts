/**
 * Run ids: the generated form, the rule for chosen ones, and the tag that
 * names a run's worker processes.
 */
import { describe, expect, it } from 'vitest';
import { newRunId, runIdProblem, runTag } from '../../src/shared/run-id.js';

describe('run ids', () => {
  it('generates sortable ids that follow the rule for chosen ones', () => {
    const id = newRunId(new Date('2026-12-07T05:36:02Z'));
    expect(id).toMatch(/^20261207-053602-[0-9a-f]{6}$/);
    expect(runIdProblem(id)).toBeUndefined();
    expect(runIdProblem('a:b')).toBe('must be 1-64 letters, digits, "_" or "-", received "a:b"');
  });

  it('tags a generated id by its random end and a chosen id by itself', () => {
    expect(runTag('20261207-053602-cfb0e0')).toBe('cfb0e0');
    expect(runTag('cancel-test')).toBe('cancel-test');
    expect(runTag('nightly-20261207')).toBe('nightly-20261207');
  });
});
