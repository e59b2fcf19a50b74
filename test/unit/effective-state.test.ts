/**
 * The one function every view shows node states through, and the one that
 * tells an orphaned run: pure, no Redis.
 */
import { describe, expect, it } from 'vitest';
import { progressLine } from '../../src/cli/progress.js';
import type { RunProgress } from '../../src/scheduler/scheduler.js';
import { effectiveNodeState, effectiveRunStatus, recordTimes, RUN_STATUSES } from '../../src/shared/effective-state.js';
import { listItem, nodeView } from '../../src/shared/run-view.js';

const rec = (attempt: number, over: object = {}): ReturnType<typeof recordTimes> => ({ attempt, start_ms: null, end_ms: null, worker: null, ...over });
const claim = (over: object): string => JSON.stringify({ attempt: 1, worker: 'h:w-0', instance: 'i1', state: 'running', start_ms: 1000, ...over });

describe('effectiveNodeState', () => {
  it('shows a queued node whose worker claimed the same attempt as running, since the claim', () => {
    expect(effectiveNodeState('queued', rec(1), claim({}))).toEqual({ state: 'running', start_ms: 1000, end_ms: null, worker: 'h:w-0', finishing: null });
    // Stored running already: the claim adds when and where.
    expect(effectiveNodeState('running', rec(1), claim({ start_ms: 1234 }))).toMatchObject({ state: 'running', start_ms: 1234, worker: 'h:w-0' });
  });

  it('keeps a node whose outcome the scheduler has not applied running, marked finishing', () => {
    expect(effectiveNodeState('running', rec(1), claim({ state: 'succeeded', end_ms: 1500 }))).toEqual({ state: 'running', start_ms: 1000, end_ms: 1500, worker: 'h:w-0', finishing: 'succeeded' });
    expect(effectiveNodeState('queued', rec(1), claim({ state: 'failed', end_ms: 1600 }))).toMatchObject({ state: 'running', finishing: 'failed' });
  });

  it('shows a requeued attempt as queued', () => {
    expect(effectiveNodeState('running', rec(1, { worker: 'h:old' }), claim({ state: 'requeued', end_ms: 1100 }))).toMatchObject({ state: 'queued', start_ms: null, end_ms: null });
  });

  it('ignores claims of another attempt, malformed claims and nodes not in flight', () => {
    // Attempt 2 admitted; the claim is attempt 1's (its worker was lost).
    expect(effectiveNodeState('queued', rec(2), claim({}))).toMatchObject({ state: 'queued', start_ms: null, finishing: null });
    expect(effectiveNodeState('queued', rec(0), claim({ attempt: 0 }))).toMatchObject({ state: 'queued' });
    expect(effectiveNodeState('queued', rec(1), '{broken')).toMatchObject({ state: 'queued' });
    expect(effectiveNodeState('queued', rec(1), undefined)).toMatchObject({ state: 'queued' });
    // A node put back to waiting by `flowgate retry` keeps its old claim: not running.
    expect(effectiveNodeState('waiting', rec(1), claim({}))).toMatchObject({ state: 'waiting' });
    const done = effectiveNodeState('succeeded', rec(1, { start_ms: 5, end_ms: 9, worker: 'h:w-1' }), claim({ state: 'succeeded' }));
    expect(done).toEqual({ state: 'succeeded', start_ms: 5, end_ms: 9, worker: 'h:w-1', finishing: null });
    expect(effectiveNodeState('bogus', rec(1), claim({}))).toMatchObject({ state: 'waiting' });
    expect(effectiveNodeState(undefined, rec(0), null)).toMatchObject({ state: 'waiting' });
  });

  it('is what nodeView shows', () => {
    const v = nodeView({ id: 'a' }, 'queued', JSON.stringify({ id: 'a', attempt: 1, admitted_ms: 900 }), claim({}));
    expect(v).toMatchObject({ state: 'running', start_ms: 1000, worker: 'h:w-0', admitted_ms: 900, finishing: null });
    // Records written before `attempt` existed: `attempts` counted admissions.
    expect(recordTimes('{"attempts":3,"start_ms":"7","worker":"w"}')).toEqual({ attempt: 3, start_ms: 7, end_ms: null, worker: 'w' });
    // A killed execution counts in `attempts`, not in the attempt a claim names.
    expect(recordTimes('{"attempt":1,"attempts":2}')).toMatchObject({ attempt: 1 });
    expect(nodeView({ id: 'a' }, 'queued', JSON.stringify({ id: 'a', attempt: 1, attempts: 2 }), claim({})).state).toBe('running');
  });
});

describe('effectiveRunStatus', () => {
  const alive = (): boolean => false;
  const dead = (h: string): boolean => h === 'here:99';
  it('is orphaned when a running run has no live lease and no service adopts it', () => {
    expect(effectiveRunStatus('running', { mode: 'run', lease: 'here:1', leader: null }, alive)).toBe('running');
    expect(effectiveRunStatus('running', { mode: 'run', lease: null, leader: null }, alive)).toBe('orphaned');
    expect(effectiveRunStatus('running', { mode: 'run', lease: 'here:99', leader: null }, dead)).toBe('orphaned');
    // A service leads: it adopts its own runs, never those of `flowgate run`.
    expect(effectiveRunStatus('running', { mode: 'service', lease: null, leader: 'svc:5' }, alive)).toBe('running');
    expect(effectiveRunStatus('running', { mode: 'run', lease: null, leader: 'svc:5' }, alive)).toBe('orphaned');
    expect(effectiveRunStatus('running', { mode: 'service', lease: null, leader: 'here:99' }, dead)).toBe('orphaned');
  });

  it('shows every other status as stored; submitted runs wait for the service', () => {
    for (const s of ['submitted', 'succeeded', 'failed', 'cancelled']) expect(effectiveRunStatus(s, { mode: 'service', lease: null, leader: null }, alive)).toBe(s);
    // Never stored: a stored "orphaned" is not trusted (read as running, then checked).
    expect(effectiveRunStatus('orphaned', { mode: 'run', lease: 'here:1', leader: null }, alive)).toBe('running');
    expect(RUN_STATUSES).toContain('orphaned');
  });

  it('gives an orphaned run the command that continues it', () => {
    expect(listItem({ run_id: 'r9', status: 'running' }, ['running'], 'r9', 'orphaned').continue_with).toBe('flowgate resume r9');
    expect(listItem({ run_id: 'r9', status: 'running' }, ['running'], 'r9').continue_with).toBeNull();
  });
});

describe('progressLine', () => {
  const p = (counts: Record<string, number>, over: Partial<RunProgress> = {}): RunProgress => ({
    counts,
    running: [],
    budget: { n_procs: 4, mem_gb: 8 },
    free: { n_procs: 4, mem_gb: 8 },
    waiting: [],
    workers: { alive: 0, lost: 0 },
    ...over,
  });

  it('counts cached nodes as done and says how many', () => {
    const line = progressLine(p({ succeeded: 1, cached: 2, waiting: 1 }), 1500, 4);
    expect(line).toMatch(/^\[1\.5s\] 3\/4 done \| 1 ok, 2 cached, 0 failed, 0 skipped \| 0 running, 0 queued, 0 ready, 1 waiting \| free 4\/4 procs, 8\/8 GB$/);
  });

  it('never shows more done than total (map elements are nodes too)', () => {
    // Six nodes in the file; the map node expanded into three more.
    expect(progressLine(p({ succeeded: 9 }), 0, 6)).toContain('9/9 done');
  });

  it('says the budget is not known rather than 0/0', () => {
    const line = progressLine(p({ waiting: 2 }, { budget: { n_procs: 0, mem_gb: 0 }, free: { n_procs: 0, mem_gb: 0 } }), 0, 2);
    expect(line).toContain('budget not known yet');
    expect(line).not.toContain('0/0');
  });
});
