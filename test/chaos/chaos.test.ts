/**
 * A short seeded subset of the chaos suite (the soak is `npm run chaos`):
 * a few episodes, each with its own redis-server behind a proxy, each with
 * faults whose recovery takes seconds — a killed `flowgate run` resumed,
 * Redis restarted and away beyond the run's outage limit, connections cut,
 * stalled and delayed, the service's leader killed, a worker stopped — and
 * every check of the suite: final states, ledger against attempts, budget
 * per instant, no orphan processes, no Redis leftovers.
 */
import { describe, expect, it } from 'vitest';
import { runEpisode, type EpisodeOptions } from './harness.js';

const cases: Array<{ name: string; seed: number; options: EpisodeOptions }> = [
  { name: 'flowgate run killed and resumed, connections cut, Redis restarted', seed: 11, options: { mode: 'run', sequence: ['run-kill', 'proxy-cut', 'redis-restart'] } },
  { name: 'Redis away beyond --redis-outage-ms (exit 3, resumed)', seed: 12, options: { mode: 'run', sequence: ['redis-outage-long'] } },
  { name: 'service: leader killed, a worker stopped, traffic stalled and delayed', seed: 13, options: { mode: 'service', sequence: ['leader-kill', 'worker-term', 'proxy-stall', 'proxy-delay'] } },
];

describe('chaos episodes (seeded subset)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const result = await runEpisode(c.seed, { ...c.options, maxGapMs: 1000, maxNodes: 8, maxSleepMs: 1200, timeoutMs: 40_000 });
      expect(result.violations, JSON.stringify(result, null, 1)).toEqual([]);
      expect(result.faults.filter((f) => f.skipped === undefined).length, JSON.stringify(result.faults)).toBeGreaterThan(0);
      expect(result.runs.every((r) => r.status === 'succeeded')).toBe(true);
    }, 90_000);
  }
});
