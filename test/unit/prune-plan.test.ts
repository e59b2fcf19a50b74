/**
 * The pure rules of pruning and retention: which runs go, which node
 * directories may go with them, and the duration syntax.
 */
import { describe, expect, it } from 'vitest';
import { removableNodeDirs, selectForPrune, selectForRetention, type RunEntry } from '../../src/scheduler/prune-plan.js';
import { formatDuration, parseDuration } from '../../src/shared/duration.js';

const DAY = 86_400_000;
const NOW = 100 * DAY;
const entry = (runId: string, status: string | null, daysAgo: number, leased = false): RunEntry => ({ runId, status, finishedMs: NOW - daysAgo * DAY, leased });
const ids = (es: readonly RunEntry[]): string[] => es.map((e) => e.runId).sort();

const runs = [entry('old1', 'succeeded', 30), entry('old2', 'failed', 20), entry('old3', 'cancelled', 10), entry('new', 'succeeded', 1), entry('busy', 'running', 40), entry('queued', 'submitted', 40), entry('held', 'succeeded', 50, true)];

describe('selectForPrune', () => {
  it('takes finished runs older than the age, keeping the newest N finished whatever their age', () => {
    expect(ids(selectForPrune(runs, { olderThanMs: 7 * DAY, keep: 0 }, NOW))).toEqual(['old1', 'old2', 'old3']);
    expect(ids(selectForPrune(runs, { olderThanMs: 7 * DAY, keep: 2 }, NOW))).toEqual(['old1', 'old2']);
    expect(ids(selectForPrune(runs, { olderThanMs: null, keep: 1 }, NOW))).toEqual(['old1', 'old2', 'old3']);
    expect(ids(selectForPrune(runs, { olderThanMs: 25 * DAY, keep: 0 }, NOW))).toEqual(['old1']);
  });

  it('never takes running, submitted or leased runs; the leased one still counts among the kept', () => {
    const picked = ids(selectForPrune(runs, { olderThanMs: 0, keep: 0 }, NOW));
    expect(picked).not.toContain('busy');
    expect(picked).not.toContain('queued');
    expect(picked).not.toContain('held');
  });

  it('takes orphaned index entries (meta gone) unless leased', () => {
    expect(ids(selectForPrune([entry('ghost', null, 0), entry('ghost2', null, 0, true)], { olderThanMs: 7 * DAY, keep: 5 }, NOW))).toEqual(['ghost']);
  });
});

describe('selectForRetention', () => {
  it('takes runs beyond either limit; 0 switches a limit off', () => {
    expect(ids(selectForRetention(runs, { maxRuns: 2, maxAgeMs: 0 }, NOW))).toEqual(['old1', 'old2']);
    expect(ids(selectForRetention(runs, { maxRuns: 0, maxAgeMs: 15 * DAY }, NOW))).toEqual(['old1', 'old2']);
    expect(ids(selectForRetention(runs, { maxRuns: 3, maxAgeMs: 5 * DAY }, NOW))).toEqual(['old1', 'old2', 'old3']);
    expect(selectForRetention(runs, { maxRuns: 0, maxAgeMs: 0 }, NOW)).toEqual([]);
  });
});

describe('removableNodeDirs', () => {
  it('keeps directories a remaining run used, nested in or around one, or under an unfinished run\'s tree', () => {
    const out = removableNodeDirs(
      ['/w/a/x', '/w/a/y', '/w/a/y/mapflow/e1', '/w/a/z', '/w/b/p', '/w/a/x'],
      new Set(['/w/a/y', '/w/a/z/inner']),
      ['/w/b'],
    );
    expect(out).toEqual(['/w/a/x']);
  });
});

describe('durations', () => {
  it('parses a whole number with one unit; anything else is undefined', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('12h')).toBe(12 * 3_600_000);
    expect(parseDuration('7d')).toBe(7 * DAY);
    expect(parseDuration('2w')).toBe(14 * DAY);
    for (const bad of ['7', '7x', '1.5d', '-1d', 'd', '', '7 d', 'off']) expect(parseDuration(bad), bad).toBeUndefined();
    expect(formatDuration(7 * DAY)).toBe('7d');
    expect(formatDuration(90_000)).toBe('90s');
  });
});

describe('duration and off flags', () => {
  it('reads durations and the word off; a bad value names the flag', async () => {
    const { parseArgs } = await import('../../src/cli/args.js');
    const specs = [
      { name: 'for', type: 'duration', off: true, help: '' },
      { name: 'runs', type: 'int', min: 0, off: true, help: '' },
      { name: 'age', type: 'duration', help: '' },
    ] as const;
    const ok = parseArgs(['--for', '2w', '--runs', 'off', '--age', '0s'], specs);
    expect([...ok.flags]).toEqual([['for', 14 * DAY], ['runs', 0], ['age', 0]]);
    expect(parseArgs(['--for', 'off'], specs).flags.get('for')).toBe(0);
    expect(() => parseArgs(['--age', 'off'], specs)).toThrow(/--age.*received "off"/);
    expect(() => parseArgs(['--for', '3y'], specs)).toThrow(/--for/);
  });
});
